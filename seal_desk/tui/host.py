"""What a pane may use of the app it lives in: the `PaneHost` protocol, obtained with `host(widget)`.

Panes read shared state and start the jobs they own through it; for anything else they post a
message (messages.py). They never import the app, so the dependencies point one way: app → panes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional, Protocol, cast

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.signal import Signal

    from seal_desk.config import SealConfig
    from seal_desk.engine import Engine
    from seal_desk.tui.drafts import Drafts
    from seal_desk.tui.jobs import Job
    from seal_desk.workspace.database import Workspace


class PaneHost(Protocol):
    """Shared state and the job runner. `document_id` is a reactive: watch it with
    `self.watch(self.app, "document_id", ...)`; change it by posting `DocumentSelected`."""

    @property
    def workspace(self) -> Workspace: ...

    @property
    def workspace_changed(self) -> Signal[str]:
        """Published with a topic ("documents", "questions", "runs", "adapters", "engine", "config")."""
        ...

    @property
    def document_id(self) -> Optional[int]: ...

    @property
    def drafts(self) -> Drafts: ...

    @property
    def engine(self) -> Optional[Engine]: ...

    @property
    def model_choice(self) -> str: ...

    @property
    def device_name(self) -> str: ...

    def current_config(self) -> SealConfig: ...

    def require_engine(self) -> Engine:
        """The loaded engine, or ModelError (call it from a job's work)."""
        ...

    def start_job(self, job: Job, work: Callable[[Job], Any]) -> Optional[Job]:
        """Run `work(job)` in a thread worker; None (and a warning) if a job of that kind is pending."""
        ...

    def job_running(self, kind: str) -> bool: ...

    def has_cancellable_job(self) -> bool: ...


def host(node: DOMNode) -> PaneHost:
    """The app `node` is mounted in, as seen by a pane."""
    return cast(PaneHost, node.app)
