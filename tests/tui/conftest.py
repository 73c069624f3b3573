"""TUI tests: the tiny random model, one torch thread.

One intra-op thread keeps the tiny model fast on a busy 2-core machine (two OpenMP threads
fighting the UI thread and other processes for the cores make each step many times slower).
Scoped to these tests: the previous thread count is restored afterwards.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
