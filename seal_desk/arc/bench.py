"""`seal-desk arc bench`: SEAL's few-shot table — in-context only, TTT with untrained self-edits,
SEAL (self-edits from an RL-trained generator) and an oracle config — on a set of ARC tasks.

icl     no training; the demonstrations and the test input in the prompt, greedy answer.
ttt     `samples` configs per task sampled from the base model, each trained and graded.
seal-N  the same with configs from a generator checkpoint (`seal-desk arc rl`), one row per --generator.
oracle  every config of a small hand-chosen grid (ORACLE_GRID) per task; a task counts as solved when
        any of them solves it, and the table says which ones did.

Success rate = solved attempts / attempts (an attempt = one task under one sampled config; as in the
paper, which sampled several configs per task); invalid configs count as failed attempts. Exact match
on every test output of a task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Optional

from seal_desk.arc.self_edit import ArcSelfEdit, from_dict
from seal_desk.arc.task import ArcTask
from seal_desk.arc.ttt import sample_configs, solve
from seal_desk.config import FewShotConfig
from seal_desk.errors import InputError
from seal_desk.events import CancelToken, EventSink, Message, Progress, ignore

CONDITIONS = ("icl", "ttt", "seal", "oracle")
LABELS = {
    "icl": "In-context only (no training)",
    "ttt": "TTT + untrained self-edits",
    "oracle": "TTT + oracle config (best of grid)",
}
OUT_ONLY, ALL = "train_using_output_tokens", "train_using_all_tokens"
# Hand-chosen: loss on the answer only (MARC found it best), learning rates a small LoRA needs to move in a
# few steps, and the augmentation groups that keep grids small enough for a 2k context.
ORACLE_GRID = (
    ArcSelfEdit(basic=True, strategy=OUT_ONLY, learning_rate=1e-3, epochs=3),
    ArcSelfEdit(basic=False, strategy=OUT_ONLY, learning_rate=1e-3, epochs=3),
    ArcSelfEdit(basic=True, repeat=True, strategy=ALL, learning_rate=3e-4, epochs=3),
)
LoadGenerator = Callable[[str], object]  # checkpoint path -> LoadedModel


def conditions_from(text: str, generators: Sequence[str]) -> list[str]:
    """The bench rows: `seal` expands to one row per generator (seal-1, seal-2, ...)."""
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONDITIONS]
    if unknown:
        raise InputError(f"unknown condition(s) {', '.join(unknown)}: choose from {', '.join(CONDITIONS)}")
    if generators and "seal" not in names:
        names.append("seal")
    if "seal" in names and not generators:
        raise InputError("the seal condition needs --generator PATH (a round's generator from `seal-desk arc rl`)")
    return [x for c in names for x in ([f"seal-{i}" for i in range(1, len(generators) + 1)] if c == "seal" else [c])]


def run_bench(
    engine,
    tasks: Sequence[ArcTask],
    settings: FewShotConfig,
    conditions: Sequence[str],
    samples: int = 1,
    oracle: Sequence[ArcSelfEdit] = ORACLE_GRID,
    generators: Sequence[str] = (),
    load_generator: Optional[LoadGenerator] = None,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> dict:
    """Every condition on every task (task by task, conditions side by side); returns the results dict."""
    missing = [t.id for t in tasks if not t.solved_known]
    if missing:
        raise InputError(
            f"no test outputs for {', '.join(missing[:5])}: the bench needs the solutions file "
            "(found next to the challenges, or --solutions F)"
        )
    started = time.perf_counter()
    per: dict[str, list[dict]] = {c: [] for c in conditions}
    loaded = {}
    for i, task in enumerate(tasks):
        on_event(Progress("arc tasks", i, len(tasks), task.id))
        for cond in conditions:
            t = time.perf_counter()
            if cond == "icl":
                results = [solve(engine, task, settings, None, cond, on_event, cancel, i, len(tasks))]
            elif cond == "oracle":
                results = [solve(engine, task, settings, c, cond, on_event, cancel, i, len(tasks)) for c in oracle]
            else:
                writer = None
                if cond.startswith("seal-"):
                    path = generators[int(cond.split("-")[1]) - 1]
                    if path not in loaded:
                        loaded[path] = load_generator(path)
                    writer = loaded[path]
                with engine.writing_with(writer):
                    parsed = sample_configs(engine, task, settings, samples, settings.seed + i, on_event, cancel)
                results = [solve(engine, task, settings, p, cond, on_event, cancel, i, len(tasks)) for p in parsed]
            per[cond].append(
                {"task": task.id, "attempts": [r.to_json() for r in results], "seconds": time.perf_counter() - t}
            )
        on_event(
            Message(
                f"[{i + 1}/{len(tasks)}] {task.id}: "
                + ", ".join(f"{c} {_solved(per[c][-1])}/{len(per[c][-1]['attempts'])}" for c in conditions)
            )
        )
    on_event(Progress("arc tasks", len(tasks), len(tasks), "done"))
    return {
        "model": engine.loaded.name,
        "device": engine.loaded.placement.label,
        "tasks": [t.id for t in tasks],
        "n": len(tasks),
        "samples": samples,
        "generators": {f"seal-{i}": p for i, p in enumerate(generators, 1)},
        "oracle_grid": [c.to_json() for c in oracle],
        "settings": _settings_json(settings),
        "grading": "exact match of every test output grid of a task",
        "wall_seconds": time.perf_counter() - started,
        "conditions": summarise(per, len(oracle)),
        "per_task": per,
    }


def _solved(row: dict) -> int:
    return sum(bool(a["solved"]) for a in row["attempts"])


def summarise(per: dict[str, list[dict]], grid_size: int) -> dict:
    """Per-condition statistics from the per-task rows (so a results JSON can be summarised again)."""
    out = {}
    for cond, rows in per.items():
        attempts = [a for r in rows for a in r["attempts"]]
        s = {
            "label": LABELS.get(cond) or f"SEAL ({cond} generator)",
            "tasks": len(rows),
            "tasks_solved": sum(_solved(r) > 0 for r in rows),
            "attempts": len(attempts),
            "solved": sum(bool(a["solved"]) for a in attempts),
            "invalid": sum(not a["valid"] for a in attempts),
            # ARC's own unit: single test outputs (a task can have several), right in any attempt
            "outputs": sum(len(r["attempts"][0]["expected"]) for r in rows),
            "outputs_solved": sum(_outputs_solved(r) for r in rows),
            "seconds_per_task": sum(r["seconds"] for r in rows) / len(rows) if rows else 0.0,
        }
        if cond == "oracle":  # one attempt per task: solved by any grid config
            s["attempts"], s["solved"] = len(rows), s["tasks_solved"]
            s["grid_solved"] = [sum(bool(r["attempts"][j]["solved"]) for r in rows) for j in range(grid_size)]
            s["solved_by"] = {r["task"]: [j for j, a in enumerate(r["attempts"]) if a["solved"]] for r in rows}
        s["success_rate"] = s["solved"] / s["attempts"] if s["attempts"] else 0.0
        out[cond] = s
    return out


def _outputs_solved(row: dict) -> int:
    expected = row["attempts"][0]["expected"]
    return sum(
        any(a["valid"] and a["predictions"] and a["predictions"][j] == e for a in row["attempts"])
        for j, e in enumerate(expected)
    )


def _settings_json(settings: FewShotConfig) -> dict:
    from dataclasses import asdict

    return asdict(settings)


def markdown_table(result: dict) -> str:
    st = result["settings"]
    lines = [
        f"ARC few-shot: {result['model']} on {result['device']}, {result['n']} tasks, "
        f"{result['samples']} sampled config(s) per task for the self-edit rows; LoRA r={st['lora']['r']} "
        f"alpha={st['lora']['alpha']}, ≤{st['max_examples']} episodes, ≤{st['max_epochs']} epochs, "
        f"leave-out {','.join(str(x) for x in st['leave_out'])}, colour permutations "
        f"{'on' if st['permute_colours'] else 'off'}, voting {'on' if st['vote'] else 'off'}",
        "",
        "| condition | success rate | tasks solved | test outputs right | invalid configs | s / task |",
        "|---|---|---|---|---|---|",
    ]
    for s in result["conditions"].values():
        lines.append(
            f"| {s['label']} | {s['success_rate']:.1%} ({s['solved']}/{s['attempts']}) | "
            f"{s['tasks_solved']}/{s['tasks']} | {s['outputs_solved']}/{s['outputs']} | {s['invalid']} | "
            f"{s['seconds_per_task']:.1f} |"
        )
    oracle = result["conditions"].get("oracle")
    if oracle:
        lines += [
            "",
            f"Oracle grid (a task counts as solved when any config solves it; epochs capped at {st['max_epochs']}):",
            "",
        ]
        for j, (cfg, n) in enumerate(zip(result["oracle_grid"], oracle["grid_solved"])):
            lines.append(f"- config {j + 1}: {config_label(cfg)} — solved {n}/{oracle['tasks']}")
    lines += ["", f"Wall time {result['wall_seconds'] / 60:.1f} min. Grading: {result['grading']}.", ""]
    return "\n".join(lines)


def config_label(data: dict) -> str:
    """`basic, output tokens, lr 1e-03, 3 ep` for a config's JSON."""
    return from_dict(data).label()


__all__ = ["CONDITIONS", "LABELS", "ORACLE_GRID", "conditions_from", "markdown_table", "run_bench", "summarise"]
