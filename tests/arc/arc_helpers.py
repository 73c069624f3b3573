"""Small hand-made ARC tasks for the arc tests."""

from __future__ import annotations

import json

from seal_desk.arc.task import ArcTask, Pair


def g(*rows: str):
    return tuple(tuple(int(c) for c in row) for row in rows)


def constant_task(task_id: str = "const3") -> ArcTask:
    """Whatever the input, the output is the 1×1 grid `3` (a tiny random model can learn that)."""
    demos = (
        Pair(g("12", "21"), g("3")),
        Pair(g("45", "54", "44"), g("3")),
        Pair(g("7"), g("3")),
        Pair(g("606"), g("3")),
    )
    return ArcTask(task_id, demos, (Pair(g("89", "98"), g("3")),))


def flip_task(task_id: str = "flip") -> ArcTask:
    demos = (Pair(g("12", "34"), g("21", "43")), Pair(g("560", "007"), g("065", "700")), Pair(g("8", "9"), g("8", "9")))
    return ArcTask(task_id, demos, (Pair(g("102", "300"), g("201", "003")),))


def write_challenges(path, tasks, solutions_path=None) -> None:
    """Write tasks as an ARC challenges file (and a solutions file when a path is given)."""
    grid = lambda x: [list(r) for r in x]  # noqa: E731
    path.write_text(
        json.dumps(
            {
                t.id: {
                    "train": [{"input": grid(p.input), "output": grid(p.output)} for p in t.train],
                    "test": [{"input": grid(p.input)} for p in t.test],
                }
                for t in tasks
            }
        )
    )
    if solutions_path is not None:
        solutions_path.write_text(json.dumps({t.id: [grid(p.output) for p in t.test] for t in tasks}))
