"""ARC grids drawn in colour with rich (the CLI uses it; Textual widgets can show the same renderables).

The standard ARC palette: 0 black, 1 blue, 2 red, 3 green, 4 yellow, 5 grey, 6 magenta, 7 orange,
8 sky, 9 maroon. Each cell is two character cells wide so grids look square in a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from rich.console import Group
from rich.table import Table
from rich.text import Text

from seal_desk.arc.task import ArcTask, Grid

PALETTE = ("#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25")


def grid_view(grid: Optional[Grid], digits: bool = False) -> Text:
    """A grid as coloured blocks (with its digits drawn on them when `digits`); None → '(no grid)'."""
    if grid is None:
        return Text("(no grid)", style="italic dim")
    out = Text()
    for r, row in enumerate(grid):
        for cell in row:
            fg = "#FFFFFF" if cell in (0, 1, 9) else "#000000"
            out.append(f"{cell} " if digits else "  ", style=f"{fg} on {PALETTE[cell]}")
        if r < len(grid) - 1:
            out.append("\n")
    return out


def _caption(grid: Optional[Grid], name: str) -> Text:
    size = f" {len(grid)}×{len(grid[0])}" if grid else ""
    return Text(f"{name}{size}", style="bold")


def pairs_table(
    title: str, rows: Sequence[tuple[str, Optional[Grid], Optional[Grid]]], right: str = "output", digits: bool = False
) -> Table:
    """One row per (label, left grid, right grid)."""
    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("", style="dim", no_wrap=True)
    table.add_column("input")
    table.add_column(right)
    for label, a, b in rows:
        table.add_row(
            label, Group(_caption(a, "in"), grid_view(a, digits)), Group(_caption(b, right), grid_view(b, digits))
        )
    return table


def task_view(task: ArcTask, digits: bool = False) -> Table:
    rows = [(f"demo {i}", p.input, p.output) for i, p in enumerate(task.train, 1)]
    rows += [(f"test {i}", p.input, p.output) for i, p in enumerate(task.test, 1)]
    return pairs_table(f"{task.id}: {len(task.train)} demos, {len(task.test)} test", rows, digits=digits)


def comparison(predicted: Optional[Grid], expected: Optional[Grid], digits: bool = False) -> Table:
    """Prediction beside the expected output, with a ✔/✘ caption."""
    ok = predicted is not None and predicted == expected
    table = Table(show_header=True, title_justify="left", title="[green]✔ solved[/]" if ok else "[red]✘ not solved[/]")
    table.add_column("predicted")
    table.add_column("expected")
    table.add_row(grid_view(predicted, digits), grid_view(expected, digits))
    return table


__all__ = ["PALETTE", "comparison", "grid_view", "pairs_table", "task_view"]
