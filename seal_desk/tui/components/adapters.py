"""Saved adapters (activate, delete, export) and an ask box to query the model with or without one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, RichLog, Select

from seal_desk.errors import InputError
from seal_desk.tui.formatting import one_line
from seal_desk.tui.host import host
from seal_desk.tui.jobs import Job
from seal_desk.tui.messages import (
    ActivateAdapterRequested,
    DeactivateAdapterRequested,
    DeleteAdapterRequested,
    ExportAdapterRequested,
)

if TYPE_CHECKING:
    from seal_desk.workspace.database import AdapterRecord

BASE = -1  # the ask box's "base model" choice


class AdaptersPane(Vertical):
    _active: Optional[int] = None

    BINDINGS = [
        Binding("space", "toggle_active", "Activate"),
        Binding("x", "export", "Export"),
        Binding("d,delete", "delete", "Delete"),
    ]

    def compose(self) -> ComposeResult:
        yield Label("Saved adapters (in the table: space activate/deactivate · x export · d delete)", classes="section")
        yield DataTable(id="adapter-table", cursor_type="row")
        yield Label("Ask the model", classes="section")
        with Horizontal(id="ask-row"):
            yield Select([("base model", BASE)], value=BASE, allow_blank=False, compact=True, id="ask-adapter")
            yield Input(
                placeholder="Ask anything, e.g. Who founded Zorblat Industries?  (enter)", compact=True, id="ask-input"
            )
        yield RichLog(id="ask-log", wrap=True, markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#adapter-table", DataTable)
        for col in ("", "id", "name", "document", "model", "folder"):
            table.add_column(col, key=col or "active")
        host(self).workspace_changed.subscribe(self, self._workspace_changed)
        self.refresh_adapters()

    def _workspace_changed(self, topic: str) -> None:
        if topic in ("adapters", "documents", "engine"):
            self.refresh_adapters()

    # table -------------------------------------------------------------------------------------
    def refresh_adapters(self) -> None:
        ws = host(self).workspace
        table = self.query_one("#adapter-table", DataTable)
        current = self.selected_id
        table.clear()
        titles = {d["id"]: d["title"] for d in ws.documents()}
        records = ws.adapters()
        engine = host(self).engine
        for a in records:
            other_model = engine is not None and a.model != engine.loaded.name
            table.add_row(
                Text("●", style="bold green") if a.active else Text(""),
                f"#{a.id}",
                Text(one_line(a.name, 28)),
                Text(one_line(titles.get(a.document_id, "—"), 24)) if a.document_id else "—",
                Text(a.model, style="dim" if not other_model else "red"),
                Text(Path(a.path).name),
                key=str(a.id),
            )
        ids = [a.id for a in records]
        if current in ids:
            table.move_cursor(row=ids.index(current), animate=False)
        select = self.query_one("#ask-adapter", Select)
        chosen = select.value
        options = [("base model", BASE)] + [(one_line(f"adapter #{a.id} {a.name}", 30), a.id) for a in records]
        select.set_options(options)
        active = next((a.id for a in records if a.active), None)
        if active != self._active or chosen not in ids:
            select.value = active if active is not None else BASE  # follow a newly activated adapter
        else:
            select.value = chosen
        self._active = active

    @property
    def selected_id(self) -> Optional[int]:
        table = self.query_one("#adapter-table", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return int(key.value) if key.value is not None else None

    def _record(self) -> Optional[AdapterRecord]:
        adapter_id = self.selected_id
        if adapter_id is None:
            self.app.notify("No adapter selected: teach the model a document first.", severity="warning")
            return None
        return host(self).workspace.adapter(adapter_id)

    # actions -----------------------------------------------------------------------------------
    def action_toggle_active(self) -> None:
        record = self._record()
        if record is None:
            return
        if record.active:
            self.post_message(DeactivateAdapterRequested(record.id))
        else:
            self.post_message(ActivateAdapterRequested(record.id))

    @on(DataTable.RowSelected, "#adapter-table")
    def _row_selected(self) -> None:
        self.action_toggle_active()

    def action_delete(self) -> None:
        record = self._record()
        if record is None:
            return
        from seal_desk.tui.dialogs.confirm import Confirm

        def confirmed(yes: Optional[bool]) -> None:
            if yes:
                self.post_message(DeleteAdapterRequested(record.id))

        self.app.push_screen(
            Confirm(
                f"Delete adapter #{record.id} '{record.name}'?", "Its folder in the workspace is removed too.", "Delete"
            ),
            confirmed,
        )

    def action_export(self) -> None:
        record = self._record()
        if record is None:
            return
        from seal_desk.tui.dialogs.export import ExportDialog

        def chosen(result: Optional[tuple[str, bool]]) -> None:
            if result:
                self.post_message(ExportAdapterRequested(record.id, Path(result[0]).expanduser(), result[1]))

        self.app.push_screen(ExportDialog(record.id, record.name), chosen)

    # ask ---------------------------------------------------------------------------------------
    @on(Input.Submitted, "#ask-input")
    def _ask(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        if not prompt:
            return
        value = self.query_one("#ask-adapter", Select).value
        adapter_id = value if isinstance(value, int) and value != BASE else None
        label = "base model" if adapter_id is None else f"adapter #{adapter_id}"
        app = host(self)

        def work(job: Job) -> str:
            engine = app.require_engine()
            name = None
            if adapter_id is not None:
                record = app.workspace.adapter(adapter_id)
                if record.model != engine.loaded.name:
                    raise InputError(
                        f"adapter #{adapter_id} was trained on {record.model}; the loaded model is {engine.loaded.name}"
                    )
                name = engine.load_adapter(adapter_id)
            return engine.ask(prompt, name)

        log = self.query_one("#ask-log", RichLog)
        job = Job(
            "ask",
            f"Asking the {label}",
            on_done=lambda reply: log.write(Text.assemble((f"{label}: ", "bold cyan"), reply or "(no answer)")),
        )
        if host(self).start_job(job, work) is not None:
            log.write(Text.assemble(("› ", "bold"), (prompt, "bold")))
            event.input.value = ""
