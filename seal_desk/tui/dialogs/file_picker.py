"""Browse for a file or folder to add to the library (or, `documents=False`, for any file: a questions file)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Optional

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Label

from seal_desk.knowledge.inputs import INPUT_SUFFIXES


class DocumentDirectoryTree(DirectoryTree):
    """Folders and supported documents only (`any_file`: every file); hidden entries left out."""

    any_file = False

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".") and (p.is_dir() or self.any_file or p.suffix.lower() in INPUT_SUFFIXES)
        ]


class FilePicker(ModalScreen[Optional[str]]):
    """Enter on a file adds it; 'Add folder' adds the highlighted folder with everything in it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("backspace", "up", "Parent folder")]

    def __init__(self, start: str | Path | None = None, title: str = "Add documents", documents: bool = True) -> None:
        super().__init__()
        self.start = Path(start or Path.cwd())
        self.highlighted: Optional[Path] = None
        self.heading = title
        self.documents = documents  # False: pick one file of any kind (no folders)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.heading, classes="dialog-title")
            yield Label(str(self.start), id="picker-where", classes="dim")
            tree = DocumentDirectoryTree(self.start, id="picker-tree")
            tree.any_file = not self.documents
            yield tree
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add file" if self.documents else "Import", variant="primary", id="picker-file")
                if self.documents:
                    yield Button("Add folder", id="picker-folder")
                yield Button("Parent", id="picker-up")
                yield Button("Cancel", id="picker-cancel")

    def on_mount(self) -> None:
        self.query_one(DocumentDirectoryTree).focus()

    @on(DirectoryTree.FileSelected)
    def _file(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(str(event.path))

    @on(DirectoryTree.NodeHighlighted)
    def _highlight(self, event: DirectoryTree.NodeHighlighted) -> None:
        data = event.node.data
        self.highlighted = Path(data.path) if data is not None else None

    @on(Button.Pressed, "#picker-file")
    def _add_file(self) -> None:
        if self.highlighted is None or self.highlighted.is_dir():
            self.notify(
                "Highlight a file, or use 'Add folder'." if self.documents else "Highlight a file.", severity="warning"
            )
            return
        self.dismiss(str(self.highlighted))

    @on(Button.Pressed, "#picker-folder")
    def _add_folder(self) -> None:
        target = self.highlighted or self.start
        self.dismiss(str(target if target.is_dir() else target.parent))

    @on(Button.Pressed, "#picker-up")
    def action_up(self) -> None:
        tree = self.query_one(DocumentDirectoryTree)
        parent = Path(tree.path).resolve().parent
        tree.path = parent
        self.query_one("#picker-where", Label).update(str(parent))

    @on(Button.Pressed, "#picker-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
