#!/bin/bash
# Issue #13, third pass: one ReST-EM round on SQuAD train over the shipped generator (smollm2-135m-seal-r1),
# k=5 self-QA candidates, rewards averaged over 2 seeds, scored on a local Ray cluster of two one-CPU workers.
# Resumable: run again (from the repository root) to continue.
#
# As it ran (2026-12-03, from a clone of the repository at dd4bb07): started with --passages 40, cut to 24
# after 2 passages, to 20 after 4 and to 12 after 12, to leave time to evaluate it. Round 1 takes the first n
# of one seeded order, so the passages already scored stay the same; each cut edited the run record's settings
# (rl_runs.config, outer.passages) to match the new flag, since a resumed run must match its settings.
# The outputs (summary.json, sft.jsonl, rewards.json per candidate and seed) are beside this script.
set -eu
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec .venv/bin/python -m seal_desk --learner models/learners/smollm2-135m-seal-r1 --workspace rl-squad-out/ws \
  rl --data ../shared/data/squad/train_passages.json \
  --exclude benchmarks/paraphrased/dev.json --exclude benchmarks/paraphrased/test.json \
  --exclude ../shared/data/squad/dev_passages.json \
  --out rl-squad-out/run --rounds 1 --passages 12 --k 5 --eval-times 2 --reward answer-logprob \
  --format self-qa --qa-prompt --epochs 3 --max-new-tokens 256 \
  --ray local --ray-workers 2 --ray-cpus-per-worker 1 \
  --pack models/learners/smollm2-135m-seal-r1-squad --json rl-squad-out/summary.json
