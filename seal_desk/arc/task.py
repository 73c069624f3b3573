"""ARC tasks: demonstrations (input → output grids) and test inputs, loaded from ARC-AGI JSON.

Challenges file: `{task_id: {"train": [{"input": grid, "output": grid}], "test": [{"input": grid}]}}`;
solutions file (optional, found next to the challenges when its name is the same with `solutions`
for `challenges`): `{task_id: [output_grid, ...]}`. A grid is a list of equal-length rows of ints 0–9,
at most 30×30. Every problem with a file is one `InputError` line naming the file and the task.
A table of tasks, one a row (`id`, `train`, `test`), loads too: a .jsonl/.parquet file or a
Hugging Face data set id (`tasks_from_rows`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from seal_desk.errors import InputError

Grid = tuple[tuple[int, ...], ...]
MAX_SIDE = 30  # ARC's largest grid side


@dataclass(frozen=True)
class Pair:
    """One input grid and its output grid (output None for a test input whose answer is unknown)."""

    input: Grid
    output: Optional[Grid] = None


@dataclass(frozen=True)
class ArcTask:
    id: str
    train: tuple[Pair, ...]  # the demonstrations
    test: tuple[Pair, ...]  # test inputs, with outputs when solutions were loaded

    @property
    def title(self) -> str:  # the outer loop names its items by title
        return self.id

    @property
    def sha256(self) -> str:
        """Content hash of the demonstrations and test inputs (identifies the task in run records)."""
        body = json.dumps([self.id, [[p.input, p.output] for p in self.train], [p.input for p in self.test]])
        return hashlib.sha256(body.encode()).hexdigest()

    @property
    def solved_known(self) -> bool:
        """Whether every test input has its expected output (needed to grade)."""
        return bool(self.test) and all(p.output is not None for p in self.test)


def check_grid(value, where: str) -> Grid:
    """A list of equal-length rows of ints 0–9 (at most 30×30) as an immutable grid."""
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"{where}: a grid must be a non-empty list of rows")
    rows = []
    for r, row in enumerate(value):
        if not isinstance(row, (list, tuple)) or not row:
            raise InputError(f"{where}: row {r + 1} is not a non-empty list of cells")
        for cell in row:
            if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell <= 9:
                raise InputError(f"{where}: row {r + 1} has a cell that is not an integer 0–9 ({cell!r})")
        rows.append(tuple(row))
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise InputError(f"{where}: rows have different lengths")
    if len(rows) > MAX_SIDE or width > MAX_SIDE:
        raise InputError(f"{where}: grid is {len(rows)}×{width}, larger than ARC's {MAX_SIDE}×{MAX_SIDE}")
    return tuple(rows)


def _read_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8-sig")  # JSON is UTF-8; a BOM (Windows editors) is allowed
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not an ARC JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None


def _pairs(value, where: str, outputs: bool) -> tuple[Pair, ...]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: expected a non-empty list of {{'input', 'output'}} pairs")
    pairs = []
    for i, item in enumerate(value):
        at = f"{where} {i + 1}"
        if not isinstance(item, dict) or "input" not in item:
            raise InputError(f"{at}: expected an object with 'input'" + (" and 'output'" if outputs else ""))
        if outputs and "output" not in item:
            raise InputError(f"{at}: demonstration has no 'output'")
        out = item.get("output")
        pairs.append(
            Pair(check_grid(item["input"], f"{at} input"), check_grid(out, f"{at} output") if out is not None else None)
        )
    return tuple(pairs)


def parse_task(task_id: str, value, where: str = "task") -> ArcTask:
    """One task from its JSON object (`{"train": [...], "test": [...]}`)."""
    at = f"{where}: task {task_id}"
    if not isinstance(value, dict):
        raise InputError(f"{at}: expected an object with 'train' and 'test'")
    if "train" not in value or "test" not in value:
        raise InputError(f"{at}: needs both 'train' and 'test'")
    return ArcTask(
        str(task_id), _pairs(value["train"], f"{at} train", True), _pairs(value["test"], f"{at} test", False)
    )


def sibling_solutions(challenges: Path) -> Optional[Path]:
    """`…challenges…json` → the same name with `solutions`, when that file exists."""
    name = challenges.name
    if "challenges" not in name:
        return None
    candidate = challenges.with_name(name.replace("challenges", "solutions"))
    return candidate if candidate.is_file() else None


def load_tasks(challenges_path: str | Path, solutions_path: str | Path | None = None) -> list[ArcTask]:
    """Tasks from an ARC-AGI challenges file, in file order, with test outputs from the solutions file.

    `solutions_path` None looks for the sibling `*solutions*` file; tasks it lacks keep unknown outputs.
    A single-task file (`{"train": ..., "test": ...}`, test pairs may carry outputs) works too.
    """
    path = Path(challenges_path).expanduser()
    if (not path.exists() and path.suffix.lower() != ".json") or path.suffix.lower() in ROW_SUFFIXES:
        tasks = tasks_from_rows(str(challenges_path))
        return attach_solutions(tasks, _read_json(Path(solutions_path)), solutions_path) if solutions_path else tasks
    data = _read_json(path)
    if not isinstance(data, dict) or not data:
        raise InputError(f"{path}: expected an object mapping task ids to tasks")
    if "train" in data and "test" in data:  # one task, as in the ARC repository's per-task files
        data = {path.stem: data}
    tasks = [parse_task(tid, value, str(path)) for tid, value in data.items()]
    sol_path = Path(solutions_path).expanduser() if solutions_path else sibling_solutions(path)
    if sol_path is not None:
        tasks = attach_solutions(tasks, _read_json(sol_path), sol_path)
    return tasks


ROW_SUFFIXES = {".jsonl", ".parquet", ".pq"}  # CSV cells would be strings, not the grids
ID_COLUMNS = ("id", "task_id", "name")


def tasks_from_rows(spec: str) -> list[ArcTask]:
    """Tasks from a table, one task a row (`id`, `train`, `test`: lists of {input, output} grids; a test
    output, when present, is its solution): a .jsonl/.parquet file or a Hugging Face data set id
    (`owner/name[:split]`, knowledge.data.load_rows; offline only a cached one)."""
    from seal_desk.knowledge.data import load_rows

    def columns(names: list[str], where: str) -> list[str]:
        id_column = next((c for c in ID_COLUMNS if c in names), None)
        if id_column is None or "train" not in names or "test" not in names:
            raise InputError(
                f"{where}: ARC rows need an id ({'/'.join(ID_COLUMNS)}), 'train' and 'test' column "
                f"(columns: {', '.join(names)})"
            )
        return [id_column, "train", "test"]

    rows, where, _ = load_rows(spec, columns)
    tasks = [
        parse_task(
            str(next((row[c] for c in ID_COLUMNS if row.get(c) not in (None, "")), i + 1)),
            {"train": row.get("train"), "test": row.get("test")},  # test pairs with an output carry their solution
            where,
        )
        for i, row in enumerate(rows)
    ]
    if not tasks:
        raise InputError(f"{where}: no ARC tasks")
    return tasks


def attach_solutions(tasks: list[ArcTask], solutions, where: Path | str) -> list[ArcTask]:
    if not isinstance(solutions, dict):
        raise InputError(f"{where}: expected an object mapping task ids to lists of output grids")
    out = []
    for task in tasks:
        grids = solutions.get(task.id)
        if grids is None:
            out.append(task)
            continue
        if not isinstance(grids, list) or len(grids) != len(task.test):
            raise InputError(f"{where}: task {task.id} needs {len(task.test)} output grid(s), one per test input")
        test = tuple(
            Pair(p.input, check_grid(g, f"{where}: task {task.id} solution {i + 1}"))
            for i, (p, g) in enumerate(zip(task.test, grids))
        )
        out.append(ArcTask(task.id, task.train, test))
    return out


def pick(tasks: list[ArcTask], task_id: Optional[str]) -> ArcTask:
    """The task with `task_id` (or the only/first one when None)."""
    if task_id is None:
        return tasks[0]
    for task in tasks:
        if task.id == task_id:
            return task
    shown = ", ".join(t.id for t in tasks[:8]) + (" …" if len(tasks) > 8 else "")
    raise InputError(f"no task '{task_id}' in the file (tasks: {shown})")


__all__ = [
    "ArcTask",
    "Grid",
    "MAX_SIDE",
    "Pair",
    "attach_solutions",
    "check_grid",
    "load_tasks",
    "parse_task",
    "pick",
    "sibling_solutions",
    "tasks_from_rows",
]
