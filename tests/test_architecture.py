"""The layers and the style are checked by tools, not by hope: import-linter's contracts (.importlinter)
and ruff (lint and format, configured in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed (it is in the test extras: pip install -e '.[test]')"
    return found


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def test_import_contracts_hold():
    out = _run(_tool("lint-imports"), "--no-cache")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_ruff_lint_is_clean():
    out = _run(_tool("ruff"), "check", "seal_desk", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout[-4000:]


def test_ruff_format_is_applied():
    out = _run(_tool("ruff"), "format", "--check", "seal_desk", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout[-4000:]
