"""The outer loop (ReST-EM) as it happens: settings, a live reward curve, per-round statistics, log."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, RichLog
from textual_plotext import PlotextPlot

from seal_desk.events import Event, Message, Progress, RewardScored, RoundFinished, WorkerProgress
from seal_desk.restem.records import RlRecords
from seal_desk.tui.formatting import one_line
from seal_desk.tui.host import host
from seal_desk.tui.messages import CancelRequested, OuterLoopRequested

RAY_HELP = (
    "Score passages on a Ray cluster (pip install 'seal-desk[cluster]'): blank scores here; auto joins the "
    "cluster `ray start --head` made; local starts one on this machine; or the head's host:port. The "
    "workspace, selection and generator fine-tuning stay here."
)
WORKER_COLUMNS = (
    ("worker", "worker"),
    ("host", "host"),
    ("device", "device"),
    ("state", "state"),
    ("done", "passages"),
    ("seconds", "s/passage"),
    ("rate", "passages/h"),
)
NUMBERS = (
    ("rl-n-rounds", "rounds", "2"),
    ("rl-n-passages", "passages", "50"),
    ("rl-n-k", "k", "5"),
    ("rl-n-evals", "evals", "3"),
)


class RewardPlot(PlotextPlot):
    """Best candidate reward and the passage-only baseline for each scored passage, in order."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.best: list[float] = []
        self.mean: list[float] = []
        self.baseline: list[float] = []
        self.round_starts: list[int] = []
        self.last_round = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.draw()

    def reset(self) -> None:
        self.best, self.mean, self.baseline, self.round_starts, self.last_round = [], [], [], [], 0
        self.draw()

    def add(self, event: RewardScored) -> None:
        if self.best and event.round != self.last_round:  # (on a cluster, passages arrive in any order)
            self.round_starts.append(len(self.best) + 1)
        self.last_round = event.round
        rewards = event.rewards or (0.0,)
        self.best.append(max(rewards))
        self.mean.append(sum(rewards) / len(rewards))
        self.baseline.append(event.baseline)
        self.draw()

    def draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("reward per passage (recall after the inner loop)")
        plt.xlabel("passage")
        if self.best:
            xs = list(range(1, len(self.best) + 1))
            plt.plot(xs, self.best, marker="braille", label="best self-edit")
            plt.plot(xs, self.mean, marker="braille", label="mean self-edit")
            plt.plot(xs, self.baseline, marker="braille", label="passage only")
            for x in self.round_starts:
                plt.vline(x, "gray")
            plt.ylim(0, 1)
        else:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
        self.refresh()


class RlPane(Vertical):
    """Start an outer-loop run from the TUI and watch its rewards; shows the last run when idle."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row", id="rl-row1"):
            yield Label("data", classes="row-label")
            yield Input(placeholder="training passages with questions (SQuAD / SEAL JSON)", id="rl-data", compact=True)
            yield Label(" out", classes="rl-num-label")
            yield Input(placeholder="run folder (same folder resumes)", id="rl-out", compact=True)
            yield Label(" ray", classes="rl-num-label")
            yield Input(placeholder="here", id="rl-ray", compact=True, tooltip=RAY_HELP)
        with Horizontal(classes="form-row", id="rl-row2"):
            for widget_id, label, value in NUMBERS:
                yield Label(label, classes="rl-num-label")
                yield Input(value, type="integer", id=widget_id, classes="rl-num", compact=True)
            yield Button("Start", id="rl-start", variant="primary", compact=True)
            yield Button("Cancel", id="rl-cancel", variant="error", disabled=True, compact=True)
        yield Label(
            "ReST-EM: sample k self-edits per passage, train each, keep the best that beats training on "
            "the passage alone, fine-tune the writer on them.",
            id="rl-info",
        )
        yield RewardPlot(id="rl-plot")
        yield DataTable(id="rl-workers", cursor_type="none", zebra_stripes=True)
        yield DataTable(id="rl-rounds", cursor_type="row", zebra_stripes=True)
        yield RichLog(id="rl-log", markup=False, wrap=True, max_lines=500)

    def on_mount(self) -> None:
        table = self.query_one("#rl-rounds", DataTable)
        for col in ("round", "passages", "mean reward", "mean best", "baseline", "kept", "SFT loss", "generator"):
            table.add_column(col)
        workers = self.query_one("#rl-workers", DataTable)
        for key, label in WORKER_COLUMNS:
            workers.add_column(label, key=key)
        workers.display = False  # shown once a run scores on a cluster
        self.show_last_run()

    # the last run, from the workspace -------------------------------------------------------------
    def _latest(self) -> Optional[RlRecords]:
        return RlRecords.latest_run(host(self).workspace)

    def show_last_run(self) -> None:
        records = self._latest()
        if records is None:
            self._log("No outer-loop runs yet. Give training data and a run folder, then Start.", "dim")
            return
        run = records.details()
        self.query_one("#rl-out", Input).value = run["out_dir"]
        self.query_one("#rl-data", Input).value = run["data"]
        outer = (run["config"] or {}).get("outer")
        if isinstance(outer, dict):
            for widget_id, key in (
                ("rl-n-rounds", "rounds"),
                ("rl-n-passages", "passages"),
                ("rl-n-k", "k"),
                ("rl-n-evals", "eval_times"),
            ):
                if isinstance(outer.get(key), int):
                    self.query_one(f"#{widget_id}", Input).value = str(outer[key])
        self._fill_rounds(records)
        plot = self.query_one(RewardPlot)
        plot.reset()
        index: dict[int, int] = {}  # passages so far in each round
        for p in records.outcomes():
            i = index[p.round] = index.get(p.round, -1) + 1
            plot.add(RewardScored(p.round, i, 0, p.title, p.baseline, tuple(c.reward for c in p.candidates), p.kept))
        self._log(f"last run: {run['out_dir']} ({run['status']})", "dim")

    def _fill_rounds(self, records: RlRecords) -> None:
        table = self.query_one("#rl-rounds", DataTable)
        table.clear()
        mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
        for r, ps, done in records.rounds():
            rewards = [c.reward for p in ps for c in p.candidates]
            best = [max(0.0, *(c.reward for c in p.candidates)) for p in ps if p.candidates]
            table.add_row(
                str(r),
                str(len(ps)),
                f"{mean(rewards):.3f}",
                f"{mean(best):.3f}",
                f"{mean([p.baseline for p in ps]):.3f}",
                str(sum(p.kept for p in ps)),
                "—" if not done or done.sft_loss is None else f"{done.sft_loss:.3f}",
                "running…"
                if not done
                else one_line(Path(done.generator).parent.name if done.generator else "unchanged", 20),
            )

    # a run -------------------------------------------------------------------------------------
    @on(Button.Pressed, "#rl-start")
    def start(self) -> None:
        data = self.query_one("#rl-data", Input).value.strip()
        out = self.query_one("#rl-out", Input).value.strip()
        if not data or not out:
            self.app.notify("Give the training data file and a run folder.", severity="warning")
            return
        try:
            numbers = {wid: int(self.query_one(f"#{wid}", Input).value or 0) for wid, _, _ in NUMBERS}
        except ValueError:
            numbers = {}
        if not numbers or min(numbers.values()) < 1:
            self.app.notify("Rounds, passages, k and evals must be whole numbers of at least 1.", severity="error")
            return
        self.post_message(
            OuterLoopRequested(
                data,
                out,
                numbers["rl-n-rounds"],
                numbers["rl-n-passages"],
                numbers["rl-n-k"],
                numbers["rl-n-evals"],
                self.query_one("#rl-ray", Input).value.strip(),
            )
        )

    @on(Button.Pressed, "#rl-cancel")
    def cancel(self) -> None:
        self.post_message(CancelRequested())

    def begin(self) -> None:
        self.query_one(RewardPlot).reset()
        self.query_one("#rl-rounds", DataTable).clear()
        workers = self.query_one("#rl-workers", DataTable)
        workers.clear()
        workers.display = False
        self.query_one(RichLog).clear()
        self.query_one("#rl-start", Button).disabled = True
        self.query_one("#rl-cancel", Button).disabled = False
        self._log("waiting for the model…", "dim")

    def finish(self, state: str) -> None:
        self.query_one("#rl-info", Label).update(Text(f"outer loop: {state}", style="dim"))
        self.query_one("#rl-start", Button).disabled = False
        self.query_one("#rl-cancel", Button).disabled = True
        self._log(
            {
                "done": "run finished",
                "cancelled": "cancelled: finished passages are kept, Start resumes",
                "failed": "run failed",
            }.get(state, state),
            "green" if state == "done" else "yellow",
        )
        records = self._latest()
        if records is not None:
            self._fill_rounds(records)

    def handle_event(self, event: Event) -> None:
        if isinstance(event, WorkerProgress):
            self.show_worker(event)
        elif isinstance(event, RewardScored):
            self.query_one(RewardPlot).add(event)
            rewards = " ".join(f"{x:.2f}" for x in event.rewards)
            self._log(
                f"round {event.round} [{event.index + 1}/{event.passages}] {one_line(event.title, 30)}: "
                f"passage only {event.baseline:.2f} · self-edits {rewards}"
                + (" · kept" if event.kept else "")
                + (" (resumed)" if event.resumed else ""),
                "green" if event.kept else "",
            )
        elif isinstance(event, RoundFinished):
            self._log(
                f"round {event.round}: kept {event.kept}/{event.passages}, mean reward {event.mean_reward:.3f} "
                f"vs passage only {event.mean_baseline:.3f}",
                "bold",
            )
            records = self._latest()
            if records is not None:
                self._fill_rounds(records)
        elif isinstance(event, Progress) and event.task.startswith("round") and event.detail:
            self.query_one("#rl-info", Label).update(
                Text.assemble(
                    (f"{event.task} ", "bold"), f"{event.completed}/{event.total} ", (one_line(event.detail, 50), "dim")
                )
            )
        elif isinstance(event, Message):
            self._log(event.text, "yellow" if event.level != "info" else "")

    def show_worker(self, event: WorkerProgress) -> None:
        """A cluster worker's row (`--ray`): where it runs, its state, passages done and throughput."""
        table = self.query_one("#rl-workers", DataTable)
        table.display = True
        rate = event.passages_per_hour
        cells = {
            "worker": event.worker,
            "host": one_line(event.host or "—", 20),
            "device": one_line(event.device or "—", 16),
            "state": event.state,
            "done": str(event.passages_done),
            "seconds": f"{event.seconds_per_passage:.1f}" if event.passages_done else "—",
            "rate": f"{rate:.0f}" if rate else "—",
        }
        if event.worker not in table.rows:
            table.add_row(*cells.values(), key=event.worker)
        else:
            for key, value in cells.items():
                table.update_cell(event.worker, key, value, update_width=True)  # host, device: known once loaded
        if event.state == "died":
            self._log(f"worker {event.worker} ({event.host or '?'}) died: its passage goes to another worker", "yellow")

    def _log(self, text: str, style: str = "") -> None:
        self.query_one(RichLog).write(Text(text, style=style))
