"""kill -9 at each step where seal-desk writes something: the workspace still opens, nothing half-written is listed,
and the same command run again redoes or resumes the work.

Each kill point is deterministic: the command runs as a real process (forked by runner.py), with a hook that
sends the process SIGKILL as a given function is entered; then the same command runs again without it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hardening_helpers import FAST, TINY, workspace_whole

from seal_desk.workspace.database import Workspace

pytestmark = pytest.mark.slow

# kill point -> the hook that sends SIGKILL there (runner.py's `die_on`/`before`)
LEARN_KILLS = {
    "recall before": "die_on('seal_desk.engine.evaluate')",
    "self-edit generation": "die_on('seal_desk.engine.generate')",
    "training, second optimizer step": "die_on('torch.optim.AdamW.step', nth=2)",
    "recall after": "die_on('seal_desk.engine.evaluate', nth=2)",
    "adapter save, files written, not renamed": (
        "die_on('os.replace', when=lambda src, dst, *a, **k: '.saving-' in str(src))"
    ),
    "adapter save, folder in place, no row yet": "die_on('seal_desk.workspace.database.Workspace.add_adapter')",
    "run record, adapter row written": "die_on('seal_desk.workspace.database.Workspace.finish_run')",
}


@pytest.fixture
def doc(tmp_path):
    (tmp_path / "lake.txt").write_text("Lake Quorra is 63 metres deep. It lies north of Velmora.\n", encoding="utf-8")
    (tmp_path / "q.txt").write_text("How deep is Lake Quorra?\t63 metres\n", encoding="utf-8")
    return tmp_path


def _runs(folder: Path) -> list[str]:
    with sqlite3.connect(folder / "workspace.db") as db:
        return [r[0] for r in db.execute("SELECT status FROM runs ORDER BY id")]


@pytest.mark.parametrize("point", list(LEARN_KILLS))
def test_learn_killed_then_run_again(point, doc, runner, tmp_path):
    ws = tmp_path / "ws"
    argv = [*TINY, "-w", ws, "learn", doc / "lake.txt", "-q", doc / "q.txt", *FAST]
    killed = runner.one(argv, LEARN_KILLS[point])
    assert killed.code == -9, f"the kill point was not reached: {killed.err[-800:]}"
    adapters = workspace_whole(ws)  # opens; the dead run is no longer 'running'; every listed adapter is whole
    if point == "run record, adapter row written":
        assert len(adapters) == 1  # the adapter was complete and recorded before the kill
    else:
        assert adapters == []
    if point == "adapter save, files written, not renamed":
        # the temp folder with the files and the empty folder reserved for them: on disk, never listed,
        # removed by the next open once they are old enough to belong to no save under way
        left = sorted((ws / "adapters").iterdir())
        assert len(left) == 2 and left[0].name.startswith(".saving-") and not any(left[1].iterdir())
        opened = Workspace(ws)
        opened.tidy(older_than=0)
        opened.close()
        assert list((ws / "adapters").iterdir()) == []
    assert _runs(ws) == ["interrupted"]

    again = runner.one(argv)
    assert again.code == 0, again.err[-800:]
    assert len(workspace_whole(ws)) == len(adapters) + 1
    assert _runs(ws) == ["interrupted", "done"]


def test_rl_killed_in_each_step_of_the_generator_update_resumes(tmp_path, runner):
    """SFT, merge and the generator's save: each kill resumes from the recorded candidates to a whole round."""
    data = tmp_path / "d.json"
    data.write_text(
        json.dumps(
            [
                {
                    "title": "Quorra",
                    "context": "Lake Quorra is 63 metres deep. It lies north of Velmora.",
                    "questions": [{"question": "How deep is Lake Quorra?", "answer": "63 metres"}],
                }
            ]
        )
    )
    ws, out = tmp_path / "ws", tmp_path / "run"
    argv = [*TINY, "-w", ws, "rl", "--data", data, "--out", out, "--rounds", "1", "--passages", "1", "--k", "2"]
    argv += ["--eval-times", "1", "--reward", "answer-logprob", "--sft-epochs", "2", *FAST]
    kills = {
        "generator SFT, second step": (
            "armed = []\n"
            "before('seal_desk.restem.loop.train', lambda: armed.append(1))\n"
            "die_on('torch.optim.AdamW.step', nth=2, when=lambda *a, **k: bool(armed))"
        ),
        "merge": "die_on('seal_desk.restem.loop.merged_weights')",
        "generator save, files written, not renamed": (
            "die_on('os.replace', when=lambda src, dst, *a, **k: '.generator.' in str(src))"
        ),
    }

    def candidates():
        with sqlite3.connect(ws / "workspace.db") as db:
            return db.execute("SELECT idx, self_edit, rewards FROM rl_candidates ORDER BY id").fetchall()

    recorded = None
    for point, hook in kills.items():
        killed = runner.one(argv, hook)
        assert killed.code == -9, f"{point}: the kill point was not reached: {killed.err[-800:]}"
        workspace_whole(ws)
        assert not (out / "round-1" / "generator").exists(), point  # never half a generator in its place
        if recorded is None:
            recorded = candidates()
            assert len(recorded) == 2  # the passage was scored and recorded before the update
        assert candidates() == recorded, f"{point}: the resumed run scored the passage again"
    done = runner.one(argv)
    assert done.code == 0, done.err[-800:]
    assert candidates() == recorded
    summary = json.loads((out / "summary.json").read_text())
    [round_] = summary["rounds"]
    assert round_["finished"] and round_["generator"] == str(out / "round-1" / "generator")
    generator = out / "round-1" / "generator"
    assert {"config.json", "model.safetensors", "seal_desk_generator.json"} <= {p.name for p in generator.iterdir()}
    with sqlite3.connect(ws / "workspace.db") as db:
        assert db.execute("SELECT status FROM rl_runs").fetchall() == [("done",)]


def test_update_killed_between_two_files_learns_only_the_rest(tmp_path, runner):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Lake Quorra is 63 metres deep.\n", encoding="utf-8")
    (folder / "b.txt").write_text("Velmora was founded in 1802 by Ada Lind.\n", encoding="utf-8")
    ws = tmp_path / "ws"
    argv = [*TINY, "-w", ws, "update", folder, "--json", *FAST]
    # the second file's adapter is saved, its row not yet written
    killed = runner.one(argv, "die_on('seal_desk.workspace.database.Workspace.record_update', nth=2)")
    assert killed.code == -9, killed.err[-800:]
    [first] = workspace_whole(ws)
    assert len([p for p in (ws / "adapters").iterdir() if not p.name.startswith(".")]) == 2  # one unrecorded
    assert (ws / "update.lock").read_text() != ""  # the dead run's pid; flock was freed with the process

    again = runner.one(argv)
    assert again.code == 0, again.err[-800:]
    statuses = {Path(f["path"]).name: f["status"] for f in json.loads(again.out)["files"]}
    assert statuses == {"a.txt": "unchanged", "b.txt": "learned"}
    adapters = workspace_whole(ws)
    assert [a.id for a in adapters][0] == first.id and len(adapters) == 2
    with sqlite3.connect(ws / "workspace.db") as db:
        rows = db.execute("SELECT path, adapter_id FROM continual_updates ORDER BY id").fetchall()
    assert [Path(p).name for p, _ in rows] == ["a.txt", "b.txt"]
    assert {a for _, a in rows} == {a.id for a in adapters}
    assert _runs(ws) == ["interrupted", "done"]
