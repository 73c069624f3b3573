"""scripts/gpu_check.sh --dry-run: the GPU check's CPU self-test runs every step and prints its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_dry_run_passes_and_prints_the_table(tmp_path):
    pytest.importorskip("bitsandbytes")
    env = dict(os.environ, PYTHON=sys.executable)
    run = subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--dry-run", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "CUDA-marked tests:" in run.stdout and "GPU check passed" in run.stdout
    assert "| tiny random (dry run) (tiny-random) |" in run.stdout and "failed" not in run.stdout
    assert (tmp_path / "table.md").is_file() and (tmp_path / "results.json").is_file()


def test_gpu_check_names_what_is_missing():
    run = subprocess.run(
        [sys.executable, "scripts/gpu_check.py", "--missing"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and run.stdout.strip() == ""  # this machine has everything


def test_gpu_check_refuses_an_unknown_argument():
    run = subprocess.run(["bash", "scripts/gpu_check.sh", "--bogus"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "unknown argument --bogus" in run.stderr
