"""Small text helpers shared by the components."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text


def display_path(path: str | Path) -> str:
    """A path as short as is unambiguous: relative to the working folder, else with ~ for home."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        pass
    home = str(Path.home())
    text = str(p)
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + "/") else text


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def delta(before: float | None, after: float | None) -> Text:
    if before is None or after is None:
        return Text("—", style="dim")
    d = after - before
    style = "bold green" if d > 0 else "bold red" if d < 0 else "dim"
    return Text(f"{d:+.0%}", style=style)


def mark(correct: bool) -> Text:
    return Text("✔", style="bold green") if correct else Text("✘", style="bold red")


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return (
        f"{seconds // 60}:{seconds % 60:02d}"
        if seconds < 3600
        else f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    )


def one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
