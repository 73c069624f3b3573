"""Two arms of `bench knowledge --json` runs on the same passages, pooled and compared pair by pair.

    python benchmarks/paired.py --a A1.json A2.json ... --b B1.json B2.json ... [--condition NAME]

Each arm is one or more JSON files (chunks of one run over other passages, e.g. `--offset` 0, 10, …); the
passages of the two arms are matched by title and question. Prints each arm's strict accuracy with its
95% bootstrap interval (passages resampled), tokens and seconds per passage, and the paired difference
A − B with its interval (the same passages resampled for both arms), so "recall held" can be read off.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics


def rows(paths: list[str], condition: str | None) -> tuple[str, list[dict]]:
    """(condition, per-passage rows) pooled over the chunk files of one arm."""
    pooled, name = [], condition
    for path in paths:
        data = json.load(open(path))
        name = name or next(iter(data["per_passage"]))
        pooled += data["per_passage"][name]
    return name, pooled


def keyed(per_passage: list[dict]) -> dict[tuple, dict]:
    return {(r["title"], tuple(a["question"] for a in r["answers"])): r for r in per_passage}


def interval(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", nargs="+", required=True)
    ap.add_argument("--b", nargs="+", required=True)
    ap.add_argument("--condition", default=None, help="the condition to compare (default: each run's first)")
    ap.add_argument("--rounds", type=int, default=10000)
    args = ap.parse_args()
    name_a, a = rows(args.a, args.condition)
    name_b, b = rows(args.b, args.condition)
    ka, kb = keyed(a), keyed(b)
    common = [k for k in ka if k in kb]
    if not common:
        raise SystemExit("the two arms share no passage")
    pa = [(ka[k]["correct"], len(ka[k]["answers"])) for k in common]
    pb = [(kb[k]["correct"], len(kb[k]["answers"])) for k in common]
    rng = random.Random(0)
    stats_a, stats_b, diffs = [], [], []
    for _ in range(args.rounds):
        idx = [rng.randrange(len(common)) for _ in common]
        n = sum(pa[i][1] for i in idx)
        ca, cb = sum(pa[i][0] for i in idx) / n, sum(pb[i][0] for i in idx) / n
        stats_a.append(ca)
        stats_b.append(cb)
        diffs.append(ca - cb)
    total = sum(t for _, t in pa)
    for label, name, per, stats, src in (("A", name_a, pa, stats_a, ka), ("B", name_b, pb, stats_b, kb)):
        lo, hi = interval(stats)
        correct = sum(c for c, _ in per)
        tokens = statistics.mean(src[k]["tokens"] for k in common)
        seconds = statistics.mean(src[k]["seconds"] for k in common)
        print(
            f"{label} ({name}): {correct / total:.1%} ({correct}/{total}), 95% CI {lo:.1%}–{hi:.1%}, "
            f"{tokens:.0f} tokens/passage, {seconds:.1f} s/passage"
        )
    lo, hi = interval(diffs)
    diff = (sum(c for c, _ in pa) - sum(c for c, _ in pb)) / total
    same = sum(ka[k].get("self_edits") == kb[k].get("self_edits") for k in common)
    print(f"A − B: {diff * 100:+.1f} points, paired 95% CI {lo * 100:+.1f} to {hi * 100:+.1f}")
    print(f"{len(common)} passages, {total} questions; identical self-edits in {same} of them")


if __name__ == "__main__":
    main()
