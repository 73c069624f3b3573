"""The guide bar: one line above the footer that says what to press next in the guided first run."""

from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.widgets import Static


class GuideBar(Static):
    """Hidden unless a guide runs (see tui/guide.py)."""

    def on_mount(self) -> None:
        self.display = False

    def show(self, text: Optional[str]) -> None:
        self.display = bool(text)
        self.update(Text(text or ""))
