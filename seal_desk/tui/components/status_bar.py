"""One line at the top: the model and its state (with load progress), the running job, the adapter."""

from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from seal_desk.events import Progress


class StatusBar(Horizontal):
    def compose(self) -> ComposeResult:
        yield Label(Text("◆ seal-desk", style="bold"), id="sb-brand")
        yield Label("", id="sb-model")
        yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="sb-progress")
        yield Label("", id="sb-state")
        yield Label("", id="sb-job")
        yield Label("", id="sb-adapter")

    def set_model(self, name: str, detail: str = "") -> None:
        self.query_one("#sb-model", Label).update(
            Text.assemble((name, "bold"), (f" {detail}" if detail else "", "dim"))
        )

    def set_loading(self, event: Optional[Progress] = None, text: str = "loading…") -> None:
        bar = self.query_one("#sb-progress", ProgressBar)
        bar.display = True
        if event is not None and event.total:
            bar.update(total=event.total, progress=event.completed)
            text = event.detail or text
        self.query_one("#sb-state", Label).update(Text(text[:48], style="yellow"))

    def set_ready(self) -> None:
        self.query_one("#sb-progress", ProgressBar).display = False
        self.query_one("#sb-state", Label).update(Text("● ready", style="green"))

    def set_failed(self, message: str) -> None:
        self.query_one("#sb-progress", ProgressBar).display = False
        self.query_one("#sb-state", Label).update(Text("✘ model not loaded (Settings → Reload)", style="bold red"))
        self.tooltip = message

    def set_job(self, text: Optional[str]) -> None:
        self.query_one("#sb-job", Label).update(Text(f"▶ {text}", style="bold cyan") if text else "")

    def set_adapter(self, text: Optional[str]) -> None:
        self.query_one("#sb-adapter", Label).update(Text(text, style="magenta") if text else Text("base", style="dim"))
