"""Side by side: the inner loop before and after this machine's profile-driven changes, one change at a time.

    python benchmarks/inner_loop_ab.py [--model NAME] [--epochs 10] [--repeat 3]

Arms, alternated in rounds over the same sequences, seeds and fresh adapters:
- `before`: the output projection at every position, AdamW as the per-tensor loop;
- `+ logits at targets`: the projection and its backward only where a next token is trained
  (`inner_loop.LOGITS_AT_TARGETS`);
- `+ fused AdamW`: that, and AdamW as one fused kernel (`optimizers.FUSED`) — the shipped default.

The sequences are what `learn` trains on for the built-in sample passage with the default preset's pipeline
(the passage, each sentence, and a fixed self-QA self-edit whose answers alone are trained). Prints each arm's
seconds per run, the medians, their ratios to `before`, and each arm's first and last loss (they must agree).
"""

from __future__ import annotations

import argparse
import statistics

EDIT = (
    "Q: Who first mapped Lake Quorra?\nA: Edwin Halloway\nQ: How deep is the lake?\nA: 63 metres\n"
    "Q: Which fish lives only there?\nA: the silver-finned Quorra trout\nQ: Where is the lake?\nA: the Thessmar "
    "Highlands\nQ: When is the lantern festival?\nA: every October\nQ: Which village is nearest?\nA: Brenmouth"
)
ARMS = (("before", False, False), ("+ logits at targets", True, False), ("+ fused AdamW", True, True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import seal_desk.knowledge.inner_loop as inner_loop
    import seal_desk.model.optimizers as optimizers
    from seal_desk.bench.speed import SAMPLE
    from seal_desk.engine import Engine
    from seal_desk.events import ignore
    from seal_desk.model.loader import load

    engine = Engine.open(load(args.model, "auto", None, ignore, False, None), None, {"inner": {"epochs": args.epochs}})
    sequences = engine.sequences_for(SAMPLE, [EDIT], "self-qa")
    print(f"{engine.loaded.name}: {len(sequences)} sequences, {engine.training_tokens(sequences)} tokens an epoch")
    seconds: dict[str, list[float]] = {name: [] for name, *_ in ARMS}
    losses = {}
    for _ in range(args.repeat):
        for name, at_targets, fused in ARMS:
            inner_loop.LOGITS_AT_TARGETS, optimizers.FUSED = at_targets, fused
            report = engine.train_on(sequences)
            seconds[name].append(report.seconds)
            losses[name] = (report.first_loss, report.final_loss)
    before = statistics.median(seconds["before"])
    for name, *_ in ARMS:
        median = statistics.median(seconds[name])
        first, last = losses[name]
        runs = ", ".join(f"{s:.1f}" for s in seconds[name])
        print(f"{name}: {runs} s, median {median:.2f} s ({before / median:.2f}× before), loss {first:.4f} → {last:.6f}")


if __name__ == "__main__":
    main()
