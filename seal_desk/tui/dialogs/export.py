"""Export an adapter: the PEFT folder as is, or the base model with the adapter merged in."""

from __future__ import annotations

from typing import Optional

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Switch

from seal_desk.tui.widgets.path_input import PathInput


class ExportDialog(ModalScreen[Optional[tuple[str, bool]]]):
    """Returns (target folder, merged), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, adapter_id: int, name: str) -> None:
        super().__init__()
        self.adapter_id = adapter_id
        self.adapter_name = name

    def compose(self) -> ComposeResult:
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.adapter_name)[:30].strip("-")
        with Vertical(classes="dialog"):
            yield Label(f"Export adapter #{self.adapter_id}", classes="dialog-title")
            yield Label("Target folder (must not exist, or be empty)", classes="field-label")
            yield PathInput(f"./export-{self.adapter_id}-{safe or 'adapter'}", only_supported=False, id="export-path")
            with Horizontal(classes="switch-row"):
                yield Switch(False, id="export-merged")
                yield Label(
                    "merged: the base model with the adapter folded in (full weights, safetensors)",
                    classes="switch-label",
                )
            yield Label("off: the PEFT adapter folder (adapter_config.json + adapter_model.safetensors)", classes="dim")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="export-go")
                yield Button("Cancel", id="export-cancel")

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-go")
    def _go(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        if not path:
            self.notify("Give a target folder.", severity="error")
            return
        self.dismiss((path, self.query_one("#export-merged", Switch).value))

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
