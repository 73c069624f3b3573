"""Two seal-desk processes on one workspace: no `database is locked`, no row lost, no adapter overwritten; two
`update`s at once: one runs, the other stops at once with one line."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from hardening_helpers import FAST, TINY, one_line_error, workspace_whole

pytestmark = pytest.mark.slow

SLOW_UPDATE = "import time\nbefore('seal_desk.continual.update._learn_all', lambda: time.sleep(1.0))"


@pytest.fixture
def docs(tmp_path):
    (tmp_path / "lake.txt").write_text("Lake Quorra is 63 metres deep. It lies north of Velmora.\n", encoding="utf-8")
    (tmp_path / "q.txt").write_text("How deep is Lake Quorra?\t63 metres\n", encoding="utf-8")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("Velmora was founded in 1802 by Ada Lind.\n", encoding="utf-8")
    (folder / "b.txt").write_text("The Tide Clock of Velmora strikes thirteen at noon.\n", encoding="utf-8")
    return tmp_path


def _clean(result) -> None:
    assert "Traceback" not in result.err and "locked" not in result.err, result.err[-1500:]
    assert result.code == 0, result.err[-1500:]


def _count(ws: Path, table: str) -> int:
    with sqlite3.connect(ws / "workspace.db") as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_two_learns_at_once_on_a_new_workspace(docs, runner):
    """The same document, the same second: two documents, two runs, two adapters in two folders."""
    ws = docs / "ws"
    argv = [*TINY, "-w", ws, "learn", docs / "lake.txt", "-q", docs / "q.txt", "--json", *FAST]
    results = runner.run({"argv": argv}, {"argv": argv})
    for result in results:
        _clean(result)
    adapters = workspace_whole(ws)
    assert len(adapters) == 2 and len({a.path for a in adapters}) == 2
    ids = sorted(json.loads(r.out)["results"][0]["adapter_id"] for r in results)
    assert ids == [a.id for a in adapters]
    assert _count(ws, "documents") == 2 and _count(ws, "results") == 4
    with sqlite3.connect(ws / "workspace.db") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("done",), ("done",)]


def test_learn_while_update_runs(docs, runner):
    ws = docs / "ws"
    update = {"argv": [*TINY, "-w", ws, "update", docs / "folder", "--json", *FAST], "hook": SLOW_UPDATE}
    learn = {"argv": [*TINY, "-w", ws, "learn", docs / "lake.txt", "-q", docs / "q.txt", *FAST]}
    for result in runner.run(update, learn):
        _clean(result)
    assert len(workspace_whole(ws)) == 3
    assert _count(ws, "continual_updates") == 2 and _count(ws, "documents") == 3
    with sqlite3.connect(ws / "workspace.db") as db:
        assert sorted(db.execute("SELECT kind, status FROM runs").fetchall()) == [("learn", "done"), ("update", "done")]


def test_two_updates_at_once_one_runs_one_stops_with_one_line(docs, runner):
    ws = docs / "ws"
    job = {"argv": [*TINY, "-w", ws, "update", docs / "folder", "--json", *FAST], "hook": SLOW_UPDATE}
    results = sorted(runner.run(job, job), key=lambda r: r.code)
    assert [r.code for r in results] == [0, 2], [r.err[-800:] for r in results]
    _clean(results[0])
    assert "seal-desk update is already running on this workspace" in one_line_error(results[1].err)
    assert len(workspace_whole(ws)) == 2 and _count(ws, "continual_updates") == 2


def test_opening_the_workspace_leaves_a_save_under_way_alone(tmp_path):
    """Another process opening the workspace tidies what killed saves left, never a save that is running."""
    import os
    import time

    from seal_desk.workspace.database import Workspace

    ws = Workspace(tmp_path / "ws")
    saving = ws.adapters_dir / ".saving-x1y2"
    saving.mkdir()
    (saving / "adapter_model.safetensors").write_bytes(b"being written")
    reserved = ws.new_adapter_path("Lake")
    assert ws.new_adapter_path("Lake") != reserved  # reserved: the same name at the same second is not given twice
    ws.mark_stale_runs()
    assert saving.is_dir() and reserved.is_dir()
    hour_ago = time.time() - 3700
    for path in (saving, reserved):
        os.utime(path, (hour_ago, hour_ago))
    ws.mark_stale_runs()
    assert not saving.exists() and not reserved.exists()
    ws.close()


def _open_and_write(path, barrier, results) -> None:
    from seal_desk.workspace.database import Workspace

    barrier.wait()
    try:
        ws = Workspace(path)
        ws.set_setting(f"opened-by-{os.getpid()}", True)
        ws.close()
        results.put("ok")
    except Exception as exc:  # what the user would see: must not happen
        results.put(repr(exc))


def test_processes_opening_a_new_workspace_at_once_all_get_it():
    """Three processes create the same new workspace at the same moment (the TUI and a cron `update`, first day):
    one sets it up, the others wait for it; none gets `database is locked`. Setup used to race: ~1 in 4."""
    import multiprocessing
    import tempfile

    context = multiprocessing.get_context("fork")
    for _ in range(8):
        path = Path(tempfile.mkdtemp()) / "ws"
        barrier, results = context.Barrier(3), context.Queue()
        procs = [context.Process(target=_open_and_write, args=(path, barrier, results)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [results.get(timeout=5) for _ in procs] == ["ok"] * 3
        with sqlite3.connect(path / "workspace.db") as db:
            assert db.execute("SELECT COUNT(*) FROM settings WHERE key LIKE 'opened-by-%'").fetchone()[0] == 3
