#!/bin/bash
# Issue #13's evaluation runs, resumable: each job writes one JSON here and is skipped when it exists; run
# again (from the repository root) to continue. Two lanes can share the queue: `run.sh & run.sh &`.
# The SQuAD dev report is run in chunks of 10 passages (--offset); see README.md for joining them.
set -u
HERE=benchmarks/runs/issue13
R1=models/learners/smollm2-135m-seal-r1          # the shipped generator
U=models/learners/smollm2-135m-paraphrase-v2     # the untrained generator it was trained from
source benchmarks/runs/queue.sh
P=benchmarks/paraphrased
S=../shared/data/squad/dev_passages.json
job test-seal-r1-sentences-selfqa $R1 $P/test.json 12 0 --order file --conditions self-edit:self-qa --sentences
job test-untrained-sentences-selfqa $U $P/test.json 12 0 --order file --conditions self-edit:self-qa --sentences
job test-seal-r1-sentences $R1 $P/test.json 12 0 --order file --conditions sentences
job dev-seal-r1-sentences-selfqa $R1 $P/dev.json 12 0 --order file --conditions self-edit:self-qa --sentences
job dev-untrained-sentences-selfqa $U $P/dev.json 12 0 --order file --conditions self-edit:self-qa --sentences
for off in 0 10 20 30 40; do
  job squad-seal-r1-$off $R1 $S 10 $off --conditions self-edit:self-qa --sentences
  job squad-untrained-$off $U $S 10 $off --conditions self-edit:self-qa --sentences
done
