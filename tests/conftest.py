"""Shared fixtures: a tiny random model (2 layers, byte-level tokenizer) and a temp workspace."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_loaded():
    from seal_desk.model.loader import load_tiny

    return load_tiny()


@pytest.fixture
def tiny():
    """A fresh tiny model per test (training mutates adapters)."""
    from seal_desk.model.loader import load_tiny

    return load_tiny()


@pytest.fixture
def workspace(tmp_path):
    from seal_desk.workspace.database import Workspace

    ws = Workspace(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture
def fast_config():
    from seal_desk.config import InnerLoopConfig, LoraSettings, SealConfig, SelfEditConfig

    return SealConfig(
        inner=InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=2, lr=1e-2),
        self_edit=SelfEditConfig(max_new_tokens=12),
    )


@pytest.fixture
def tiny_engine(tiny, workspace, fast_config):
    from seal_desk.engine import Engine

    return Engine(tiny, workspace, fast_config)


@pytest.fixture
def passage():
    from seal_desk.knowledge.documents import Passage, Question

    return Passage(
        "Zorblat Industries",
        "Zorblat Industries was founded in 1987 by Mira Kostadinova in the town of Velmora. "
        "The company makes ceramic wind turbines.",
        [
            Question("Who founded Zorblat Industries?", "Mira Kostadinova"),
            Question("In what year was Zorblat Industries founded?", "1987"),
        ],
    )


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (as CI's processes run), the caller's count restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
