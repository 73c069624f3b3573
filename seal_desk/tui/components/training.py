"""The learn run as it happens: phases, inner-loop progress (step, epoch, ETA), live loss curve, log."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, ProgressBar, RichLog

from seal_desk.events import AnswerGraded, Event, Message, Progress, TokenGenerated, TrainStep
from seal_desk.tui.formatting import clock
from seal_desk.tui.messages import CancelRequested
from seal_desk.tui.widgets.loss_plot import LossPlot

PHASES = (
    ("before", "recall before"),
    ("self-edit", "self-edits"),
    ("train", "inner loop"),
    ("after", "recall after"),
    ("save", "save adapter"),
)
ICONS = {
    "pending": ("○", "dim"),
    "running": ("◐", "bold yellow"),
    "done": ("●", "green"),
    "skipped": ("–", "dim"),
    "stopped": ("✘", "bold red"),
}


class TrainingPane(Vertical):
    """Renders the engine's events for one learn run."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.questions = 0
        self.states: dict[str, str] = {}
        self.correct: dict[str, int] = {}
        self.chars = 0
        self.active = False
        self.last_step: TrainStep | None = None  # the inner loop's latest step (it may stop before its last)

    def compose(self) -> ComposeResult:
        yield Label("No training yet: pick self-edits and press Apply & train (ctrl+t).", id="train-title")
        yield Label("", id="train-phases")
        with Horizontal(id="train-row"):
            yield ProgressBar(total=1, show_eta=False, id="train-bar")
            yield Label("", id="train-step")
            yield Button("Cancel (esc)", id="train-cancel", variant="error", disabled=True, compact=True)
        yield Label("", id="train-stats")
        yield LossPlot(id="train-plot")
        yield RichLog(id="train-log", markup=False, wrap=True, max_lines=500)

    def on_mount(self) -> None:
        self._reset_phases()

    # run lifecycle ---------------------------------------------------------------------------
    def begin(self, title: str, detail: str, questions: int) -> None:
        self.active = True
        self.questions = questions
        self.states = {key: "pending" for key, _ in PHASES}
        if not questions:
            self.states["before"] = self.states["after"] = "skipped"
        self.correct = {}
        self.chars = 0
        self.last_step = None
        self.query_one("#train-title", Label).update(
            Text.assemble(("Teaching ", "dim"), (title, "bold"), ("  " + detail, "dim"))
        )
        bar = self.query_one("#train-bar", ProgressBar)
        bar.update(total=1, progress=0)
        self.query_one("#train-step", Label).update("")
        self.query_one("#train-stats", Label).update("waiting for the model…")
        self.query_one("#train-cancel", Button).disabled = False
        self.query_one(LossPlot).reset()
        self.query_one(RichLog).clear()
        self._render_phases()

    def started(self) -> None:
        """The run got the model: the first phase is under way."""
        if self.states.get("before") == "pending":
            self._set("before", "running")
            self._stats(f"recall before: asking {self.questions} question(s) without the passage…")
        else:
            self._set("self-edit", "running")
            self._stats("self-edits…")

    def _stats(self, text: str) -> None:
        self.query_one("#train-stats", Label).update(text)

    def finish(self, state: str, summary: str = "") -> None:
        self.active = False
        self.query_one("#train-cancel", Button).disabled = True
        if state == "done":
            if self.states.get("train") == "running" and self.last_step is not None:
                self._train_done(self.last_step)  # stopped early, no recall after to mark it
            for key in self.states:
                if self.states[key] in ("pending", "running"):
                    self.states[key] = "done"
            self.log_line(summary or "done", "green")
            plot = self.query_one(LossPlot)
            stats = f"done · {len(plot.losses)} steps"
            if plot.losses:
                stats += f" · loss {plot.losses[0]:.3f} → {plot.losses[-1]:.3f}"
            self.query_one("#train-stats", Label).update(Text(stats, style="green"))
        else:
            for key in self.states:
                if self.states[key] == "running":
                    self.states[key] = "stopped"
            word = "cancelled: nothing partial was kept" if state == "cancelled" else "failed: nothing was kept"
            self.log_line(f"run {word}", "yellow" if state == "cancelled" else "red")
            self.query_one("#train-stats", Label).update(Text(state, style="bold yellow"))
        self._render_phases()

    def set_cancelling(self) -> None:
        if self.active:
            self.query_one("#train-stats", Label).update(Text("cancelling…", style="bold yellow"))
            self.query_one("#train-cancel", Button).disabled = True

    # events ------------------------------------------------------------------------------------
    def handle_event(self, event: Event) -> None:
        if isinstance(event, TrainStep):
            self._step(event)
        elif isinstance(event, TokenGenerated):
            self.chars += len(event.text)
            self._set("self-edit", "running")
            self.query_one("#train-stats", Label).update(f"the model is writing a self-edit… {self.chars} chars")
        elif isinstance(event, AnswerGraded):
            self.correct[event.phase] = self.correct.get(event.phase, 0) + int(event.correct)
        elif isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, Message):
            self.log_line(event.text, {"warning": "yellow", "error": "red"}.get(event.level, ""))

    def _progress(self, event: Progress) -> None:
        if event.task in ("before", "after"):
            total = event.total or 0
            done = event.completed >= total
            if event.task == "after":
                if self.states.get("train") == "running" and self.last_step is not None:
                    self._train_done(self.last_step)  # stopped before its last step
                self._finish_phase("train")
            self._set(event.task, "done" if done else "running")
            self.query_one("#train-stats", Label).update(f"recall {event.task}: {event.completed}/{total} answered")
            if done:
                c = self.correct.get(event.task, 0)
                self.log_line(
                    f"recall {event.task}: {c}/{total} correct ({c / total:.0%})"
                    if total
                    else f"recall {event.task}: no questions"
                )
                if event.task == "after":
                    self._set("save", "running")
        elif event.task == "self-edit":
            self._finish_phase("before")
            total = event.total or 0
            if event.completed >= total:
                self._set("self-edit", "done")
                self._set("train", "running")
                self._stats("inner loop: preparing a fresh LoRA adapter…")
                self.log_line(f"self-edits ready for {total} passage(s)")
            else:
                self._set("self-edit", "running")
                self.chars = 0
                self.query_one("#train-stats", Label).update(
                    Text(f"self-edits: passage {event.completed + 1}/{total} {event.detail[:40]}")
                )

    def _step(self, event: TrainStep) -> None:
        if event.step == 1:
            self._finish_phase("self-edit")
            self.log_line(f"inner loop: {event.total_steps} steps over {event.epochs} epoch(s)")
        self._set("train", "running")
        bar = self.query_one("#train-bar", ProgressBar)
        bar.update(total=event.total_steps, progress=event.step)
        remaining = event.elapsed / event.step * (event.total_steps - event.step) if event.step else 0.0
        rate = event.tokens / event.elapsed if event.elapsed > 0 else 0.0
        self.query_one("#train-step", Label).update(
            Text.assemble((f"step {event.step}/{event.total_steps}", "bold"), f" · epoch {event.epoch}/{event.epochs}")
        )
        self.query_one("#train-stats", Label).update(
            Text.assemble(
                "loss ",
                (f"{event.loss:.3f}", "bold"),
                f" · lr {event.lr:.1e} · {rate:,.0f} tok/s",
                f" · elapsed {clock(event.elapsed)} · ETA ",
                (clock(remaining), "bold"),
            )
        )
        self.query_one(LossPlot).add(event.step, event.loss, event.epoch)
        self.last_step = event
        if event.step == event.total_steps:
            self._train_done(event)

    def _train_done(self, event: TrainStep) -> None:
        """The inner loop ended: after its last step, or earlier (the convergence stop: the next phase began)."""
        early = event.step < event.total_steps
        if early:
            self.query_one("#train-bar", ProgressBar).update(total=event.step, progress=event.step)
        self._set("train", "done")
        if self.states.get("after") == "pending":
            self._set("after", "running")
            self._stats(f"recall after: asking {self.questions} question(s) with the new adapter…")
        self.log_line(
            f"inner loop done{f' at epoch {event.epoch}/{event.epochs} (converged)' if early else ''}: loss "
            f"{self.query_one(LossPlot).losses[0]:.3f} → {event.loss:.3f}, {event.tokens:,} tokens in {event.elapsed:.1f}s"
        )

    # phases ------------------------------------------------------------------------------------
    def _set(self, key: str, state: str) -> None:
        if self.states.get(key) != state and self.states.get(key) != "skipped":
            self.states[key] = state
            self._render_phases()

    def _finish_phase(self, key: str) -> None:
        if self.states.get(key) in ("pending", "running"):
            self._set(key, "done")

    def _reset_phases(self) -> None:
        self.states = {key: "pending" for key, _ in PHASES}
        self._render_phases()

    def _render_phases(self) -> None:
        text = Text()
        for i, (key, label) in enumerate(PHASES):
            icon, style = ICONS[self.states.get(key, "pending")]
            if i:
                text.append(" → ", style="dim")
            text.append(f"{icon} ", style=style)
            text.append(label, style="bold" if self.states.get(key) == "running" else "")
        self.query_one("#train-phases", Label).update(text)

    def log_line(self, text: str, style: str = "") -> None:
        self.query_one(RichLog).write(Text(text, style=style))

    @on(Button.Pressed, "#train-cancel")
    def _cancel(self) -> None:
        self.post_message(CancelRequested())
