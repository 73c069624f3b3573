"""One run at a time: an exclusive lock on a file, taken without waiting (flock, so a killed run frees it); and
one setup at a time: the same lock, waited for."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from seal_desk.errors import SealDeskError


class Busy(SealDeskError):
    """Another run holds the lock."""


@contextmanager
def exclusive(path: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block; raise Busy at once when another process holds it."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "?"
            raise Busy(
                f"{what} is already running on this workspace (pid {holder}, lock {path}); "
                f"try again when it has finished"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


def process_alive(pid: Optional[int]) -> bool:
    """Whether process `pid` exists on this machine (another user's counts; no pid: no)."""
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextmanager
def waiting(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block, waiting for any other process that holds it."""
    import fcntl

    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
