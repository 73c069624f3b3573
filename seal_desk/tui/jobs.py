"""Background jobs: every model action runs in a thread worker and talks back through messages.

A job is one unit of work (load the model, write self-edits, learn, ask, ...). Its function runs
in a Textual thread worker; the engine's typed events and the outcome travel back to the UI thread
as messages posted to the app (`post_message` is thread-safe), where the job's callbacks run.
Jobs that use the model take the model lock, so they run one at a time in the order started;
each carries a `CancelToken` the engine checks between steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Optional

from textual.message import Message

from seal_desk.events import CancelToken, Event

_ids = count(1)


@dataclass(eq=False)
class Job:
    kind: str  # "load" | "documents" | "generate" | "learn" | "ask" | "adapter" | "export" | "questions"
    title: str  # shown in the status bar and in notifications
    cancellable: bool = True
    needs_model: bool = True  # wait for the engine to be loaded
    lock_model: bool = True  # hold the model lock while running (one model job at a time)
    on_start: Optional[Callable[[], None]] = None  # called on the UI thread once the job got the model
    on_event: Optional[Callable[[Event], None]] = None  # called on the UI thread
    on_done: Optional[Callable[[Any], None]] = None  # called on the UI thread with the result
    on_end: Optional[Callable[[str], None]] = None  # called on the UI thread: "done" | "failed" | "cancelled"
    cancel: CancelToken = field(default_factory=CancelToken)
    state: str = "queued"  # queued | running | done | failed | cancelled
    id: int = field(default_factory=lambda: next(_ids))
    post: Callable[[Message], Any] = field(default=lambda _m: None, repr=False)

    def emit(self, event: Event) -> None:
        """The EventSink handed to the engine (called on the worker thread)."""
        self.post(JobEvent(self, event))

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


class JobEvent(Message):
    """An engine event from a running job."""

    def __init__(self, job: Job, event: Event) -> None:
        super().__init__()
        self.job = job
        self.event = event


class JobStarted(Message):
    """A job got the model and started working."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job


class JobFinished(Message):
    """A job ended: `error` is a one-line message when it failed; `cancelled` when the user stopped it."""

    def __init__(self, job: Job, result: Any = None, error: Optional[str] = None, cancelled: bool = False) -> None:
        super().__init__()
        self.job = job
        self.result = result
        self.error = error
        self.cancelled = cancelled
