"""A disk that fills up while an adapter is saved (RLIMIT_FSIZE from that moment on, SIGXFSZ ignored so writes
fail with EFBIG): one clear line, exit code 2, nothing half-written, and the workspace works afterwards."""

from __future__ import annotations

import sqlite3

import pytest
from hardening_helpers import FAST, TINY, workspace_whole

pytestmark = pytest.mark.slow

DISK_FULL_AT_SAVE = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
def full():
    resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))  # the tiny adapter's weights are ~60 KB
before('seal_desk.model.adapters.AdapterHost.save', full)
"""


def test_disk_full_while_saving_an_adapter(tmp_path, runner):
    (tmp_path / "lake.txt").write_text("Lake Quorra is 63 metres deep.\n", encoding="utf-8")
    (tmp_path / "q.txt").write_text("How deep is Lake Quorra?\t63 metres\n", encoding="utf-8")
    ws = tmp_path / "ws"
    argv = [*TINY, "-w", ws, "learn", tmp_path / "lake.txt", "-q", tmp_path / "q.txt", *FAST]

    full = runner.one(argv, DISK_FULL_AT_SAVE)
    assert full.code == 2 and "Traceback" not in full.err, full.err[-1500:]
    errors = [line for line in full.err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0] == full.err.strip().splitlines()[-1]
    assert errors[0].startswith("seal-desk: error: cannot save the adapter to ") and "File too large" in errors[0]
    assert list((ws / "adapters").iterdir()) == []  # no temp folder, no empty reserved one, no half adapter
    assert workspace_whole(ws) == []
    with sqlite3.connect(ws / "workspace.db") as db:  # failed, or (the database was full too) interrupted
        assert db.execute("SELECT status FROM runs").fetchone()[0] in ("failed", "interrupted")

    again = runner.one(argv)  # space again: the same command works
    assert again.code == 0, again.err[-800:]
    assert len(workspace_whole(ws)) == 1
