#!/bin/bash
# Issue #13, second pass (2026-12-03): the shipped generator shrunk to rank 8 (`seal-desk shrink`), and the
# SQuAD round trained over it (`rl` from smollm2-135m-seal-r1 on SQuAD train, 24 passages, 2 seeds: see
# README.md). Resumable, like run.sh: each job writes one JSON and is skipped when it exists; two lanes can
# share the queue. Jobs whose learner folder does not exist yet fail and are retried on the next run.
set -u
HERE=benchmarks/runs/issue13
R8=models/learners/smollm2-135m-seal-r1-rank8    # the shipped generator's update at rank 8 (4.9 MB)
RS=models/learners/smollm2-135m-seal-r1-squad    # round 2 on SQuAD train, over the shipped generator
source benchmarks/runs/queue.sh
P=benchmarks/paraphrased
S=../shared/data/squad/dev_passages.json
job dev-seal-r1-rank8-sentences-selfqa $R8 $P/dev.json 12 0 --order file --conditions self-edit:self-qa --sentences
job test-seal-r1-rank8-sentences-selfqa $R8 $P/test.json 12 0 --order file --conditions self-edit:self-qa --sentences
if [ -d "$RS" ]; then
  job dev-seal-r1-squad-sentences-selfqa $RS $P/dev.json 12 0 --order file --conditions self-edit:self-qa --sentences
  for off in 0 10 20 30 40; do
    job squad-seal-r1-squad-$off $RS $S 10 $off --conditions self-edit:self-qa --sentences
  done
  job test-seal-r1-squad-sentences-selfqa $RS $P/test.json 12 0 --order file --conditions self-edit:self-qa --sentences
fi
