#!/bin/bash
# Issue #13's evaluation runs, resumable: each job writes one JSON here and is skipped when it exists; run
# again (from the repository root) to continue. Two lanes can share the queue: `run.sh & run.sh &`.
# The SQuAD dev report is run in chunks of 10 passages (--offset); see README.md for joining them.
set -u
HERE=benchmarks/runs/issue13
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
R1=models/learners/smollm2-135m-seal-r1          # the shipped generator
U=models/learners/smollm2-135m-paraphrase-v2     # the untrained generator it was trained from
mkdir -p $HERE/claims
job() { # name learner data n offset extra...
  local name=$1 learner=$2 data=$3 n=$4 off=$5; shift 5
  [ -f $HERE/$name.json ] && return
  mkdir $HERE/claims/$name 2>/dev/null || return
  local ws; ws=$(mktemp -d)
  if ${PYTHON:-.venv/bin/python} -m seal_desk --learner $learner --workspace $ws bench knowledge --data $data --n $n --offset $off \
      --qa-prompt "$@" --json $HERE/$name.json > $HERE/$name.log 2>&1; then rm -f $HERE/$name.log; fi
  rmdir $HERE/claims/$name; rm -rf $ws
}
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
