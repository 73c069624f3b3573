"""Grids as text: one digit per cell, one row per line (`0120\\n3004`).

SmolLM2's tokenizer (like Llama-2's and Qwen's) splits digits one per token and newlines are their own
token, so this format costs exactly rows × (cols + 1) tokens with no separators to learn, and it is
unambiguous (cells are 0–9). `parse_grid` reads a model's reply back: the first block of lines made of
digits (spaces, commas and brackets between cells are tolerated), or a JSON list of lists; ragged rows
or no grid at all give None (graded wrong).
"""

from __future__ import annotations

import json
import re
from typing import Optional

from seal_desk.arc.task import MAX_SIDE, Grid

_CELLS = re.compile(r"^[\s\[\](),;|]*\d(?:[\s,;|]*\d)*[\s\[\](),;|]*$")


def grid_text(grid: Grid) -> str:
    """`[[0,1],[2,3]]` → `01\\n23`."""
    return "\n".join("".join(str(c) for c in row) for row in grid)


def text_tokens(grid: Grid) -> int:
    """Tokens the grid takes in this format on a digit-splitting tokenizer (plus one for the line after)."""
    return len(grid) * (len(grid[0]) + 1)


def parse_grid(text: str) -> Optional[Grid]:
    """The first grid in a model's reply, or None when there is none or its rows differ in length."""
    if not text:
        return None
    stripped = text.strip()
    if stripped.startswith("[["):
        grid = _json_grid(stripped)
        if grid is not None:
            return grid
    rows: list[tuple[int, ...]] = []
    for line in text.splitlines():
        line = line.strip().strip("`").strip()
        if line and _CELLS.match(line):
            rows.append(tuple(int(c) for c in re.findall(r"\d", line)))
        elif rows:
            break  # the first block ends at the first line that is not a row of cells
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        return None
    if len(rows) > MAX_SIDE or len(rows[0]) > MAX_SIDE:
        return None
    return tuple(rows)


def _json_grid(text: str) -> Optional[Grid]:
    end = text.find("]]")
    try:
        value = json.loads(text[: end + 2]) if end >= 0 else None
    except json.JSONDecodeError:
        return None
    if (
        isinstance(value, list)
        and value
        and all(isinstance(r, list) and r for r in value)
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 9 for r in value for c in r)
        and len({len(r) for r in value}) == 1
    ):
        return tuple(tuple(r) for r in value)
    return None


def shape(grid: Grid) -> tuple[int, int]:
    return len(grid), len(grid[0])


__all__ = ["grid_text", "parse_grid", "shape", "text_tokens"]
