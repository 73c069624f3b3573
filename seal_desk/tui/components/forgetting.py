"""The forgetting report of `seal-desk bench continual --json OUT`: one strategy's matrix and a summary of all.

Rows: after update t; columns: documents (and the probe set). A cell below the diagonal is coloured by its
change against the diagonal, recall right after that document was learned: green within 5 points, yellow a
5–15 point drop, red more. The goal (issue #8): every earlier document within 5 points at the end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from seal_desk.tui.formatting import one_line
from seal_desk.tui.widgets.path_input import PathSuggester

GOAL, WARN = 0.05, 0.15  # drop (recall fraction) for green / yellow


def _style(drop: float) -> str:
    return "green" if drop <= GOAL + 1e-9 else "yellow" if drop <= WARN + 1e-9 else "bold red"


def _pts(x: float) -> str:
    return f"{round(x * 100) + 0:+d} pts"  # + 0: no "-0"


def check(result: Any) -> Optional[str]:
    """Why `result` is not a bench continual report, or None when it is."""
    if not isinstance(result, dict) or not isinstance(result.get("strategies"), dict) or not result["strategies"]:
        return "not a bench continual report (no 'strategies')"
    titles = result.get("titles")
    if not isinstance(titles, list):
        return "not a bench continual report (no 'titles')"
    for name, s in result["strategies"].items():
        m = s.get("matrix") if isinstance(s, dict) else None
        if not isinstance(m, list) or not all(isinstance(r, list) and len(r) == len(titles) for r in m):
            return f"strategy {name}: 'matrix' is not a list of rows of {len(titles)} documents"
        if not all(isinstance(m[t][j], (int, float)) for t in range(min(len(m), len(titles))) for j in range(t + 1)):
            return f"strategy {name}: missing recall on or below the diagonal"
        if not isinstance(s.get("probe", []), list):
            return f"strategy {name}: 'probe' is not a list"
    return None


def summarize(result: dict, name: str) -> str:
    """One line: mean and worst drop of earlier documents (right after learning → end), probe, the 5-point goal."""
    s = result["strategies"][name]
    m = s["matrix"]
    drops = [(m[j][j] - m[-1][j], j) for j in range(len(m) - 1)]  # the last document cannot be forgotten yet
    parts = [f"[b]{escape(name)}[/b]:"]
    if drops:
        worst, j = max(drops, key=lambda d: d[0])
        parts.append(
            f"earlier documents {_pts(-sum(d for d, _ in drops) / len(drops))} mean, worst {_pts(-worst)} "
            f"({escape(one_line(str(result['titles'][j]), 24))}) from right after learning to the end"
        )
        met = worst <= GOAL + 1e-9
        parts.append("[green]meets[/] the within-5-points goal" if met else "[red]misses[/] the within-5-points goal")
    else:
        parts.append("one update: nothing to forget yet")
    probe = s.get("probe") or []
    if probe:
        base = (result.get("base") or {}).get("probe")
        start = f"{base:.0%} → " if isinstance(base, (int, float)) else ""
        parts.append(f"probe {start}{probe[-1]:.0%}")
    return " · ".join([parts[0] + " " + parts[1]] + parts[2:])


class ForgettingPane(Vertical):
    """Load a `bench continual --json` file and browse each strategy's forgetting matrix."""

    def __init__(self, path: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial_path = path
        self.result: Optional[dict] = None
        self.strategy: Optional[str] = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row", id="forget-row"):
            yield Label("report", classes="row-label")
            yield Input(
                self.initial_path,
                placeholder="JSON from `seal-desk bench continual --json OUT`",
                suggester=PathSuggester(only_supported=False),
                id="forget-path",
                compact=True,
            )
            yield Button("Load", id="forget-load", variant="primary", compact=True)
            yield Select([], prompt="strategy", compact=True, id="forget-strategy")
        yield Label(
            "Recall per document (columns) after each update (rows); (±pts) since right after learning: "
            "green within 5, yellow 5–15 drop, red more.",
            id="forget-info",
        )
        yield DataTable(id="forget-matrix", cursor_type="none", zebra_stripes=True)
        yield Static("No report loaded.", id="forget-summary")

    # loading -------------------------------------------------------------------------------------
    @on(Button.Pressed, "#forget-load")
    @on(Input.Submitted, "#forget-path")
    def _load_pressed(self) -> None:
        self.load(self.query_one("#forget-path", Input).value.strip())

    def load(self, path: str) -> bool:
        """Show the report at `path`; on a missing, malformed or wrong file notify and keep the current view."""
        try:
            result = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self._error(f"{path or '(no path)'}: no such file")
        except (OSError, UnicodeDecodeError) as exc:
            return self._error(f"{path}: {exc}")
        except json.JSONDecodeError as exc:
            return self._error(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})")
        problem = check(result)
        if problem:
            return self._error(f"{path}: {problem}")
        self.result = result
        self.query_one("#forget-path", Input).value = path
        names = list(result["strategies"])
        chosen = self.strategy if self.strategy in names else names[0]
        select = self.query_one("#forget-strategy", Select)
        select.set_options([(n, n) for n in names])
        select.value = chosen
        self.query_one("#forget-summary", Static).update("\n".join(summarize(result, n) for n in names))
        self.show(chosen)
        return True

    def _error(self, message: str) -> bool:
        self.app.notify(one_line(message, 200), severity="error")
        return False

    # the matrix ------------------------------------------------------------------------------------
    @on(Select.Changed, "#forget-strategy")
    def _strategy_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and self.result and event.value != self.strategy:
            self.show(event.value)

    def show(self, name: str) -> None:
        """Fill the table with strategy `name`'s matrix from the loaded report."""
        assert self.result is not None
        result, s = self.result, self.result["strategies"][name]
        self.strategy = name
        m, probe = s["matrix"], s.get("probe") or []
        table = self.query_one("#forget-matrix", DataTable)
        table.clear(columns=True)
        table.add_column("after update", key="t")
        for j, title in enumerate(result["titles"]):
            table.add_column(f"{j + 1}. {one_line(str(title), 18)}", key=f"d{j}")
        if probe:
            table.add_column("probe", key="probe")
        for t, row in enumerate(m):
            cells: list[Any] = [f"{t + 1}"]
            for j, x in enumerate(row):
                if j > t or x is None:
                    cells.append("")
                elif j == t:
                    cells.append(Text(f"{x:.0%}", style="bold", justify="right"))
                else:
                    drop = m[j][j] - x
                    cells.append(
                        Text(f"{x:.0%} ({_pts(-drop).replace(' pts', '')})", style=_style(drop), justify="right")
                    )
            if probe:
                cells.append(Text(f"{probe[t]:.0%}" if t < len(probe) else "", justify="right"))
            table.add_row(*cells, key=str(t))
