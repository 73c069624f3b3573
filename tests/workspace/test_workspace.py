import sqlite3
import subprocess
import sys

import pytest

from seal_desk.errors import InputError
from seal_desk.knowledge.documents import Document, Passage, Question
from seal_desk.workspace.database import SCHEMA_VERSION, Workspace


def doc():
    return Document("d.txt", "Doc", [Passage("Doc", "Text one.", [Question("Q?", "A")]), Passage("Doc", "Text two.")])


def test_roundtrip_and_cascade(workspace):
    d = workspace.add_document(doc())
    assert workspace.documents()[0]["n_questions"] == 1
    back = workspace.document(d.id)
    assert [p.text for p in back.passages] == ["Text one.", "Text two."]
    q = workspace.add_question(back.passages[1].id, Question("New?", "Yes", "user"))
    workspace.update_question(q.id, "Changed?", "No")
    assert workspace.document(d.id).passages[1].questions[0].question == "Changed?"
    with pytest.raises(InputError):
        workspace.add_question(back.passages[1].id, Question("", "x"))
    workspace.remove_document(d.id)
    assert workspace.documents() == []
    assert workspace.db.execute("SELECT COUNT(*) FROM questions").fetchone()[0] == 0


def test_failed_transaction_keeps_earlier_data(workspace):
    workspace.add_document(doc())
    with pytest.raises(sqlite3.IntegrityError):
        with workspace.tx() as db:
            db.execute("INSERT INTO documents(path, title, sha256, added_at) VALUES ('x','x','x',0)")
            db.execute("INSERT INTO passages(document_id, idx, title, text, sha256) VALUES (999,0,'t','t','t')")
    assert len(workspace.documents()) == 1


def test_schema_version_and_newer_schema_refused(tmp_path):
    ws = Workspace(tmp_path)
    assert ws.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    ws.db.execute("PRAGMA user_version = 99")
    ws.close()
    with pytest.raises(InputError, match="newer"):
        Workspace(tmp_path)


def test_not_a_database(tmp_path):
    (tmp_path / "workspace.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="not a usable workspace"):
        Workspace(tmp_path)


def test_killed_process_leaves_workspace_usable(tmp_path):
    """A process killed mid-run (after writing, inside an open transaction) loses only that transaction."""
    code = f"""
import os, signal
from seal_desk.workspace.database import Workspace
from seal_desk.knowledge.documents import Document, Passage
ws = Workspace({str(tmp_path)!r})
ws.add_document(Document('a', 'A', [Passage('A', 'kept')]))
ws.start_run('learn', 'm', {{}})
ws.db.execute('BEGIN')
ws.db.execute("INSERT INTO documents(path, title, sha256, added_at) VALUES ('b','B','x',0)")
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    ws = Workspace(tmp_path)
    assert [d["title"] for d in ws.documents()] == ["A"]
    assert ws.mark_stale_runs() == 1
    assert ws.runs()[0].status == "interrupted"


def test_settings(workspace):
    assert workspace.get_setting("model", "x") == "x"
    workspace.set_setting("model", "smollm2-135m")
    workspace.set_setting("model", "tiny-random")
    assert workspace.get_setting("model") == "tiny-random"


def test_reader_never_sees_another_threads_open_transaction(workspace):
    import threading

    started, release = threading.Event(), threading.Event()

    def writer():
        try:
            with workspace.tx() as db:
                db.execute("INSERT INTO documents(path, title, sha256, added_at) VALUES ('x','X','s',0)")
                started.set()
                release.wait(5)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    thread = threading.Thread(target=writer)
    thread.start()
    started.wait(5)
    threading.Timer(0.3, release.set).start()
    assert workspace.documents() == []  # waits for the writer, then sees its rollback
    thread.join()


def test_a_v3_workspace_gains_lax_and_keeps_its_verdicts(tmp_path):
    import sqlite3

    from seal_desk.workspace.database import SCHEMA_VERSION, Workspace

    ws = Workspace(tmp_path / "ws")
    run = ws.start_run("learn", "m", {})
    ws.finish_run(
        run,
        "done",
        {},
        [
            {
                "question_id": None,
                "phase": "after",
                "question": "q",
                "gold": "g",
                "answer": "g",
                "correct": 1,
                "exact": 1,
                "f1": 1.0,
            }
        ],
    )
    ws.close()
    db = sqlite3.connect(tmp_path / "ws" / "workspace.db")
    db.executescript("ALTER TABLE results DROP COLUMN lax; PRAGMA user_version = 3;")
    db.close()
    ws = Workspace(tmp_path / "ws")
    assert ws.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [(r["correct"], r["lax"]) for r in ws.results(run)] == [(1, 1)]
    ws.close()
