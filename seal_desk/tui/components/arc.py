"""Few-shot mode (ARC): load tasks from an ARC JSON file, see their grids in colour, solve one.

Solve runs `seal_desk.arc.ttt.solve` in a background job: in-context only, with a config the model
writes first (the self-edit, shown as it streams and once parsed), or with a config typed here.
The training loss is plotted live; the prediction is drawn beside the expected output at the end
and the task is marked solved or failed in the list.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, RichLog, Select, Static, TextArea

from seal_desk.arc.self_edit import ArcSelfEdit
from seal_desk.errors import InputError
from seal_desk.events import ArcTaskScored, Event, Message, Progress, TokenGenerated, TrainStep
from seal_desk.tui.formatting import one_line
from seal_desk.tui.messages import ArcRequested, CancelRequested
from seal_desk.tui.widgets.loss_plot import LossPlot

if TYPE_CHECKING:
    from seal_desk.arc.task import ArcTask, Grid
    from seal_desk.arc.ttt import TaskResult

EXAMPLE = "../shared/data/arc/arc-agi_evaluation_challenges_filtered_1B_eval_set.json"
MODES = (("in-context", "icl"), ("self-edit (model writes config)", "self-edit"), ("config JSON below", "config"))
DEFAULT_CONFIG = json.dumps(ArcSelfEdit().to_json(), indent=1)
STATUS = {True: "solved", False: "failed", None: "?"}


def size(grid: Optional[Grid]) -> str:
    return f"{len(grid)}×{len(grid[0])}" if grid else "?"


class ArcPane(Vertical):
    """Load ARC tasks, show the selected one, solve it with the loaded model."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tasks: dict[str, ArcTask] = {}
        self.selected: Optional[str] = None
        self.running: Optional[str] = None  # the task being solved
        self.results: dict[str, Group] = {}  # the last result drawn per task id
        self._stream = ""
        self._epoch = 0

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row", id="arc-row1"):
            yield Label("tasks", classes="row-label")
            yield Input(placeholder=f"ARC challenges JSON, e.g. {EXAMPLE}", id="arc-path", compact=True)
            yield Button("Load", id="arc-load", compact=True)
        with Horizontal(classes="form-row", id="arc-row2"):
            yield Label("mode", classes="row-label")
            yield Select(MODES, value="icl", allow_blank=False, id="arc-mode", compact=True)
            yield Button("Solve", id="arc-solve", variant="primary", compact=True)
            yield Button("Cancel", id="arc-cancel", variant="error", disabled=True, compact=True)
        yield TextArea(DEFAULT_CONFIG, language="json", id="arc-config", soft_wrap=True)
        yield Label(
            "Load a challenges file (its *solutions* file next to it is found), pick a task, Solve.", id="arc-info"
        )
        with Horizontal(id="arc-main"):
            with Vertical(id="arc-left"):
                yield DataTable(id="arc-tasks", cursor_type="row", zebra_stripes=True)
                yield LossPlot(id="arc-loss")
            with VerticalScroll(id="arc-view"):
                yield Static("", id="arc-result")  # above the grids: in view when the solve ends
                yield Static(Text("no task loaded", style="dim"), id="arc-task")
        yield RichLog(id="arc-log", markup=False, wrap=True, max_lines=500)

    def on_mount(self) -> None:
        table = self.query_one("#arc-tasks", DataTable)
        table.add_column("task", key="task")
        table.add_column("demos", key="demos")
        table.add_column("sizes", key="sizes")
        table.add_column("status", key="status")
        self.query_one("#arc-config", TextArea).display = False
        self._show_result(None)

    # loading -----------------------------------------------------------------------------------
    @on(Input.Submitted, "#arc-path")
    @on(Button.Pressed, "#arc-load")
    def load(self) -> None:
        raw = self.query_one("#arc-path", Input).value.strip()
        if not raw:
            self.app.notify(f"Give an ARC challenges JSON file, e.g. {EXAMPLE}", severity="warning")
            return
        from seal_desk.arc.task import load_tasks

        try:
            tasks = load_tasks(raw)
        except InputError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self.tasks, self.results, self.selected = {t.id: t for t in tasks}, {}, None
        table = self.query_one("#arc-tasks", DataTable)
        table.clear()
        for t in tasks:
            first = t.train[0]
            table.add_row(
                one_line(t.id, 16), str(len(t.train)), f"{size(first.input)}→{size(first.output)}", "—", key=t.id
            )
        self.show_task(tasks[0].id)
        graded = sum(t.solved_known for t in tasks)
        self.app.notify(
            f"Loaded {len(tasks)} ARC task(s)"
            + ("" if graded == len(tasks) else f", {graded} with solutions to grade against")
            + "."
        )

    @on(DataTable.RowHighlighted, "#arc-tasks")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value in self.tasks:
            self.show_task(event.row_key.value)

    def show_task(self, task_id: str) -> None:
        from seal_desk.arc.render import task_view

        if task_id == self.selected:
            return
        self.selected = task_id
        self.query_one("#arc-task", Static).update(task_view(self.tasks[task_id]))
        self._show_result(self.results.get(task_id))
        self.query_one("#arc-view", VerticalScroll).scroll_home(animate=False)

    # solving -----------------------------------------------------------------------------------
    @on(Select.Changed, "#arc-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        self.query_one("#arc-config", TextArea).display = event.value == "config"

    @on(Button.Pressed, "#arc-solve")
    def solve(self) -> None:
        if self.selected is None:
            self.app.notify("Load an ARC file and pick a task first.", severity="warning")
            return
        mode = str(self.query_one("#arc-mode", Select).value)
        config: Optional[ArcSelfEdit] = None
        if mode == "config":
            from seal_desk.arc.self_edit import parse_config

            parsed = parse_config(self.query_one("#arc-config", TextArea).text)
            if not parsed.valid:
                self.app.notify(f"invalid config: {parsed.error}", severity="error")
                return
            config = parsed.config
        self.post_message(ArcRequested(self.tasks[self.selected], mode, config))

    @on(Button.Pressed, "#arc-cancel")
    def cancel(self) -> None:
        self.post_message(CancelRequested())

    def begin(self, task_id: str, mode: str) -> None:
        self.running = task_id
        self._stream, self._epoch = "", 0
        self.query_one(LossPlot).reset()
        self.results.pop(task_id, None)
        if self.selected == task_id:
            self._show_result(None)
        self.query_one("#arc-solve", Button).disabled = True
        self.query_one("#arc-cancel", Button).disabled = False
        self._info(f"{task_id}: waiting for the model…")
        self._log(f"solving {task_id} ({dict((v, k) for k, v in MODES)[mode]})", "bold")

    def done(self, result: TaskResult) -> None:
        from seal_desk.arc.render import comparison

        if result.train is not None:
            t = result.train
            self._log(
                f"trained {result.episodes} episodes: {t.steps} steps, loss {t.first_loss:.3f}→"
                f"{t.final_loss:.3f}, {t.seconds:.1f}s",
                "dim",
            )
        parts: list = []
        if result.self_edit is not None:
            parts.append(Text(f"self-edit: {one_line(result.self_edit, 200)}", style="dim"))
        if not result.valid:
            parts.append(Text(f"invalid config: {result.error}", style="red"))
        for i, (pred, exp) in enumerate(zip(result.predictions, result.expected), 1):
            parts.append(Text(f"test {i}", style="bold"))
            parts.append(comparison(pred, exp))
        self.results[result.task_id] = Group(*parts)
        if self.selected == result.task_id:
            self._show_result(self.results[result.task_id])
            self.query_one("#arc-view", VerticalScroll).scroll_home(animate=False)

    def finish(self, state: str) -> None:
        self.query_one("#arc-solve", Button).disabled = False
        self.query_one("#arc-cancel", Button).disabled = True
        if state != "done":
            self._log({"cancelled": "cancelled", "failed": "failed"}.get(state, state), "yellow")
            self._info(f"{self.running}: {state}")
        self.running = None

    def handle_event(self, event: Event) -> None:
        if isinstance(event, TrainStep):
            self.query_one(LossPlot).add(event.step, event.loss, event.epoch)
            self._info(
                f"training: epoch {event.epoch}/{event.epochs} · step {event.step}/{event.total_steps} · "
                f"loss {event.loss:.3f}"
            )
            if event.epoch != self._epoch and self._epoch or event.step == event.total_steps:
                self._log(
                    f"epoch {event.epoch if event.step == event.total_steps else self._epoch}: "
                    f"loss {event.loss:.3f} (step {event.step}/{event.total_steps})",
                    "dim",
                )
            self._epoch = event.epoch
        elif isinstance(event, TokenGenerated):
            if event.sample == 0:
                self._stream += event.text
                self._info(f"writing: {one_line(self._stream[-120:], 120)}")
        elif isinstance(event, Progress) and event.task == "arc task":
            self._stream = ""
            self._info(event.detail or event.task)
        elif isinstance(event, ArcTaskScored):
            status = STATUS[event.solved] if event.valid else "invalid"
            if event.task_id in self.tasks:  # (another file may have been loaded meanwhile)
                self.query_one("#arc-tasks", DataTable).update_cell(event.task_id, "status", status)
            self._info(f"{event.task_id}: {status} in {event.seconds:.1f}s")
            self._log(
                f"{event.task_id}: {status} in {event.seconds:.1f}s",
                "green" if event.solved else "red" if event.solved is False else "yellow",
            )
        elif isinstance(event, Message):
            self._log(event.text, "yellow" if event.level != "info" else "")

    def _show_result(self, renderable: Optional[Group]) -> None:
        shown = self.query_one("#arc-result", Static)
        shown.update(renderable or "")
        shown.display = renderable is not None

    def _info(self, text: str) -> None:
        self.query_one("#arc-info", Label).update(Text(text, style="dim"))

    def _log(self, text: str, style: str = "") -> None:
        self.query_one("#arc-log", RichLog).write(Text(text, style=style))
