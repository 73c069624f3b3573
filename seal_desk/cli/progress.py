"""The CLI face: rich progress bars and tables fed by the engine's typed events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from seal_desk import events as ev

if TYPE_CHECKING:  # the annotations only: importing recall would import torch before any input is read
    from seal_desk.knowledge.recall import RecallReport


class RichReporter:
    """An EventSink that renders progress on a rich console (stderr, so --json stays clean)."""

    def __init__(self, console: Console, show_tokens: bool = False) -> None:
        self.console = console
        self.show_tokens = show_tokens
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, int] = {}
        self.tokens: dict[int, int] = {}

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def _task(self, name: str, total: Optional[int]) -> int:
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=total, info="")
        return self.tasks[name]

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Progress):
            task = self._task(event.task, event.total)
            self.progress.update(task, completed=event.completed, total=event.total, info=event.detail[:40])
        elif isinstance(event, ev.TrainStep):
            task = self._task("train", event.total_steps)
            if event.step == 1:
                self.progress.reset(task, total=event.total_steps)
            self.progress.update(
                task,
                completed=event.step,
                total=event.total_steps,
                info=f"epoch {event.epoch}/{event.epochs} loss {event.loss:.3f}",
            )
        elif isinstance(event, ev.TokenGenerated):
            self.tokens[event.sample] = self.tokens.get(event.sample, 0) + 1
            task = self._task("self-edit tokens", None)
            self.progress.update(task, completed=sum(self.tokens.values()), info=f"{len(self.tokens)} sample(s)")
            if self.show_tokens:
                self.console.print(
                    event.text, end="", style=f"color({(event.sample % 6) + 2})", highlight=False, markup=False
                )
        elif isinstance(event, ev.WorkerProgress):
            self.progress.update(
                self._task(f"worker {event.worker}", None), completed=event.passages_done, info=worker_line(event)
            )
        elif isinstance(event, ev.Message):
            style = {"warning": "yellow", "error": "bold red"}.get(event.level, "dim")
            self.console.print(event.text, style=style, markup=False, highlight=False)


def worker_line(event: ev.WorkerProgress) -> str:
    """A cluster worker's row: where it runs, its state and throughput."""
    where = " · ".join(x for x in (event.host, event.device) if x)
    if event.state in ("starting", "died"):
        return f"{where} · {'loading the model' if event.state == 'starting' else 'died (its passage re-queued)'}"
    if not event.passages_done:
        return f"{where} · {event.state}"
    return f"{where} · {event.seconds_per_passage:.1f} s/passage ({event.passages_per_hour:.0f}/h) · {event.state}"


def recall_table(title: str, before: RecallReport, after: Optional[RecallReport] = None) -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("question", max_width=44)
    table.add_column("gold", max_width=22, style="cyan")
    table.add_column("before" if after else "answer", max_width=40)
    if after:
        table.add_column("after", max_width=40)
    rows = zip(before.answers, after.answers) if after else ((a, None) for a in before.answers)
    for i, (b, a) in enumerate(rows, 1):
        cells = [str(i), b.asked.question, b.asked.answer, _mark(b.text, b.grade.correct)]
        if a is not None:
            changed = a.text != b.text
            cells.append(_mark(a.text, a.grade.correct, changed))
        table.add_row(*cells)
    return table


def _mark(text: str, correct: bool, changed: bool = False) -> str:
    from rich.markup import escape

    tick = "[green]✔[/]" if correct else "[red]✘[/]"
    body = escape(text[:160] or "(no answer)")
    return f"{tick} [bold]{body}[/]" if changed else f"{tick} {body}"


def accuracy_line(before: RecallReport, after: Optional[RecallReport] = None) -> str:
    n = len(before.answers)
    line = f"recall (strict) before: {before.correct}/{n} ({before.accuracy:.0%}), F1 {before.mean_f1:.2f}"
    if after is not None:
        delta = after.accuracy - before.accuracy
        line += f"   after: {after.correct}/{n} ({after.accuracy:.0%}), F1 {after.mean_f1:.2f}   Δ {delta:+.0%}"
    line += "   lax " + " → ".join(f"{r.lax_accuracy:.0%}" for r in (before, after) if r is not None)
    judged = [r.judged_accuracy for r in (before, after) if r is not None and r.judged_accuracy is not None]
    if judged:
        line += "   local judge: " + " → ".join(f"{j:.0%}" for j in judged)
    return line
