"""What the self-edits in `bench knowledge --json` runs say, measured against their passages (no model needed).

    python benchmarks/self_edit_stats.py NAME=RUN.json[,RUN.json...] [NAME=...]

For each named group of runs (e.g. the untrained and the SEAL-trained generator over the same passages),
per self-QA self-edit: how many Q/A pairs it has, the share of its answers found verbatim in the passage
(case-folded, whole words: a fact the passage states), how many distinct such answers, and the share of
the passage's names, dates and numbers the grounded answers cover (`self_edit.key_terms`). Means over
self-edits, with a bootstrap 95% CI over passages for the grounded-answer share.
"""

from __future__ import annotations

import json
import random
import re
import sys
from statistics import mean


def _norm(text: str) -> str:
    return " " + " ".join(re.findall(r"[\w']+", text.lower())) + " "


def edit_stats(edit: str, title: str, passage: str) -> dict:
    from seal_desk.knowledge import self_edit as se

    pairs = [p for p in (se.qa_pair(i) for i in se.split_items("self-qa", edit)) if p]
    text = _norm(f"{title} {passage}")
    grounded = [a for _, a in pairs if _norm(a).strip() and _norm(a) in text]
    wanted = se.key_terms(passage) - se.key_terms(title)
    said = set().union(*(se.key_terms(a) for a in grounded)) if grounded else set()
    return {
        "pairs": len(pairs),
        "grounded_share": len(grounded) / len(pairs) if pairs else 0.0,
        "distinct_grounded": len({_norm(a) for a in grounded}),
        "coverage": len(wanted & said) / len(wanted) if wanted else 0.0,
    }


def group_stats(paths: list[str]) -> dict:
    from seal_desk.knowledge.data import load_data

    per_passage = []
    for path in paths:
        run = json.load(open(path))
        passages = load_data(run["data"])
        for rows in run["per_passage"].values():
            for row in rows:
                edits = row.get("self_edits") or []
                asked = {a["question"] for a in row.get("answers", [])}
                # the passage whose questions these are (titles repeat in SQuAD: one title, many passages)
                found = [p for p in passages if p.title == row["title"] and asked <= {q.question for q in p.questions}]
                if not edits or len(found) != 1:
                    continue
                passage = found[0]
                per_passage.append([edit_stats(e, passage.title, passage.text) for e in edits])
    flat = [s for stats in per_passage for s in stats]
    shares = [mean(s["grounded_share"] for s in stats) for stats in per_passage]
    rng = random.Random(0)
    boot = sorted(mean(rng.choices(shares, k=len(shares))) for _ in range(2000)) if shares else [0.0]
    return {
        "passages": len(per_passage),
        "self_edits": len(flat),
        "pairs": mean(s["pairs"] for s in flat) if flat else 0.0,
        "grounded_share": mean(shares) if shares else 0.0,
        "grounded_ci95": (boot[int(0.025 * len(boot))], boot[int(0.975 * len(boot)) - 1]),
        "distinct_grounded": mean(s["distinct_grounded"] for s in flat) if flat else 0.0,
        "coverage": mean(s["coverage"] for s in flat) if flat else 0.0,
    }


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    print(
        "| generator | passages | self-edits | Q/A pairs | answers in the passage | 95% CI | distinct grounded | key terms covered |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for spec in argv:
        name, _, files = spec.partition("=")
        s = group_stats(files.split(","))
        lo, hi = s["grounded_ci95"]
        print(
            f"| {name} | {s['passages']} | {s['self_edits']} | {s['pairs']:.1f} | {s['grounded_share']:.1%} | "
            f"{lo:.1%}–{hi:.1%} | {s['distinct_grounded']:.1f} | {s['coverage']:.1%} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
