"""The workspace: one SQLite database (stdlib sqlite3) plus a folder of saved adapters.

Holds documents, passages, questions, self-edits, adapters (path + weights hash), runs,
per-question results, the outer loop's records and the continual updates (`seal-desk update`). Every write is one transaction; WAL journaling keeps the database usable
after a killed process. The schema is versioned in `PRAGMA user_version`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from seal_desk.errors import InputError
from seal_desk.knowledge.documents import Document, Passage, Question
from seal_desk.paths import data_home
from seal_desk.workspace.lock import process_alive, waiting

SCHEMA_VERSION = 4  # v2 adds the rl_* tables (outer loop); v3 continual_updates (seal-desk update); v4 results.lax

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, title TEXT NOT NULL, sha256 TEXT NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL, sha256 TEXT NOT NULL,
    supplied_self_edits TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY, passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
    question TEXT NOT NULL, answer TEXT NOT NULL, source TEXT NOT NULL DEFAULT 'data'
);
CREATE TABLE IF NOT EXISTS self_edits (
    id INTEGER PRIMARY KEY, passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
    format TEXT NOT NULL, text TEXT NOT NULL, model TEXT NOT NULL, created_at REAL NOT NULL,
    edited INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS adapters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
    document_id INTEGER REFERENCES documents(id) ON DELETE SET NULL, model TEXT NOT NULL,
    config TEXT NOT NULL, created_at REAL NOT NULL, active INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, document_id INTEGER REFERENCES documents(id) ON DELETE SET NULL,
    adapter_id INTEGER REFERENCES adapters(id) ON DELETE SET NULL, model TEXT NOT NULL,
    config TEXT NOT NULL, status TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}',
    started_at REAL NOT NULL, finished_at REAL, pid INTEGER
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    question_id INTEGER REFERENCES questions(id) ON DELETE SET NULL, phase TEXT NOT NULL,
    question TEXT NOT NULL, gold TEXT NOT NULL, answer TEXT NOT NULL,
    correct INTEGER NOT NULL, exact INTEGER NOT NULL, f1 REAL NOT NULL, judged INTEGER, lax INTEGER
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rl_runs (
    id INTEGER PRIMARY KEY, out_dir TEXT NOT NULL UNIQUE, model TEXT NOT NULL, data TEXT NOT NULL,
    config TEXT NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL
);
CREATE TABLE IF NOT EXISTS rl_passages (
    id INTEGER PRIMARY KEY, rl_run_id INTEGER NOT NULL REFERENCES rl_runs(id) ON DELETE CASCADE,
    round INTEGER NOT NULL, passage_sha TEXT NOT NULL, title TEXT NOT NULL, prompt TEXT NOT NULL,
    baseline REAL NOT NULL, best INTEGER, kept INTEGER NOT NULL, seconds REAL NOT NULL,
    UNIQUE(rl_run_id, round, passage_sha)
);
CREATE TABLE IF NOT EXISTS rl_candidates (
    id INTEGER PRIMARY KEY, rl_passage_id INTEGER NOT NULL REFERENCES rl_passages(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, self_edit TEXT NOT NULL, rewards TEXT NOT NULL, reward REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rl_rounds (
    rl_run_id INTEGER NOT NULL REFERENCES rl_runs(id) ON DELETE CASCADE, round INTEGER NOT NULL,
    generator TEXT, sft_examples INTEGER NOT NULL, sft_loss REAL, finished_at REAL NOT NULL,
    PRIMARY KEY(rl_run_id, round)
);
CREATE TABLE IF NOT EXISTS continual_updates (
    id INTEGER PRIMARY KEY, model TEXT NOT NULL, strategy TEXT NOT NULL, path TEXT NOT NULL,
    sha256 TEXT NOT NULL, document_id INTEGER REFERENCES documents(id) ON DELETE SET NULL,
    adapter_id INTEGER REFERENCES adapters(id) ON DELETE SET NULL, sequences TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS continual_updates_key ON continual_updates(model, strategy, path);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(document_id);
CREATE INDEX IF NOT EXISTS questions_passage ON questions(passage_id);
CREATE INDEX IF NOT EXISTS results_run ON results(run_id);
"""


@dataclass(frozen=True)
class AdapterRecord:
    id: int
    name: str
    path: str
    sha256: str
    document_id: Optional[int]
    model: str
    config: dict
    created_at: float
    active: bool


@dataclass(frozen=True)
class RunRecord:
    id: int
    kind: str
    document_id: Optional[int]
    adapter_id: Optional[int]
    model: str
    status: str
    summary: dict
    started_at: float
    finished_at: Optional[float]


@dataclass(frozen=True)
class UpdateRecord:
    """One file version learned by `seal-desk update` (sha256 of the file's bytes)."""

    id: int
    path: str
    sha256: str
    document_id: Optional[int]
    adapter_id: Optional[int]
    sequences: list
    created_at: float
    current: bool  # the latest version learned of this path


class Workspace:
    """A workspace folder: `workspace.db` and `adapters/`."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = (Path(folder).expanduser() if folder else data_home()).resolve()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.folder}: cannot create workspace ({exc.strerror or exc})") from None
        self._lock = threading.RLock()
        try:
            self.db = sqlite3.connect(
                self.folder / "workspace.db", check_same_thread=False, timeout=30, isolation_level=None
            )
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys=ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                self._migrate()  # refuses a newer schema, changing nothing
            elif version < SCHEMA_VERSION:
                # new or older: one process at a time sets it up (two at once: the second finds it done)
                with waiting(self.folder / ".setup.lock"):
                    self.db.execute("PRAGMA journal_mode=WAL")
                    self._migrate()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.folder / 'workspace.db'}: not a usable workspace database ({exc})") from None
        try:  # after the database: a folder that is no workspace is left as it was
            self.adapters_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.folder}: cannot create workspace ({exc.strerror or exc})") from None

    @property
    def adapters_dir(self) -> Path:
        return self.folder / "adapters"

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise InputError(
                f"{self.folder}: workspace schema v{version} is newer than this seal-desk (v{SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(results)")}
            # v4: `correct` is strict grading from now on; older rows keep their (lax) verdict in both columns.
            upgrade = (
                "ALTER TABLE results ADD COLUMN lax INTEGER;\nUPDATE results SET lax = correct;\n"
                if columns and "lax" not in columns
                else ""
            )
            self.db.executescript(f"BEGIN;\n{SCHEMA}\n{upgrade}PRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed whole or rolled back whole."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")  # the write lock now (waited for), not at the first write
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # an I/O error (a full disk) has rolled it back already
                    self.db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.db.close()

    def _rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """Read under the lock, so a reader never sees another thread's open transaction."""
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def _row(self, sql: str, args: tuple = ()) -> Optional[sqlite3.Row]:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    # documents -------------------------------------------------------------------------------
    def add_document(self, doc: Document) -> Document:
        """Store a document with its passages and questions; returns it with ids filled in."""
        with self.tx() as db:
            self._insert_document(db, doc)
        return doc

    def _insert_document(self, db, doc: Document) -> None:
        doc.id = db.execute(
            "INSERT INTO documents(path, title, sha256, added_at) VALUES (?,?,?,?)",
            (doc.path, doc.title, doc.sha256, time.time()),
        ).lastrowid
        for idx, passage in enumerate(doc.passages):
            passage.id = db.execute(
                "INSERT INTO passages(document_id, idx, title, text, sha256, supplied_self_edits) VALUES (?,?,?,?,?,?)",
                (doc.id, idx, passage.title, passage.text, passage.sha256, json.dumps(passage.self_edits)),
            ).lastrowid
            for q in passage.questions:
                q.id = self._insert_question(db, passage.id, q)

    @staticmethod
    def _insert_question(db, passage_id: int, q: Question) -> int:
        return db.execute(
            "INSERT INTO questions(passage_id, question, answer, source) VALUES (?,?,?,?)",
            (passage_id, q.question, q.answer, q.source),
        ).lastrowid

    def find_document(self, path: str, sha256: str) -> Optional[int]:
        row = self._row("SELECT id FROM documents WHERE path=? AND sha256=? ORDER BY id DESC LIMIT 1", (path, sha256))
        return row["id"] if row else None

    def documents(self) -> list[dict[str, Any]]:
        rows = self._rows(
            """SELECT d.*, (SELECT COUNT(*) FROM passages p WHERE p.document_id=d.id) AS n_passages,
                      (SELECT COUNT(*) FROM questions q JOIN passages p ON q.passage_id=p.id
                        WHERE p.document_id=d.id) AS n_questions
               FROM documents d ORDER BY d.id"""
        )
        return [dict(r) for r in rows]

    def document(self, doc_id: int) -> Document:
        row = self._row("SELECT * FROM documents WHERE id=?", (doc_id,))
        if row is None:
            raise InputError(f"no document with id {doc_id} in the workspace")
        passages = []
        for p in self._rows("SELECT * FROM passages WHERE document_id=? ORDER BY idx", (doc_id,)):
            qs = [
                Question(q["question"], q["answer"], q["source"], q["id"])
                for q in self._rows("SELECT * FROM questions WHERE passage_id=? ORDER BY id", (p["id"],))
            ]
            passages.append(Passage(p["title"], p["text"], qs, json.loads(p["supplied_self_edits"]), p["id"]))
        return Document(row["path"], row["title"], passages, row["id"])

    def remove_document(self, doc_id: int) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM documents WHERE id=?", (doc_id,))

    # questions -------------------------------------------------------------------------------
    def add_question(self, passage_id: int, q: Question) -> Question:
        if not q.question.strip() or not q.answer.strip():
            raise InputError("a question needs both question text and an answer")
        with self.tx() as db:
            q.id = self._insert_question(db, passage_id, q)
        return q

    def add_questions(self, items: list[tuple[int, Question]]) -> None:
        """(passage id, question) pairs in one transaction: all of them, or (an error) none."""
        if any(not q.question.strip() or not q.answer.strip() for _, q in items):
            raise InputError("a question needs both question text and an answer")
        with self.tx() as db:
            ids = [self._insert_question(db, passage_id, q) for passage_id, q in items]
        for (_, q), qid in zip(items, ids):
            q.id = qid

    def update_question(self, question_id: int, question: str, answer: str) -> None:
        if not question.strip() or not answer.strip():
            raise InputError("a question needs both question text and an answer")
        with self.tx() as db:
            db.execute("UPDATE questions SET question=?, answer=? WHERE id=?", (question, answer, question_id))

    def delete_question(self, question_id: int) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM questions WHERE id=?", (question_id,))

    # self-edits ------------------------------------------------------------------------------
    def add_self_edit(self, passage_id: int, fmt: str, text: str, model: str, edited: bool = False) -> int:
        with self.tx() as db:
            return db.execute(
                "INSERT INTO self_edits(passage_id, format, text, model, created_at, edited) VALUES (?,?,?,?,?,?)",
                (passage_id, fmt, text, model, time.time(), int(edited)),
            ).lastrowid

    def self_edits(self, passage_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows("SELECT * FROM self_edits WHERE passage_id=? ORDER BY id", (passage_id,))]

    # adapters --------------------------------------------------------------------------------
    def new_adapter_path(self, name: str) -> Path:
        """A new folder under adapters/ for an adapter named `name`, made (empty) at once so that no other run, in
        this process or another, is given it too; AdapterHost.save fills it, `release_adapter_path` gives it back."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40].strip("-") or "adapter"
        n = 1
        while True:
            path = self.adapters_dir / (f"{stamp}-{safe}" if n == 1 else f"{stamp}-{safe}-{n}")
            try:
                path.mkdir(parents=True)
                return path
            except FileExistsError:
                n += 1

    @staticmethod
    def release_adapter_path(path: Path) -> None:
        """Remove a folder from `new_adapter_path` that no adapter was saved in (the save failed or never came)."""
        try:
            Path(path).rmdir()
        except OSError:  # gone already, or holds an adapter after all
            pass

    def add_adapter(
        self, name: str, path: Path, sha256: str, document_id: Optional[int], model: str, config: dict
    ) -> int:
        with self.tx() as db:
            return db.execute(
                "INSERT INTO adapters(name, path, sha256, document_id, model, config, created_at) VALUES (?,?,?,?,?,?,?)",
                (name, str(path), sha256, document_id, model, json.dumps(config), time.time()),
            ).lastrowid

    def adapters(self) -> list[AdapterRecord]:
        return [self._adapter(r) for r in self._rows("SELECT * FROM adapters ORDER BY id")]

    def adapter(self, adapter_id: int) -> AdapterRecord:
        row = self._row("SELECT * FROM adapters WHERE id=?", (adapter_id,))
        if row is None:
            raise InputError(f"no adapter with id {adapter_id} in the workspace")
        return self._adapter(row)

    @staticmethod
    def _adapter(row) -> AdapterRecord:
        return AdapterRecord(
            row["id"],
            row["name"],
            row["path"],
            row["sha256"],
            row["document_id"],
            row["model"],
            json.loads(row["config"]),
            row["created_at"],
            bool(row["active"]),
        )

    def set_adapter_active(self, adapter_id: int, active: bool) -> None:
        with self.tx() as db:
            db.execute("UPDATE adapters SET active=? WHERE id=?", (int(active), adapter_id))

    def delete_adapter(self, adapter_id: int) -> None:
        import shutil

        record = self.adapter(adapter_id)
        with self.tx() as db:
            db.execute("DELETE FROM adapters WHERE id=?", (adapter_id,))
        path = Path(record.path)
        if path.is_dir() and self.adapters_dir in path.parents:
            shutil.rmtree(path, ignore_errors=True)

    # runs and results ------------------------------------------------------------------------
    def start_run(self, kind: str, model: str, config: dict, document_id: Optional[int] = None) -> int:
        with self.tx() as db:
            return db.execute(
                "INSERT INTO runs(kind, document_id, model, config, status, started_at, pid) VALUES (?,?,?,?,?,?,?)",
                (kind, document_id, model, json.dumps(config), "running", time.time(), os.getpid()),
            ).lastrowid

    def finish_run(
        self, run_id: int, status: str, summary: dict, results: list[dict] = (), adapter_id: Optional[int] = None
    ) -> None:
        """Record a run's end and all its per-question results in one transaction."""
        with self.tx() as db:
            db.executemany(
                "INSERT INTO results(run_id, question_id, phase, question, gold, answer, correct, exact, f1, judged, lax) "
                "VALUES (:run_id, :question_id, :phase, :question, :gold, :answer, :correct, :exact, :f1, :judged, :lax)",
                [{"judged": None, "lax": r.get("correct"), **r, "run_id": run_id} for r in results],
            )
            db.execute(
                "UPDATE runs SET status=?, summary=?, finished_at=?, adapter_id=? WHERE id=?",
                (status, json.dumps(summary), time.time(), adapter_id, run_id),
            )

    def end_run(self, run_id: int, status: str, summary: dict) -> None:
        """Record that a run ended early ("failed", "cancelled") if the database can take it. When it cannot (a
        full disk), the run stays 'running' until the next open marks it interrupted, and the error the caller
        is raising stays the one the user sees."""
        try:
            self.finish_run(run_id, status, summary)
        except sqlite3.Error:
            pass

    def runs(self, document_id: Optional[int] = None) -> list[RunRecord]:
        sql, args = "SELECT * FROM runs", ()
        if document_id is not None:
            sql, args = sql + " WHERE document_id=?", (document_id,)
        return [
            RunRecord(
                r["id"],
                r["kind"],
                r["document_id"],
                r["adapter_id"],
                r["model"],
                r["status"],
                json.loads(r["summary"]),
                r["started_at"],
                r["finished_at"],
            )
            for r in self._rows(sql + " ORDER BY id", args)
        ]

    def results(self, run_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows("SELECT * FROM results WHERE run_id=? ORDER BY id", (run_id,))]

    def mark_stale_runs(self) -> int:
        """Runs left 'running' by a process that no longer exists become 'interrupted' (and what killed saves
        left under adapters/ goes, see `tidy`); returns how many runs."""
        stale = [
            r["id"]
            for r in self._rows("SELECT id, pid FROM runs WHERE status='running'")
            if not process_alive(r["pid"])
        ]
        with self.tx() as db:
            db.executemany(
                "UPDATE runs SET status='interrupted', finished_at=? WHERE id=?", [(time.time(), i) for i in stale]
            )
        self.tidy()
        return len(stale)

    def tidy(self, older_than: float = 3600.0) -> None:
        """Remove what a killed save left under adapters/: its temp folders (.saving-*) and the empty folders
        reserved for adapters that never came, once older than `older_than` seconds (a save under way is younger)."""
        import shutil

        now = time.time()
        for path in self.adapters_dir.iterdir() if self.adapters_dir.is_dir() else ():
            try:
                if path.is_symlink() or not path.is_dir() or now - path.stat().st_mtime < older_than:
                    continue
                if path.name.startswith(".saving-"):
                    shutil.rmtree(path, ignore_errors=True)
                elif not any(path.iterdir()):
                    path.rmdir()
            except OSError:  # another process tidied it first
                pass

    # continual updates -----------------------------------------------------------------------
    def record_update(
        self,
        model: str,
        strategy: str,
        path: str,
        sha256: str,
        doc: Document,
        adapter: tuple[str, str, str, dict],
        sequences: list[str],
    ) -> tuple[int, int]:
        """A learned file version: its document, its adapter (name, path, sha256, config) and the update row,
        in one transaction; returns (update id, adapter id)."""
        name, folder, adapter_sha, config = adapter
        with self.tx() as db:
            self._insert_document(db, doc)
            adapter_id = db.execute(
                "INSERT INTO adapters(name, path, sha256, document_id, model, config, created_at) VALUES (?,?,?,?,?,?,?)",
                (name, str(folder), adapter_sha, doc.id, model, json.dumps(config), time.time()),
            ).lastrowid
            update_id = db.execute(
                "INSERT INTO continual_updates(model, strategy, path, sha256, document_id, adapter_id, sequences, "
                "created_at) VALUES (?,?,?,?,?,?,?,?)",
                (model, strategy, path, sha256, doc.id, adapter_id, json.dumps(sequences), time.time()),
            ).lastrowid
        return update_id, adapter_id

    def updates(self, model: str, strategy: str) -> list[UpdateRecord]:
        """Every file version learned with this model and strategy, oldest first."""
        rows = self._rows("SELECT * FROM continual_updates WHERE model=? AND strategy=? ORDER BY id", (model, strategy))
        latest = {r["path"]: r["id"] for r in rows}
        return [
            UpdateRecord(
                r["id"],
                r["path"],
                r["sha256"],
                r["document_id"],
                r["adapter_id"],
                json.loads(r["sequences"]),
                r["created_at"],
                latest[r["path"]] == r["id"],
            )
            for r in rows
        ]

    # settings --------------------------------------------------------------------------------
    @staticmethod
    def config_key(model: str) -> str:
        """Settings key of the saved SealConfig for one model (each preset keeps its own defaults)."""
        return f"config/{model}"

    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self._row("SELECT value FROM settings WHERE key=?", (key,))
        return json.loads(row["value"]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO settings(key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )
