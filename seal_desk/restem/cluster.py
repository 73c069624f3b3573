"""Scoring on a Ray cluster (`--ray`): workers that each hold one resident model, fed items by the driver.

The driver (the process running `rl`, `arc rl` or `bench knowledge`) keeps the workspace (SQLite
stays single-writer there), the passage order, the top-1 selection and the generator SFT. It hands
each passage to a worker as an item of a *job* (`WorkerJob`): a small picklable value with a `key`,
`setup(worker)` and `run(state, item)`. A worker builds a job's state once per key on its resident
model (say, a round's scorer on that round's generator), then runs `run` on each item it is given:
the same pure function the local path calls. Results come back in completion order; the caller
records them. A worker that dies (its process killed, its machine gone) has its item re-queued on a
fresh worker, which loads its own model.

Ray is optional (`pip install 'seal-desk[cluster]'`); nothing here imports it before a cluster opens.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import Counter, deque
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Protocol

from seal_desk.errors import ClusterError, InputError, SealDeskError
from seal_desk.events import CancelToken, EventSink, Message, WorkerProgress, ignore
from seal_desk.workspace.lock import process_alive

INSTALL = "--ray needs Ray, which is not installed: pip install 'seal-desk[cluster]' (or pip install 'ray>=2.40')"
MAX_DEATHS = 3  # an item whose worker died this many times ends the run (it may be what kills them)
WAIT_NOTE_S = 120.0  # say so when no worker could be placed for this long


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how to score (`--ray`, `--ray-workers`, `--ray-gpus-per-worker`, `--ray-cpus-per-worker`)."""

    address: str = "auto"  # "auto": the running cluster (`ray start --head`); "local": a new one in this
    # process; else the head's host:port or a ray:// address
    workers: Optional[int] = None  # default: one per GPU (`gpus_per_worker` each), or one per node without GPUs
    gpus_per_worker: Optional[float] = None  # default 1 when the cluster has GPUs, else 0 (CPU workers)
    cpus_per_worker: Optional[float] = None  # default 1 beside a GPU; CPU workers share the cluster's CPUs
    # How workers place the model when the caller has no model copier of its own (`bench knowledge`):
    # the command's --device, --quant and --trust-remote-code. "auto" resolves on each worker.
    device: str = "auto"
    quant: str = ""
    trust_remote_code: bool = False

    def check(self) -> ClusterOptions:
        if self.workers is not None and self.workers < 1:
            raise InputError("--ray-workers must be at least 1")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise InputError("--ray-gpus-per-worker must be 0 (CPU workers) or more")
        if self.cpus_per_worker is not None and self.cpus_per_worker <= 0:
            raise InputError("--ray-cpus-per-worker must be more than 0")
        return self


def require_ray():
    """The `ray` module, or a one-line InputError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(INSTALL) from None
    return ray


# The cluster a command asked for: the CLI sets it around a subcommand (`requesting`), and the
# entry points that can score on a cluster (`restem.start.run_outer_loop`, `bench.knowledge`) read
# it when no cluster is passed to them explicitly.
# An open Cluster may be requested too (kept open: its workers stay warm across runs).
_requested: ContextVar[Optional[ClusterOptions | Cluster]] = ContextVar("seal_desk_cluster", default=None)


def requested() -> Optional[ClusterOptions | Cluster]:
    return _requested.get()


@contextmanager
def requesting(options: Optional[ClusterOptions | Cluster]) -> Iterator[None]:
    token = _requested.set(options)
    try:
        yield
    finally:
        _requested.reset(token)


class WorkerJob(Protocol):
    """What a worker runs: `setup` once per `key` on the worker's resident model, then `run` per item."""

    @property
    def key(self) -> Hashable: ...

    def setup(self, worker: Worker) -> Any: ...

    def run(self, state: Any, item: Any) -> Any: ...


# the worker side ---------------------------------------------------------------------------------
CHUNK = 32 << 20  # bytes per call when a worker fetches a checkpoint from the driver (no shared disk)


class Worker:
    """One scoring worker (a Ray actor): one resident model, reused by every job and item it is given.

    `copier` is a `restem.start.ModelCopier` without its `base`: None → the starting model, a path →
    a checkpoint. A path the worker cannot see as the driver sees it (another machine without a shared
    disk, or a stale copy at the same path) is fetched from the driver's `files` server in chunks into a
    temporary folder, loaded, and deleted again: the weights live in memory from then on.
    """

    def __init__(self, copier, threads: int, env: dict, files=None) -> None:
        os.environ.update(env)
        self.copier, self.threads, self.files = copier, threads, files
        self._engine = None
        self._key: Any = None
        self._state: Any = None

    def start(self) -> dict:
        """Load the resident model; returns where this worker runs."""
        import socket

        import torch

        from seal_desk.engine import Engine

        torch.set_num_threads(self.threads)
        import peft  # noqa: F401 - what the first passage would otherwise import (LoRA, bitsandbytes: seconds)

        import seal_desk.restem.loop  # noqa: F401

        loaded = self.load_copy(None)
        self._engine = Engine(loaded, None)
        return {"host": socket.gethostname(), "pid": os.getpid(), "device": loaded.placement.label}

    def engine(self, config):
        """The resident engine with `config` in force (a job's run config)."""
        self._engine.config = config
        self._engine.generator = None
        return self._engine

    def load_copy(self, path: Optional[str] = None):
        """The loop's `load_copy` on this worker: the starting model (None) or a checkpoint."""
        copier = self.copier
        with tempfile.TemporaryDirectory(dir=_scratch()) as scratch:  # gone once the model is loaded
            if path is not None:
                return copier(self._local(path, Path(scratch)))
            if Path(copier.model).is_absolute():  # a local folder or .gguf on the driver
                copier = replace(copier, model=self._local(copier.model, Path(scratch)))
            if copier.learner not in (None, "none"):
                copier = replace(copier, learner=self._learner(copier.learner, Path(scratch)))
            return copier(None)

    def _learner(self, learner: str, scratch: Path) -> str:
        """The learner as this worker can read it. A fetched one gets the learners it builds on (its card's
        `on_top_of`, a sibling folder on the driver) fetched beside it, where the merge looks for them."""
        local = self._local(learner, scratch, into=scratch / "learners")
        if local == learner:  # held here as on the driver, and so are its siblings
            return learner
        from seal_desk.model.learner_weights import CARD

        folder, here, seen = Path(learner), Path(local), set()
        while True:
            try:
                card = json.loads((here / CARD).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                card = None
            below = card.get("on_top_of") if isinstance(card, dict) else None
            if not below or below in seen:
                return local
            seen.add(below)
            folder = folder.parent / below
            here = Path(self._local(str(folder), scratch, into=scratch / "learners", fetch=True))

    def _ask(self, method: str, *args):
        if isinstance(self.files, FileServer):  # in this process (tests)
            return getattr(self.files, method)(*args)
        import ray

        return ray.get(getattr(self.files, method).remote(*args))

    def _local(self, path: str, scratch: Path, into: Optional[Path] = None, fetch: bool = False) -> str:
        """`path` as this worker can read it: itself when it holds what the driver's holds (same machine,
        shared disk), else a copy fetched into `scratch` (into the folder `into` when given; `fetch`: a copy
        even when this worker holds the same)."""
        if self.files is None:  # one machine: the driver's paths are ours
            return path
        wanted = self._ask("manifest", path)
        if wanted is None:
            if Path(path).exists():
                return path
            raise ClusterError(f"{path}: neither on this worker nor on the driver")
        if manifest(path) == wanted and not fetch:
            return path
        digest = hashlib.sha1(path.encode()).hexdigest()[:12]
        root = (into or scratch / digest) / (Path(path).name or "model")
        for rel, size, _ in wanted:
            target = root / rel if rel else root
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for offset in range(0, size, CHUNK):
                    out.write(self._ask("chunk", path, rel, offset, CHUNK))
        if manifest(str(root), times=False) != [(rel, size, 0) for rel, size, _ in wanted]:
            raise ClusterError(f"{path}: the copy fetched from the driver is incomplete")
        return str(root)

    def run(self, job: WorkerJob, item: Any) -> tuple[Any, float, float]:
        """(job.run's result, seconds it took here, seconds spent building the job's state first); the
        state is built when the job's key changes."""
        setup = 0.0
        if job.key != self._key:
            started = time.perf_counter()
            self._key, self._state = None, None
            _free_memory()
            self._state = job.setup(self)
            self._key = job.key
            setup = time.perf_counter() - started
        started = time.perf_counter()
        result = job.run(self._state, item)
        return result, time.perf_counter() - started, setup


def manifest(path: str, times: bool = True) -> Optional[list[tuple[str, int, int]]]:
    """(relative path, size, mtime in ns) of a file ("" for itself) or of every file in a folder; None
    when there is nothing there. `times=False`: mtimes as 0 (to compare contents only)."""
    root = Path(path)
    if root.is_file():
        files = [(root, "")]
    elif root.is_dir():
        files = [(f, str(f.relative_to(root))) for f in sorted(root.rglob("*")) if f.is_file()]
    else:
        return None
    out = []
    for f, rel in files:
        st = f.stat()
        out.append((rel, st.st_size, st.st_mtime_ns if times else 0))
    return out


def _scratch() -> Path:
    """This process's folder for fetched copies, under one root per machine; folders of processes that died
    (a worker killed while it loaded: nothing unwound) are removed first."""
    root = Path(tempfile.gettempdir()) / "seal-desk-fetch"
    root.mkdir(exist_ok=True)
    for old in root.iterdir():
        if old.name.isdigit() and int(old.name) != os.getpid() and not process_alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / str(os.getpid())
    mine.mkdir(exist_ok=True)
    return mine


class FileServer:
    """Runs on the driver's machine: hands workers elsewhere the checkpoints and learners they cannot see,
    a chunk at a time (a 7B checkpoint never sits in Ray's object store whole)."""

    def manifest(self, path: str) -> Optional[list[tuple[str, int, int]]]:
        return manifest(path)

    def chunk(self, path: str, rel: str, offset: int, size: int) -> bytes:
        # Checked by name, not resolved: a folder's own links (a hub cache snapshot's files) are served as
        # the manifest lists them; a name that climbs out of the folder is not.
        if rel and (Path(rel).is_absolute() or ".." in Path(rel).parts):
            raise ClusterError(f"{rel}: not inside {path}")
        target = Path(path) / rel if rel else Path(path)
        with open(target, "rb") as f:
            f.seek(offset)
            return f.read(size)


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


# the driver side ---------------------------------------------------------------------------------
@dataclass
class _Slot:
    name: str
    handle: Any
    starting: Any  # the ref of its start() call until it has answered
    info: Optional[dict] = None
    done: int = 0
    seconds: float = 0.0  # inside the worker, scoring its items
    setup: float = 0.0  # inside the worker, building job states (a round's scorer on its generator)
    round_trip: float = 0.0  # on the driver, from handing an item over to having its result
    busy: bool = False
    sent: float = 0.0  # when its item in flight was handed over

    def progress(self, state: str) -> WorkerProgress:
        info = self.info or {}
        return WorkerProgress(
            self.name,
            self.done,
            self.seconds / self.done if self.done else 0.0,
            info.get("host", ""),
            info.get("device", ""),
            state,
        )


class Cluster:
    """Scoring workers on Ray. `map(job, items)` yields (key, result) as workers finish them.

    Workers start on the first `map` (at most one per item) and stay for the life of the cluster, so
    their models are loaded once per run and reused across passages and rounds. `close` ends them
    (and the Ray runtime when this cluster started it)."""

    def __init__(self, options: ClusterOptions, copier, on_event: EventSink = ignore) -> None:
        options.check()
        ray = require_ray()
        self.ray, self.options, self.on_event = ray, options, on_event
        portable = getattr(copier, "portable", None)
        if portable is None:
            raise InputError("--ray: this model cannot be loaded on the workers (no model spec)")
        self.copier = _absolute(portable())
        self._started_ray, self._files = False, None
        self._slots: list[_Slot] = []
        if not ray.is_initialized():
            self._connect()
        try:
            self._size_up(options, on_event)
        except BaseException:
            self.close()
            raise

    def _size_up(self, options: ClusterOptions, on_event: EventSink) -> None:
        """How many workers of what size, from the options and the cluster's resources."""
        ray = self.ray
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        # nodes that can hold a worker: alive, with CPUs (a head started with --num-cpus=0 holds none)
        nodes = [n for n in ray.nodes() if n.get("Alive") and float(n.get("Resources", {}).get("CPU", 0)) > 0]
        gpw = options.gpus_per_worker if options.gpus_per_worker is not None else (1.0 if gpus >= 1 else 0.0)
        if gpw > 0 and gpus < gpw:
            raise ClusterError(f"--ray: {gpw:g} GPU per worker, but the cluster has {gpus:g} GPU(s)")
        if gpw > 0:
            size = options.workers or max(1, int(gpus // gpw))
            cpw = options.cpus_per_worker or 1.0
        elif options.workers:
            size = options.workers
            cpw = options.cpus_per_worker or max(1.0, float(int(cpus // size)))
        else:  # one per node, each as large as the smallest node allows (so every node can hold one)
            size = max(1, len(nodes))
            smallest = min((float(n.get("Resources", {}).get("CPU", 0)) for n in nodes), default=cpus)
            cpw = options.cpus_per_worker or max(1.0, float(int(smallest)))
        if size * cpw > cpus + 1e-9 or size * gpw > gpus + 1e-9:
            raise ClusterError(
                f"--ray: {size} worker(s) × ({cpw:g} CPU, {gpw:g} GPU) do not fit the cluster's "
                f"{cpus:g} CPU and {gpus:g} GPU; ask for fewer (--ray-workers) or smaller workers"
            )
        self.size, self.cpus_per_worker, self.gpus_per_worker = size, cpw, gpw
        self.nodes = len(nodes)
        # a joined cluster may span machines now or later: workers elsewhere fetch what they cannot see
        self._files = self._file_server() if len(nodes) > 1 or options.address != "local" else None
        self._named = 0
        on_event(
            Message(
                f"Ray cluster ({'started here' if self._started_ray else options.address}): {len(nodes)} node(s), "
                f"{cpus:g} CPU, {gpus:g} GPU; up to {size} worker(s) of {cpw:g} CPU"
                + (f" and {gpw:g} GPU" if gpw else "")
            )
        )

    # setup -------------------------------------------------------------------------------------
    def _connect(self) -> None:
        import logging

        ray, address = self.ray, self.options.address
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            with _real_stderr():
                if address == "local":
                    # workers at the driver's priority: Ray's default (nice 15) starves them on a shared machine
                    ray.init(address="local", include_dashboard=False, _system_config={"worker_niceness": 0}, **quiet)
                else:
                    ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            if address == "local":
                raise ClusterError(f"--ray local: Ray did not start here ({first})") from None
            raise ClusterError(
                f"--ray {address}: no Ray cluster to join ({first}); start one with `ray start --head`, "
                "or use --ray local"
            ) from None
        self._started_ray = True

    def _file_server(self):
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = self.ray.get_runtime_context().get_node_id()
        actor = self.ray.remote(num_cpus=0)(FileServer)
        return actor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()

    def _spawn(self, on_event: Optional[EventSink] = None) -> _Slot:
        self._named += 1
        env = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        for name in ("HF_HUB_OFFLINE", "HF_HOME", "SEAL_DESK_HOME"):
            if name in os.environ:
                env[name] = os.environ[name]
        actor = self.ray.remote(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker, max_restarts=0)(Worker)
        handle = actor.remote(self.copier, max(1, int(self.cpus_per_worker)), env, self._files)
        slot = _Slot(f"w{self._named}", handle, handle.start.remote())
        self._slots.append(slot)
        (on_event or self.on_event)(slot.progress("starting"))
        return slot

    def start(self, n: Optional[int] = None, wait: bool = False) -> None:
        """Start workers now (up to `n`, default all) so their models load while the caller does other work;
        `wait`: until they have."""
        while len(self._slots) < min(self.size, n or self.size):
            self._spawn()
        if wait:
            from ray.exceptions import RayError

            for slot in [s for s in self._slots if s.info is None]:
                try:
                    slot.info = self.ray.get(slot.starting)
                except RayError as exc:
                    raise ClusterError(f"worker {slot.name} did not start: {_first_line(exc)}") from None
                self.on_event(slot.progress("idle"))

    @property
    def workers(self) -> list[dict]:
        """The live workers: name, host, pid, device, items done, whether one is in flight, and seconds
        spent scoring (`seconds`), building job states (`setup`) and, on the driver, waiting for results
        (`round_trip`): round_trip − seconds − setup is what Ray added."""
        return [
            {
                "name": s.name,
                **(s.info or {}),
                "done": s.done,
                "busy": s.busy,
                "seconds": s.seconds,
                "setup": s.setup,
                "round_trip": s.round_trip,
            }
            for s in self._slots
        ]

    # scoring -----------------------------------------------------------------------------------
    def map(
        self,
        job: WorkerJob,
        items: Sequence[tuple[Hashable, Any]],
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> Iterator[tuple[Hashable, Any]]:
        """Run `job` on every (key, item); yields (key, result) in completion order.

        Each worker has one item in flight at a time. A worker that dies has its item put back at the
        front of the queue and a fresh worker started in its place; an item whose workers died
        MAX_DEATHS times, or workers that keep dying while they load, end the run (ClusterError).
        An error raised by the job itself ends it too, as that error."""
        from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

        ray, queue = self.ray, deque(items)
        if not queue:
            return
        job_ref = ray.put(job)
        while len(self._slots) < min(self.size, len(queue)):
            self._spawn(on_event)
        pending: dict[Any, tuple] = {}  # ref -> (slot, None) for a start, (slot, (key, item)) for an item
        deaths: Counter = Counter()
        start_failures = 0

        def feed(slot: _Slot) -> None:
            slot.busy = bool(queue)
            if queue:
                key, item = queue.popleft()
                slot.sent = time.perf_counter()
                pending[slot.handle.run.remote(job_ref, item)] = (slot, (key, item))

        for slot in self._slots:
            if slot.info is None:
                pending[slot.starting] = (slot, None)
            else:
                feed(slot)
        remaining, waited_since, noted = len(items), time.monotonic(), False
        try:
            while remaining:
                if cancel is not None:
                    cancel.check()
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                if not ready:
                    if not noted and time.monotonic() - waited_since > WAIT_NOTE_S and self._unplaceable(pending):
                        noted = True
                        on_event(
                            Message(
                                f"waiting for Ray to place a worker ({self.cpus_per_worker:g} CPU, "
                                f"{self.gpus_per_worker:g} GPU each); cluster: {ray.available_resources()}",
                                "warning",
                            )
                        )
                    continue
                waited_since = time.monotonic()
                slot, work = pending.pop(ready[0])
                try:
                    value = ray.get(ready[0])
                except (RayActorError, WorkerCrashedError) as exc:
                    self._slots.remove(slot)
                    slot.busy = False
                    _kill(ray, slot.handle)
                    on_event(slot.progress("died"))
                    what = "while starting" if work is None else "its passage is re-queued"
                    on_event(Message(f"worker {slot.name} died ({_first_line(exc)}); {what}", "warning"))
                    if work is None:
                        start_failures += 1
                        if start_failures >= MAX_DEATHS:
                            raise ClusterError(f"Ray workers keep dying while they start: {_first_line(exc)}") from None
                    else:
                        deaths[work[0]] += 1
                        if deaths[work[0]] >= MAX_DEATHS:
                            raise ClusterError(
                                f"a passage's worker died {MAX_DEATHS} times (out of memory?): {_first_line(exc)}"
                            ) from None
                        queue.appendleft(work)
                    for idle in [s for s in self._slots if s.info is not None and not s.busy]:
                        feed(idle)
                    if queue and len(self._slots) < self.size:
                        new = self._spawn(on_event)
                        pending[new.starting] = (new, None)
                    elif not pending and queue:
                        raise ClusterError("no Ray worker left to score on") from None
                    continue
                except RayTaskError as exc:
                    raise _cause(exc) from None
                if work is None:
                    slot.info = value
                    on_event(slot.progress("idle"))
                    feed(slot)
                    continue
                result, seconds, setup = value
                slot.done += 1
                slot.seconds += seconds
                slot.setup += setup
                slot.round_trip += time.perf_counter() - slot.sent
                remaining -= 1
                feed(slot)
                on_event(slot.progress("busy" if slot.busy else "idle"))
                yield work[0], result
        finally:  # ended early (cancelled, an error, the caller stopped): none of its items is ours any more
            for slot, work in pending.values():
                if work is not None:
                    slot.busy = False

    def _unplaceable(self, pending: dict) -> bool:
        """Only worker starts are pending and the cluster has no room for one (a start still loading its
        model holds its resources already)."""
        if any(work is not None for _, work in pending.values()):
            return False
        free = self.ray.available_resources()
        return free.get("CPU", 0.0) < self.cpus_per_worker or free.get("GPU", 0.0) < self.gpus_per_worker

    def close(self) -> None:
        for slot in self._slots:
            _kill(self.ray, slot.handle)
        self._slots = []
        if self._files is not None:
            _kill(self.ray, self._files)
            self._files = None
        if self._started_ray:
            self.ray.shutdown()
            self._started_ray = False

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def opened(
    options: Optional[ClusterOptions | Cluster], copier, on_event: EventSink = ignore
) -> Iterator[Optional[Cluster]]:
    """A Cluster for `options`, closed on the way out; None: no cluster (score here); an open Cluster:
    that one, left open (its workers stay warm for the caller's next run; it must hold `copier`'s model)."""
    if isinstance(options, Cluster) and copier is not None and hasattr(copier, "portable"):
        wanted, held = _absolute(copier.portable()), options.copier
        if (wanted.model, _learner_of(wanted), wanted.quant) != (held.model, _learner_of(held), held.quant):
            raise InputError(
                f"the open cluster's workers hold {held.model} (learner {held.learner}, quant {held.quant or 'auto'}), "
                f"not {wanted.model} (learner {wanted.learner}, quant {wanted.quant or 'auto'})"
            )
    if options is None or isinstance(options, Cluster):
        yield options
        return
    with Cluster(options, copier, on_event) as cluster:
        yield cluster


def _learner_of(copier) -> str:
    """The learner a copier's model gets merged: its folder, or "none" (None stands for the preset's)."""
    if copier.learner is not None:
        return copier.learner
    from seal_desk.model.loader import learner_folder
    from seal_desk.model.source import resolve

    try:
        folder = learner_folder(resolve(copier.model), None)
    except SealDeskError:
        return "the preset's"
    return str(folder.resolve()) if folder is not None else "none"


def _absolute(copier):
    """The copier with local paths made absolute (the workers' working folders differ)."""
    fields = {}
    for name in ("model", "learner"):
        value = getattr(copier, name, None)
        if value and value != "none" and Path(value).expanduser().exists():
            fields[name] = str(Path(value).expanduser().resolve())
    return replace(copier, **fields) if fields else copier


_devnull = None


@contextmanager
def _real_stderr() -> Iterator[None]:
    """sys.stderr with a real file descriptor inside (ray.init hands it to faulthandler). A face that
    captures it (the TUI: Textual's stand-in has none) gets the null device meanwhile, kept open for
    good: faulthandler holds on to it."""
    import sys

    global _devnull
    try:
        valid = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        valid = False
    if valid:
        yield
        return
    if _devnull is None:
        _devnull = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    captured, sys.stderr = sys.stderr, _devnull
    try:
        yield
    finally:
        sys.stderr = captured


def _kill(ray, handle) -> None:
    try:
        ray.kill(handle, no_restart=True)
    except Exception:  # already gone
        pass


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _cause(exc) -> BaseException:
    """A worker's own error: a SealDeskError as itself (one line), anything else with its traceback."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, SealDeskError):
        return cause
    try:
        return exc.as_instanceof_cause()
    except Exception:  # pragma: no cover
        return exc


__all__ = [
    "INSTALL",
    "Cluster",
    "ClusterOptions",
    "FileServer",
    "Worker",
    "WorkerJob",
    "opened",
    "require_ray",
    "requested",
    "requesting",
]
