"""`seal-desk update DIR`: learn only the documents that are new or changed since the last run.

Each learned file version is a row of the workspace's `continual_updates` (path, sha256 of the
file's bytes, its document, adapter and training sequences), kept per model and strategy: the next
run learns only files whose hash differs, and the strategy picks up where the last run left it
(`Strategy.resume`). One run at a time: a lock file in the workspace, never waited for, so a run
started while another holds it (cron overlapping itself) stops at once with exit code 2. A file
that cannot be read, is empty or cannot be learned is reported and skipped; the others go on.
A learned file that is no longer in the folder is reported as gone; what it taught stays learned.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from seal_desk.config import ContinualConfig
from seal_desk.errors import Cancelled, InputError, SealDeskError
from seal_desk.events import CancelToken, EventSink, FileUpdated, Progress, ignore

LOCK = "update.lock"
STATUSES = ("learned", "unchanged", "failed", "gone")


@dataclass
class FileOutcome:
    path: str
    status: str  # "learned" | "unchanged" | "failed" | "gone"
    detail: str = ""
    passages: int = 0
    sequences: int = 0
    seconds: float = 0.0
    adapter_id: Optional[int] = None


def file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def update_folder(
    ws,
    folder: str | Path,
    model: str,
    load_engine: Callable,
    strategy: str = ContinualConfig.strategy,
    cfg: ContinualConfig = ContinualConfig(),
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> list[FileOutcome]:
    """Learn the new and changed files under `folder` with `strategy`; the model is loaded only if needed."""
    from seal_desk.knowledge.documents import iter_files, read_source
    from seal_desk.workspace.lock import exclusive

    with exclusive(ws.folder / LOCK, "seal-desk update"):
        records = ws.updates(model, strategy)
        known = {r.path: r.sha256 for r in records if r.current}
        outcomes: dict[str, FileOutcome] = {}
        todo = []
        for path in iter_files([folder]):
            key = str(path.resolve())
            try:
                sha = file_hash(path)
            except InputError as exc:
                outcomes[key] = _report(FileOutcome(key, "failed", str(exc)), on_event)
                continue
            if known.get(key) == sha:
                outcomes[key] = _report(FileOutcome(key, "unchanged"), on_event)
                continue
            try:  # read before the model loads: files that cannot be read fail at once, without it
                source = read_source(path)
            except InputError as exc:
                outcomes[key] = _report(FileOutcome(key, "failed", str(exc)), on_event)
                continue
            outcomes[key] = FileOutcome(key, "pending", "changed" if key in known else "new")
            todo.append((source, key, sha))
        root = Path(folder).resolve()
        for r in records:
            if (
                r.current
                and r.path not in outcomes
                and Path(r.path).is_relative_to(root)
                and not Path(r.path).exists()
                and _still_held(ws, strategy, r.adapter_id)
            ):
                outcomes[r.path] = _report(
                    FileOutcome(r.path, "gone", gone_detail(strategy, r.adapter_id), adapter_id=r.adapter_id), on_event
                )
        if todo:
            _learn_all(ws, load_engine(), strategy, cfg, records, todo, outcomes, on_event, cancel)
    return list(outcomes.values())


def counts(outcomes) -> dict[str, int]:
    """How many outcomes have each status."""
    return {s: sum(o.status == s for o in outcomes) for s in STATUSES}


def _still_held(ws, strategy: str, adapter_id: Optional[int]) -> bool:
    """Whether a deleted file's knowledge is still in use (under `adapters`: its adapter still exists)."""
    if strategy != "adapters":
        return True
    if adapter_id is None:  # deleted (the workspace clears the link)
        return False
    try:
        ws.adapter(adapter_id)
    except InputError:
        return False
    return True


def gone_detail(strategy: str, adapter_id: Optional[int]) -> str:
    """What still holds a deleted file's knowledge, and how to drop it."""
    if strategy == "adapters" and adapter_id is not None:
        return (
            f"no longer in the folder; its adapter #{adapter_id} still answers (seal-desk adapters delete {adapter_id})"
        )
    return f"no longer in the folder; what it taught stays in the {strategy} weights"


def check_learner(ws, engine, records) -> None:
    """Updates stack (replay, merge) or answer together (adapters): all must be on the same weights, so a model
    with another learner merged than the one earlier updates were learned on is a one-line InputError."""
    from seal_desk.engine import learner_id

    now = learner_id(engine.loaded) or "none"
    for record in records:
        if record.adapter_id is None:
            continue
        try:
            was = ws.adapter(record.adapter_id).config.get("learner") or "none"  # before learners: none
        except InputError:
            continue
        if was != now:
            raise InputError(
                f"this workspace's updates were learned with learner {was}, the model now has {now} "
                "(load the model with that learner: --learner DIR, none, or the preset's by default; "
                "or use another workspace)"
            )


def _learn_all(ws, engine, strategy, cfg, records, todo, outcomes, on_event, cancel) -> None:
    from seal_desk.continual.strategies import make

    check_learner(ws, engine, records)
    run_id = ws.start_run("update", engine.loaded.name, engine.run_config.to_dict() | {"strategy": strategy})
    status = "failed"
    try:
        with make(strategy, engine, cfg) as learner:
            learner.resume(_history(ws, records), on_event)
            for i, (source, key, sha) in enumerate(todo):
                on_event(Progress("files", i, len(todo), Path(source.path).name))
                started = time.perf_counter()
                try:
                    outcome = _learn_file(ws, engine, learner, source, key, sha, records, on_event, cancel)
                except (Cancelled, KeyboardInterrupt):
                    raise
                except (SealDeskError, OSError) as exc:
                    outcome = FileOutcome(key, "failed", str(exc))
                outcome.seconds = time.perf_counter() - started
                outcomes[key] = _report(outcome, on_event)
                records = ws.updates(engine.loaded.name, strategy)
            on_event(Progress("files", len(todo), len(todo), "done"))
        status = "done"
    except (Cancelled, KeyboardInterrupt):
        status = "cancelled"
        raise
    finally:
        summary = counts(outcomes.values()) | {"strategy": strategy}
        if status == "done":
            ws.finish_run(run_id, status, summary)
        else:  # ending on an error: recording it must not replace it
            ws.end_run(run_id, status, summary)


def _learn_file(ws, engine, learner, source, key: str, sha: str, records, on_event, cancel) -> FileOutcome:
    from seal_desk.continual.strategies import document_sequences
    from seal_desk.engine import learner_id
    from seal_desk.knowledge.documents import to_document

    doc = to_document(source, max_tokens=engine.passage_budget, count_tokens=engine.count_tokens)
    doc.path = key
    sequences = document_sequences(engine, doc.passages, on_event=on_event, cancel=cancel)
    folder = ws.new_adapter_path(f"{learner.name}-{doc.title}")
    try:
        update = learner.learn(key, doc.passages, sequences, folder, on_event, cancel)
    except BaseException:
        ws.release_adapter_path(folder)
        raise
    config = {
        "model": engine.loaded.name,
        "learner": learner_id(engine.loaded),
        "inner": asdict(engine.run_config.inner),
        "continual": learner.name,
    }
    _, adapter_id = ws.record_update(
        engine.loaded.name, learner.name, key, sha, doc, (doc.title, folder, update.adapter_sha, config), sequences
    )
    for old in _obsolete(learner.name, key, records):
        ws.delete_adapter(old)
    detail = outcome_detail(learner.name, any(r.path == key for r in records))
    return FileOutcome(key, "learned", detail, len(doc.passages), len(sequences), adapter_id=adapter_id)


def _obsolete(strategy: str, key: str, records) -> list[int]:
    """Adapters a new update supersedes: the file's previous one (adapters) or the last growing one (replay)."""
    if strategy == "adapters":
        return [r.adapter_id for r in records if r.path == key and r.adapter_id is not None]
    if strategy == "replay":
        return [r.adapter_id for r in records if r.adapter_id is not None]
    return []  # merge: every update stays in the weights, so its adapter stays too


def outcome_detail(strategy: str, changed: bool) -> str:
    if not changed:
        return "new"
    if strategy == "merge":
        return "changed (the earlier version stays merged in)"
    return "changed (replaces the earlier version)"


def _history(ws, records) -> list:
    from seal_desk.continual.strategies import Learned

    out = []
    for r in records:
        passages = ws.document(r.document_id).passages if r.document_id is not None else []
        path = ws.adapter(r.adapter_id).path if r.adapter_id is not None else None
        out.append(Learned(r.path, passages, r.sequences, path, r.current))
    return out


def _report(outcome: FileOutcome, on_event: EventSink) -> FileOutcome:
    on_event(FileUpdated(outcome.path, outcome.status, outcome.detail))
    return outcome
