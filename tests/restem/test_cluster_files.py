"""What a Ray worker does with a path from the driver (restem.cluster.Worker), without Ray: the driver's own
file when it sees the same one (one machine, a shared disk), else a copy fetched in chunks from the driver's
FileServer into a scratch folder that is gone once the model is loaded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from seal_desk.errors import ClusterError
from seal_desk.restem import cluster
from seal_desk.restem.cluster import FileServer, Worker


class Driver(FileServer):
    """The driver's machine, where `/driver/...` paths are the folders in `disk`."""

    def __init__(self, disk: dict[str, Path]) -> None:
        self.disk = disk

    def manifest(self, path):
        return super().manifest(str(self.disk.get(path, path)))

    def chunk(self, path, rel, offset, size):
        self.chunks = getattr(self, "chunks", 0) + 1
        return super().chunk(str(self.disk.get(path, path)), rel, offset, size)


@dataclass(frozen=True)
class Copier:
    """A ModelCopier stand-in: records what it was asked to load and what the folder held then."""

    model: str
    learner: Optional[str] = None

    def __call__(self, path=None):
        where = Path(path or self.model)
        files = sorted(f.relative_to(where).as_posix() for f in where.rglob("*") if f.is_file())
        return where, {f: (where / f).read_bytes() for f in files}


def _checkpoint(root: Path, tag: str) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "model.safetensors").write_bytes(tag.encode() * 7)
    (root / "sub" / "tokenizer.json").write_text('{"v": 1}')
    return root


def test_a_checkpoint_only_the_driver_has_is_fetched_in_chunks_and_deleted_after_loading(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "CHUNK", 5)
    driver = Driver({"/driver/round-1/generator": _checkpoint(tmp_path / "d", "w8")})
    worker = Worker(Copier("tiny-random"), 1, {}, driver)
    where, files = worker.load_copy("/driver/round-1/generator")
    assert files == {"model.safetensors": b"w8" * 7, "sub/tokenizer.json": b'{"v": 1}'}
    assert where.name == "generator" and not where.exists(), "the scratch copy is gone once loaded"
    assert driver.chunks == 3 + 2, "14 bytes in 5-byte chunks, then 8"


def test_the_same_file_here_is_used_in_place_and_a_stale_one_is_replaced(tmp_path):
    shared = _checkpoint(tmp_path / "shared", "s")
    worker = Worker(Copier("tiny-random"), 1, {}, Driver({}))
    assert worker.load_copy(str(shared))[0] == shared  # one machine or a shared disk: no copy
    stale = _checkpoint(tmp_path / "stale", "old")  # this machine has another file at the driver's path
    worker = Worker(Copier("tiny-random"), 1, {}, Driver({str(stale): _checkpoint(tmp_path / "new", "new!")}))
    where, files = worker.load_copy(str(stale))
    assert where != stale and files["model.safetensors"] == b"new!" * 7


def test_the_starting_model_and_its_learner_are_fetched_too(tmp_path):
    driver = Driver({"/driver/model": _checkpoint(tmp_path / "m", "m"), "/driver/learner": tmp_path / "l"})
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "card.json").write_text("{}")
    seen = {}

    @dataclass(frozen=True)
    class Both(Copier):
        def __call__(self, path=None):
            seen["learner"] = sorted(p.name for p in Path(self.learner).iterdir())
            return super().__call__(path)

    where, files = Worker(Both("/driver/model", "/driver/learner"), 1, {}, driver).load_copy(None)
    assert "model.safetensors" in files and seen["learner"] == ["card.json"]


def test_a_learner_is_fetched_with_the_learners_it_builds_on_beside_it(tmp_path):
    """A packed SEAL generator names the learner under it (`on_top_of`, a sibling folder): the merge looks for
    it beside the fetched copy, so it is fetched there too."""
    import json

    for name, below in (("top", "middle"), ("middle", "bottom"), ("bottom", None)):
        (tmp_path / name).mkdir()
        card = {"kind": "seal-desk learner", **({"on_top_of": below} if below else {})}
        (tmp_path / name / "seal_desk_learner.json").write_text(json.dumps(card))
        (tmp_path / name / "adapter_model.safetensors").write_bytes(name.encode())
    disk = {f"/driver/learners/{n}": tmp_path / n for n in ("top", "middle", "bottom")}
    disk["/driver/model"] = _checkpoint(tmp_path / "m", "m")
    seen = {}

    @dataclass(frozen=True)
    class Chain(Copier):
        def __call__(self, path=None):
            here = Path(self.learner)
            seen["learner"] = here.name
            seen["beside"] = sorted(p.name for p in here.parent.iterdir())
            seen["bottom"] = (here.parent / "bottom" / "adapter_model.safetensors").read_bytes()
            return super().__call__(path)

    Worker(Chain("/driver/model", "/driver/learners/top"), 1, {}, Driver(disk)).load_copy(None)
    assert seen == {"learner": "top", "beside": ["bottom", "middle", "top"], "bottom": b"bottom"}


def test_a_path_nowhere_and_a_path_outside_the_folder_are_refused(tmp_path):
    worker = Worker(Copier("tiny-random"), 1, {}, Driver({}))
    with pytest.raises(ClusterError, match="neither on this worker nor on the driver"):
        worker.load_copy(str(tmp_path / "missing"))
    root = _checkpoint(tmp_path / "c", "c")
    with pytest.raises(ClusterError, match="not inside"):
        FileServer().chunk(str(root), "../../etc/passwd", 0, 10)


def test_a_hub_cache_snapshot_of_links_is_served(tmp_path):
    """A hub cache snapshot is a folder of links into blobs/: its files are served, following the links."""
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / "abc123").write_bytes(b"weights")
    snapshot = tmp_path / "snapshots" / "rev"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to(blobs / "abc123")
    assert FileServer().chunk(str(snapshot), "model.safetensors", 0, 100) == b"weights"
    with pytest.raises(ClusterError, match="not inside"):
        FileServer().chunk(str(snapshot), str(blobs / "abc123"), 0, 100)


def test_copies_left_by_a_killed_worker_are_removed_by_the_next(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.setattr(cluster.tempfile, "gettempdir", lambda: str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / "seal-desk-fetch" / str(dead.pid) / "tmpcopy"
    left.mkdir(parents=True)
    (left / "model.safetensors").write_bytes(b"x" * 10)
    mine = cluster._scratch()
    assert mine.name == str(os.getpid()) and not left.parent.exists()


def test_one_machine_needs_no_file_server():
    assert Worker(Copier("tiny-random"), 1, {}, None)._local("/anything", Path("/nowhere")) == "/anything"


def test_the_workers_are_told_the_learner_this_machine_merged(monkeypatch, tmp_path):
    """Copier learner None means "the preset's, when it is there": pinned for the workers to what the driver
    merged (here none), so a worker without the preset's learner folder cannot load another model."""
    from contextlib import contextmanager

    from seal_desk.config import OuterLoopConfig
    from seal_desk.engine import Engine
    from seal_desk.model.loader import load_tiny
    from seal_desk.restem import start
    from seal_desk.restem.cluster import ClusterOptions

    seen = []

    @contextmanager
    def opened(options, copier, on_event):
        seen.append((options, copier))
        raise KeyboardInterrupt  # stop before anything runs
        yield

    monkeypatch.setattr(start, "opened", opened)
    copier = start.model_copier("tiny-random", "cpu")
    options = ClusterOptions("local")
    with pytest.raises(KeyboardInterrupt):
        start.run_outer_loop(Engine(load_tiny()), None, [], "x", tmp_path, OuterLoopConfig(), copier, cluster=options)
    assert seen == [(options, start.model_copier("tiny-random", "cpu", learner="none"))]


def test_ray_init_gets_a_real_stderr_under_the_tui(monkeypatch):
    """ray.init hands sys.stderr to faulthandler, which needs a file descriptor; Textual's stand-in has none
    (the RL tab's first `ray local` run failed on it)."""
    import io
    import sys

    class Captured(io.TextIOBase):
        def fileno(self):
            return -1

    captured = Captured()
    monkeypatch.setattr(sys, "stderr", captured)
    with cluster._real_stderr():
        assert sys.stderr.fileno() >= 0
    assert sys.stderr is captured
