"""What panes ask of the app: Textual messages posted by a pane and handled by `SealDeskApp.on_...`.

The app owns the model and the workspace-wide state, so a pane never calls it: it posts one of these
and the message bubbles up to the app, which starts the work (one model job at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from textual.message import Message

if TYPE_CHECKING:
    from seal_desk.arc.self_edit import ArcSelfEdit
    from seal_desk.arc.task import ArcTask
    from seal_desk.config import SealConfig


class DocumentSelected(Message):
    """The user chose the document the Self-edits and Recall tabs work on (None: no document)."""

    def __init__(self, doc_id: Optional[int]) -> None:
        super().__init__()
        self.doc_id = doc_id


class AddDocumentsRequested(Message):
    """Load files or folders into the library (in the background)."""

    def __init__(self, paths: Sequence[str]) -> None:
        super().__init__()
        self.paths = list(paths)


class SampleRequested(Message):
    """Add the bundled sample document with its questions and start the guided first run."""


class ImportQuestionsRequested(Message):
    """Read a questions file (the formats of `--questions`) into a document's passages."""

    def __init__(self, doc_id: int, path: str) -> None:
        super().__init__()
        self.doc_id = doc_id
        self.path = path


class SelfEditsWritten(Message):
    """The model finished writing self-edits for a passage (the guided first run moves on)."""

    def __init__(self, doc_id: int, passage_idx: int, count: int) -> None:
        super().__init__()
        self.doc_id = doc_id
        self.passage_idx = passage_idx
        self.count = count


class RemoveDocumentRequested(Message):
    """Remove a document from the library (already confirmed by the user)."""

    def __init__(self, doc_id: int) -> None:
        super().__init__()
        self.doc_id = doc_id


class QuestionsRequested(Message):
    """Let the model write `n` questions about one passage."""

    def __init__(self, doc_id: int, passage_idx: int, n: int = 5) -> None:
        super().__init__()
        self.doc_id = doc_id
        self.passage_idx = passage_idx
        self.n = n


class LearnRequested(Message):
    """Learn a document: recall before, train a LoRA adapter on the self-edits, recall after.

    `self_edits`: passage index -> the user's picked texts; the model writes the others.
    """

    def __init__(self, doc_id: int, fmt: str, k: int, self_edits: dict[int, list[str]]) -> None:
        super().__init__()
        self.doc_id = doc_id
        self.fmt = fmt
        self.k = k
        self.self_edits = self_edits


class OuterLoopRequested(Message):
    """Run (or resume) ReST-EM on a training file into the run folder `out`; `ray`: score on that Ray
    cluster (auto, local or the head's address; blank: here)."""

    def __init__(self, data: str, out: str, rounds: int, passages: int, k: int, evals: int, ray: str = "") -> None:
        super().__init__()
        self.data = data
        self.out = out
        self.rounds = rounds
        self.passages = passages
        self.k = k
        self.evals = evals
        self.ray = ray


class ArcRequested(Message):
    """Solve one ARC task: mode "icl" (in-context only), "self-edit" (the model writes the config)
    or "config" (the given config)."""

    def __init__(self, task: ArcTask, mode: str, config: Optional[ArcSelfEdit] = None) -> None:
        super().__init__()
        self.task = task
        self.mode = mode
        self.config = config


class ActivateAdapterRequested(Message):
    """Load a saved adapter into the model and make it the active one."""

    def __init__(self, adapter_id: int) -> None:
        super().__init__()
        self.adapter_id = adapter_id


class DeactivateAdapterRequested(Message):
    """Go back to the base model for the ask box."""

    def __init__(self, adapter_id: int) -> None:
        super().__init__()
        self.adapter_id = adapter_id


class DeleteAdapterRequested(Message):
    """Delete a saved adapter and its folder (already confirmed by the user)."""

    def __init__(self, adapter_id: int) -> None:
        super().__init__()
        self.adapter_id = adapter_id


class ExportAdapterRequested(Message):
    """Export an adapter to `target`: its PEFT folder, or the model merged with it (`merged`)."""

    def __init__(self, adapter_id: int, target: Path, merged: bool) -> None:
        super().__init__()
        self.adapter_id = adapter_id
        self.target = target
        self.merged = merged


class SaveSettingsRequested(Message):
    """Save the settings; a new model or device (re)loads the model."""

    def __init__(self, config: SealConfig, model: Optional[str], device: str) -> None:
        super().__init__()
        self.config = config
        self.model = model
        self.device = device


class ReloadModelRequested(Message):
    """Load the model named in Settings again."""


class CancelRequested(Message):
    """Cancel the running cancellable jobs."""


class TabRequested(Message):
    """Show a tab of the main screen (and focus into it)."""

    def __init__(self, tab: str) -> None:
        super().__init__()
        self.tab = tab
