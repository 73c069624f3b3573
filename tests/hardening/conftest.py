"""Hardening tests: the fork server shared by the process tests, one torch thread for the in-process ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hardening_helpers import Runner

sys.path.append(str(Path(__file__).resolve().parents[1] / "tui"))  # tui_helpers, for the TUI's bad input


@pytest.fixture(scope="session")
def runner(tmp_path_factory):
    """The fork server (runner.py): CLI commands as real processes, torch imported once for all of them."""
    server = Runner(tmp_path_factory.mktemp("runner"))
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test here on one torch thread (see tests/conftest.py)."""
