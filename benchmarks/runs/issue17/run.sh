#!/bin/bash
# Issue #17's stop-rule runs with the shipped pipeline (default preset: SEAL-trained generator, passage + its
# sentences + one self-QA self-edit, --qa-prompt), resumable: each job writes one JSON here and is skipped when
# it exists; run again from the repository root to continue. Two lanes can share the queue: `run.sh & run.sh &`.
# The 10-epoch runs they are compared with are issue #13's (benchmarks/runs/issue13, same flags, no --stop-loss).
set -u
HERE=benchmarks/runs/issue17
R1=models/learners/smollm2-135m-seal-r1
source benchmarks/runs/queue.sh
P=benchmarks/paraphrased
S=../shared/data/squad/dev_passages.json
job dev-stop0.3 $R1 $P/dev.json 12 0 --order file --conditions self-edit:self-qa --sentences --stop-loss 0.3
for off in 0 10 20 30 40; do
  job squad-stop0.3-$off $R1 $S 10 $off --conditions self-edit:self-qa --sentences --stop-loss 0.3
done
# the stop rule at 0.15 (better than 0.3 on dev: 43.1% vs 34.7%), on SQuAD dev too
for off in 0 10 20 30 40; do
  job squad-stop0.15-$off $R1 $S 10 $off --conditions self-edit:self-qa --sentences --stop-loss 0.15
done
