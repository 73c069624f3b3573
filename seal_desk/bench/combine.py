"""`seal-desk bench table`: several `bench knowledge --json` results combined into one table, every
reply graded again under the current rules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from seal_desk.bench.knowledge import summarise
from seal_desk.errors import InputError
from seal_desk.knowledge.grading import grade, rivals


def regrade(rows: list[dict]) -> list[dict]:
    """Per-passage rows graded again from their saved replies under the current rules (strict and lax)."""
    out = []
    for row in rows:
        golds = [a["gold"] for a in row["answers"]]
        answers = []
        for a in row["answers"]:
            g = grade(a["answer"], a["gold"], rivals(a["gold"], golds, f"{row['title']} {a['question']}"))
            answers.append({**a, "correct": g.correct, "lax": g.lax_correct})
        out.append(
            {
                **row,
                "answers": answers,
                "correct": sum(a["correct"] for a in answers),
                "lax": sum(a["lax"] for a in answers),
            }
        )
    return out


def combine(results: list[dict]) -> dict:
    """One table from several `bench knowledge --json` results on the same passages (e.g. with and without
    --learner): their conditions side by side, each labelled with what differs, every reply graded
    again under the current rules (so results written before strict grading fit the same table)."""
    first = results[0]
    for r in results:
        missing = [key for key in ("model", "data", "n", "seed", "format", "per_passage", "conditions") if key not in r]
        if missing:
            raise InputError(f"not a `bench knowledge --json` result (no {', '.join(missing)})")
        same = all(r.get(key) == first.get(key) for key in ("model", "data", "n", "seed", "order", "setting"))
        titles = [x["title"] for x in next(iter(r["per_passage"].values()), [])]
        if not same or titles != [x["title"] for x in next(iter(first["per_passage"].values()), [])]:
            raise InputError("bench results differ in model, data, passages or seed: they cannot share a table")
    labels, per = {}, {}
    for n, r in enumerate(results, 1):
        tag = f" — learner {Path(r['learner']).name}" if r.get("learner") else ""
        for cond, summary in r["conditions"].items():
            key, label = cond + tag, summary["label"] + tag
            if key in per:  # the same condition in two runs (other settings): keep both, say which run
                key, label = f"{key} (run {n})", f"{label} (run {n})"
            labels[key], per[key] = label, regrade(r["per_passage"][cond])
    learners = {r.get("learner") for r in results}
    return {
        **first,
        "learner": learners.pop() if len(learners) == 1 else "mixed (see each row)",
        "conditions": summarise(per, labels),
        "per_passage": per,
        "combined_from": len(results),
        "format": ", ".join(dict.fromkeys(r["format"] for r in results)),
        "wall_seconds": sum(r.get("wall_seconds", 0.0) for r in results),
    }


def read_results(paths: Sequence[str | Path]) -> list[dict]:
    """`bench knowledge --json` results read back (for `combine`); InputError names a file that is not one."""
    results = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable bench JSON ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: not a `bench knowledge --json` result")
        results.append(data)
    return results
