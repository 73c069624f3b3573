"""TUI tests: the tiny random model, one torch thread, a temp workspace; every test is marked `tui`.

One intra-op thread keeps the tiny model fast on a busy 2-core machine (two OpenMP threads
fighting the UI thread and other processes for the cores make each step many times slower).
Scoped to these tests: the previous thread count is restored afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.tui)


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test here on one torch thread (see tests/conftest.py)."""


@pytest.fixture
def workspace(tmp_path):
    """An empty workspace in tmp_path/ws."""
    from seal_desk.workspace.database import Workspace

    ws = Workspace(tmp_path / "ws")
    yield ws
    ws.close()
