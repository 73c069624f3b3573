"""Typed events the engine emits; the CLI and the TUI consume the same stream."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, Union

from seal_desk.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """A phase advanced: `completed` of `total` units (total None when unknown)."""

    task: str
    completed: int
    total: Optional[int] = None
    detail: str = ""


@dataclass(frozen=True)
class TokenGenerated:
    """New text for generated sample `sample` (streamed self-edits)."""

    sample: int
    text: str


@dataclass(frozen=True)
class TrainStep:
    step: int
    total_steps: int
    epoch: int
    epochs: int
    loss: float
    lr: float
    tokens: int
    elapsed: float


@dataclass(frozen=True)
class AnswerGraded:
    """One closed-book answer was produced and graded."""

    phase: str  # "before" | "after" | any bench condition
    question: str
    gold: str
    answer: str
    correct: bool
    index: int
    total: int


@dataclass(frozen=True)
class Message:
    text: str
    level: str = "info"  # "info" | "warning" | "error"


@dataclass(frozen=True)
class RewardScored:
    """Outer loop: one passage's candidate self-edits were scored (rewards = mean recall over seeds)."""

    round: int
    index: int  # passage position within the round
    passages: int
    title: str
    baseline: float
    rewards: tuple[float, ...]
    kept: bool
    resumed: bool = False  # read back from the workspace, not recomputed


@dataclass(frozen=True)
class RoundFinished:
    """Outer loop: a round's generator SFT is done (or skipped when nothing was kept)."""

    round: int
    kept: int
    passages: int
    mean_reward: float
    mean_baseline: float
    generator: Optional[str]
    sft_loss: Optional[float]


@dataclass(frozen=True)
class WorkerProgress:
    """Cluster (`--ray`): a scoring worker started, finished a passage, or died (its passage is re-queued)."""

    worker: str  # "w1", "w2", … (a replacement for a dead worker gets the next name)
    passages_done: int
    seconds_per_passage: float  # mean time of its passages inside the worker (0.0 before the first)
    host: str = ""
    device: str = ""  # e.g. "cuda · nf4" or "cpu · fp32"
    state: str = "busy"  # "starting" | "busy" | "idle" | "died"

    @property
    def passages_per_hour(self) -> float:
        return 3600.0 / self.seconds_per_passage if self.seconds_per_passage > 0 else 0.0


@dataclass(frozen=True)
class ContinualRecall:
    """Continual learning: after update `update` (0-based), recall on every document learned so far."""

    strategy: str
    update: int
    updates: int
    title: str  # the document just learned
    accuracies: tuple[float, ...]  # one per document learned so far, in learning order
    probe: Optional[float] = None  # accuracy on the general-knowledge probe set, when there is one


@dataclass(frozen=True)
class FileUpdated:
    """`seal-desk update`: one file was learned, left as it was, failed, or is gone from the folder."""

    path: str
    status: str  # "learned" | "unchanged" | "failed" | "gone"
    detail: str = ""


@dataclass(frozen=True)
class ArcTaskScored:
    """Few-shot mode: one ARC task was attempted under a condition and graded (exact match)."""

    condition: str  # "icl" | "ttt" | "seal" | "oracle" | "config" | a bench row
    task_id: str
    index: int  # task position in the run
    total: int
    config: Optional[str]  # the config's canonical JSON (None: in-context only, or an invalid config)
    valid: bool  # False: the self-edit was not a usable config (scored 0)
    solved: Optional[bool]  # every test output exactly right; None when the outputs are unknown
    predictions: tuple  # the predicted grid (tuple of row tuples) or None, per test input
    seconds: float


Event = Union[
    Progress,
    TokenGenerated,
    TrainStep,
    AnswerGraded,
    Message,
    RewardScored,
    RoundFinished,
    WorkerProgress,
    ContinualRecall,
    FileUpdated,
    ArcTaskScored,
]
EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The default sink: drop events."""


class CancelToken:
    """Cooperative cancellation, checked by the engine between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user; nothing partial was kept")


NEVER = CancelToken()
