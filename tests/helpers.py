"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared(path: str) -> Path:
    p = SHARED / path
    if not p.exists():
        pytest.skip(f"shared data {p} not present")
    return p
