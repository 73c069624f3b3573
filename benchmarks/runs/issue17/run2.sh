#!/bin/bash
# Issue #17, second queue (resumable like run.sh): the stop rule at 0.15 on the dev half, and the inner loop
# beside SEAL's reference recipe without padding (the fair variant) over the same 12 dev passages. The padded
# reference (2048 tokens a sequence: ~1 min a step here) ran on the built-in sample passage alone:
#   seal-desk bench speed --compare-reference --reference-only --json reference-sample.json
set -u
HERE=benchmarks/runs/issue17
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
R1=models/learners/smollm2-135m-seal-r1
P=benchmarks/paraphrased
PY=${PYTHON:-.venv/bin/python}
mkdir -p $HERE/claims
claim() { [ -f $HERE/$1.json ] && return 1; mkdir $HERE/claims/$1 2>/dev/null; }
done_() { rmdir $HERE/claims/$1; }
if claim dev-stop0.15; then
  ws=$(mktemp -d)
  $PY -m seal_desk --learner $R1 --workspace $ws bench knowledge --data $P/dev.json --n 12 --order file --qa-prompt \
    --conditions self-edit:self-qa --sentences --stop-loss 0.15 --json $HERE/dev-stop0.15.json > $HERE/dev-stop0.15.log 2>&1 \
    && rm -f $HERE/dev-stop0.15.log
  rm -rf $ws; done_ dev-stop0.15
fi
if claim reference-dev; then
  $PY -m seal_desk --learner $R1 bench speed --compare-reference $P/dev.json --reference-n 12 --reference-only \
    --reference-arms no-padding,seal-desk,stop-rule --json $HERE/reference-dev.json > $HERE/reference-dev.log 2>&1 \
    && rm -f $HERE/reference-dev.log
  done_ reference-dev
fi
