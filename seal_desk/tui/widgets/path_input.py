"""A path input that completes files and folders as you type (tab or → accepts the suggestion)."""

from __future__ import annotations

import os
from pathlib import Path

from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets import Input

from seal_desk.knowledge.inputs import INPUT_SUFFIXES


class PathSuggester(Suggester):
    """Suggest the first folder entry that extends what was typed (folders end with '/')."""

    def __init__(self, only_supported: bool = True) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.only_supported = only_supported

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, prefix = os.path.split(expanded)
        base = Path(folder or ".")
        try:
            entries = sorted(base.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
        except OSError:
            return None
        for entry in entries:
            name = entry.name
            if not name.startswith(prefix) or name == prefix and not entry.is_dir():
                continue
            if name.startswith(".") and not prefix.startswith("."):
                continue
            is_dir = entry.is_dir()
            if not is_dir and self.only_supported and entry.suffix.lower() not in INPUT_SUFFIXES:
                continue
            completed = name + ("/" if is_dir else "")
            if name == prefix and is_dir and value.endswith("/"):
                continue
            return value + completed[len(prefix) :]
        return None


class PathInput(Input):
    """An Input with path completion; tab accepts the suggestion (or moves focus when there is none)."""

    BINDINGS = [Binding("tab", "complete", "Complete path", show=False)]

    def __init__(self, *args, only_supported: bool = True, **kwargs) -> None:
        kwargs.setdefault("suggester", PathSuggester(only_supported))
        super().__init__(*args, **kwargs)

    def action_complete(self) -> None:
        suggestion = self._suggestion
        if suggestion and len(suggestion) > len(self.value) and suggestion.startswith(self.value):
            self.value = suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()
