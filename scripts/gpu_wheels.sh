#!/usr/bin/env bash
# Download, here (with a package registry), the wheels a GPU machine without network needs for
# scripts/gpu_check.sh: bitsandbytes, platformdirs and gguf for Python 3.12 on x86-64 Linux, into .whl/
# (git-ignored; ~44 MB). Other Python versions: PYVER=3.11 scripts/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "bitsandbytes==0.50.2" "platformdirs>=4" "gguf>=0.10"
ls -la .whl
