import json
import sqlite3

import pytest

from seal_desk.cli.main import main

FAST = ["--epochs", "1", "--max-new-tokens", "8", "--rank", "4", "--alpha", "8"]


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zorblat.txt").write_text("Zorblat Industries was founded in 1987 by Mira Kostadinova.")
    (docs / "quellon.md").write_text("# Quellon\n\nThe Quellon river flows through the Ardent valley.")
    return docs


def _update(tmp_path, folder, capsys, *extra):
    code = main(["-m", "tiny-random", "-w", str(tmp_path / "ws"), "update", str(folder), "--json", *FAST, *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


@pytest.mark.parametrize("strategy", ["adapters", "merge", "replay"])
def test_update_learns_new_skips_unchanged_and_relearns_changed(strategy, tmp_path, folder, capsys):
    code, first = _update(tmp_path, folder, capsys, "--strategy", strategy)
    assert code == 0 and (first["learned"], first["unchanged"], first["failed"]) == (2, 0, 0)
    code, second = _update(tmp_path, folder, capsys, "--strategy", strategy)
    assert code == 0 and (second["learned"], second["unchanged"]) == (0, 2)
    (folder / "zorblat.txt").write_text("Zorblat Industries was founded in 1991 by Ivo Petrov.")
    code, third = _update(tmp_path, folder, capsys, "--strategy", strategy)
    status = {f["path"].rsplit("/", 1)[-1]: f["status"] for f in third["files"]}
    assert code == 0 and status == {"zorblat.txt": "learned", "quellon.md": "unchanged"}
    assert "changed" in next(f["detail"] for f in third["files"] if f["status"] == "learned")
    (folder / "quellon.md").unlink()  # a learned file deleted: reported, its knowledge named, nothing relearned
    code, fourth = _update(tmp_path, folder, capsys, "--strategy", strategy)
    gone = [f for f in fourth["files"] if f["status"] == "gone"]
    assert code == 0 and (fourth["learned"], fourth["unchanged"], fourth["gone"]) == (0, 1, 1)
    assert gone[0]["path"].endswith("quellon.md") and "no longer in the folder" in gone[0]["detail"]
    assert ("adapters delete" in gone[0]["detail"]) is (strategy == "adapters")
    from seal_desk.workspace.database import Workspace

    ws = Workspace(tmp_path / "ws")
    kept = len(ws.adapters())
    ws.close()
    assert kept == {"adapters": 2, "merge": 3, "replay": 1}[strategy]  # superseded adapters are deleted
    if strategy == "adapters":  # once its adapter is deleted, nothing of the file is left to report
        assert main(["-w", str(tmp_path / "ws"), "adapters", "delete", str(gone[0]["adapter_id"])]) == 0
        capsys.readouterr()
        code, fifth = _update(tmp_path, folder, capsys, "--strategy", strategy)
        assert code == 0 and (fifth["unchanged"], fifth["gone"]) == (1, 0)


def test_update_reports_bad_files_and_goes_on(tmp_path, folder, capsys):
    (folder / "empty.txt").write_text("\n  \n")
    (folder / "broken.json").write_text('[{"title": ')
    code, out = _update(tmp_path, folder, capsys)
    assert code == 1  # some files failed
    status = {f["path"].rsplit("/", 1)[-1]: (f["status"], f["detail"]) for f in out["files"]}
    assert status["empty.txt"][0] == "failed" and "empty" in status["empty.txt"][1]
    assert status["broken.json"][0] == "failed" and "malformed JSON" in status["broken.json"][1]
    assert status["zorblat.txt"][0] == status["quellon.md"][0] == "learned"
    code, again = _update(tmp_path, folder, capsys)  # failed files are tried again; learned ones are not
    assert code == 1 and (again["learned"], again["unchanged"], again["failed"]) == (0, 2, 2)


def test_a_second_update_while_one_runs_is_refused(tmp_path, folder, capsys):
    from seal_desk.continual.update import LOCK
    from seal_desk.workspace.lock import exclusive

    (tmp_path / "ws").mkdir()
    with exclusive(tmp_path / "ws" / LOCK, "test"):
        code = main(["-m", "tiny-random", "-w", str(tmp_path / "ws"), "update", str(folder), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "already running" in err and "Traceback" not in err
    assert len([line for line in err.strip().splitlines() if "error" in line]) == 1
    code, out = _update(tmp_path, folder, capsys)  # the lock is free again
    assert code == 0 and out["learned"] == 2


def test_update_table_output(tmp_path, folder, capsys):
    assert main(["-m", "tiny-random", "-w", str(tmp_path / "ws"), "update", str(folder), *FAST]) == 0
    out = capsys.readouterr().out
    assert "learned 2 · unchanged 0 · failed 0" in out
    assert "│ zorblat.txt " in out and str(folder) not in out.split("\n", 1)[1]  # paths shown relative to DIR


def test_schema_v2_workspace_gains_the_updates_table(tmp_path):
    from seal_desk.workspace.database import SCHEMA_VERSION, Workspace

    Workspace(tmp_path / "ws").close()
    db = sqlite3.connect(tmp_path / "ws" / "workspace.db")
    db.executescript("DROP TABLE continual_updates; PRAGMA user_version = 2;")
    db.close()
    ws = Workspace(tmp_path / "ws")
    assert ws.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert ws.updates("m", "adapters") == []
    ws.close()


def test_updates_learned_with_another_learner_are_not_mixed(tmp_path, folder, capsys):
    """Updates stack or answer together, so they must all be on the same weights: a model with another learner
    merged than the one earlier updates were learned on stops with one line, and nothing is learned."""
    code, first = _update(tmp_path, folder, capsys)
    assert code == 0 and first["learned"] == 2
    with sqlite3.connect(tmp_path / "ws" / "workspace.db") as db:
        rows = db.execute("SELECT id, config FROM adapters").fetchall()
        assert all(json.loads(config)["learner"] is None for _, config in rows)  # recorded: no learner
        for adapter_id, config in rows:
            db.execute(
                "UPDATE adapters SET config = ? WHERE id = ?",
                (json.dumps(json.loads(config) | {"learner": "another-learner"}), adapter_id),
            )
    (folder / "zorblat.txt").write_text("Zorblat Industries was founded in 1991 by Ivo Petrov.")
    code = main(["-m", "tiny-random", "-w", str(tmp_path / "ws"), "update", str(folder), *FAST])
    assert code == 2
    assert "learned with learner another-learner, the model now has none" in capsys.readouterr().err
