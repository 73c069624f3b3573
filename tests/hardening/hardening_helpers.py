"""Helpers of the hardening tests: a workspace dump to compare before/after, the one-line error check, the fork
server (runner.py) that runs CLI commands as real processes in milliseconds, and the workspace checks after a
kill -9."""

from __future__ import annotations

import hashlib
import json
import os
import select
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
TINY = ["-m", "tiny-random"]
FAST = ["--epochs", "2", "--max-new-tokens", "12", "--rank", "4", "--alpha", "8"]
DB_FILES = {"workspace.db", "workspace.db-wal", "workspace.db-shm"}


def dump(folder: Path) -> dict:
    """Everything a workspace holds: each table's rows (sqlite_sequence too) and each file's size and hash.
    The database files themselves are left out (their bytes change when a reader checkpoints), and so are lock
    files (a lock taken and released leaves an empty one); a database that cannot be read is dumped as bytes."""
    folder = Path(folder)
    tables: dict = {}
    db = folder / "workspace.db"
    if db.is_file():
        try:
            con = sqlite3.connect(db, timeout=30)
            try:
                names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
                tables = {n: sorted(map(tuple, con.execute(f'SELECT * FROM "{n}"')), key=repr) for n in names}
                tables["user_version"] = con.execute("PRAGMA user_version").fetchone()[0]
            finally:
                con.close()
        except sqlite3.DatabaseError:
            tables = {"bytes": hashlib.sha256(db.read_bytes()).hexdigest()}
    files = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name not in DB_FILES and path.suffix != ".lock":
                files[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                files[str(path.relative_to(folder)) + "/"] = "dir"
    elif folder.exists():
        files["."] = hashlib.sha256(folder.read_bytes()).hexdigest()
    return {"tables": tables, "files": files}


def record(*cells) -> None:
    """With HARDENING_MATRIX=FILE set, append one row of the matrix (case, outcome...) to FILE, tab-separated:
    how docs/results.md's table is made. Without it, nothing."""
    path = os.environ.get("HARDENING_MATRIX")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in cells) + "\n")


def one_line_error(err: str) -> str:
    """The one line of stderr, checked: `seal-desk: error: ...` and nothing else (no traceback)."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one line: {err!r}"
    assert lines[0].startswith("seal-desk: error: "), lines[0]
    return lines[0]


@dataclass
class Result:
    code: int  # negative: killed by that signal
    out: str
    err: str


class Runner:
    """The fork server (runner.py): `run(job, ...)` forks one child per job, all at once, and waits for them."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.count = 0
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("runner.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            text=True,
        )
        assert json.loads(self._reply(120)) == {"ready": True}

    def _reply(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise AssertionError(f"the fork server did not answer within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        assert line, "the fork server ended"
        return line

    def run(self, *jobs: dict, timeout: float = 240) -> list[Result]:
        """Each job: {"argv": [...], "hook": "python code run in the child first"} (see runner.py)."""
        sent = []
        for job in jobs:
            self.count += 1
            out, err = self.scratch / f"job{self.count}.out", self.scratch / f"job{self.count}.err"
            sent.append({**job, "argv": [str(a) for a in job["argv"]], "stdout": str(out), "stderr": str(err)})
        self.proc.stdin.write(json.dumps(sent) + "\n")
        self.proc.stdin.flush()
        codes = json.loads(self._reply(timeout))
        return [
            Result(code, Path(j["stdout"]).read_text(), Path(j["stderr"]).read_text()) for code, j in zip(codes, sent)
        ]

    def one(self, argv: list, hook: Optional[str] = None, timeout: float = 240) -> Result:
        return self.run({"argv": argv, "hook": hook}, timeout=timeout)[0]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def workspace_whole(folder: Path) -> list:
    """Open the workspace as the next command would and check that nothing half-written is visible: every
    listed adapter is a complete PEFT folder whose weights match the recorded hash. Returns the adapters."""
    from seal_desk.model.adapters import weights_hash
    from seal_desk.workspace.database import Workspace

    ws = Workspace(folder)
    try:
        ws.mark_stale_runs()
        assert not [r for r in ws.runs() if r.status == "running"], "a dead run still shows as running"
        adapters = ws.adapters()
        for a in adapters:
            path = Path(a.path)
            assert path.parent == ws.adapters_dir and not path.name.startswith("."), a.path
            assert (path / "adapter_config.json").is_file(), f"adapter #{a.id} is half-written: {a.path}"
            assert weights_hash(path) == a.sha256, f"adapter #{a.id}'s weights are not the ones recorded"
        return adapters
    finally:
        ws.close()
