"""Side by side: the inner loop before and after this machine's profile-driven changes, one change at a time.

    python benchmarks/inner_loop_ab.py [--model NAME] [--epochs 10] [--repeat 3]

Arms, alternated in rounds over the same sequences, seeds and fresh adapters:
- `before`: the output projection at every position, AdamW as the per-tensor loop;
- `+ logits at targets`: the projection and its backward only where a next token is trained
  (`inner_loop.LOGITS_AT_TARGETS`);
- `+ fused AdamW`: that, and AdamW as one fused kernel (`optimizers.FUSED`) — the shipped default.

With `--reference`, two more arms compare the loop itself with SEAL's reference code at equal LoRA targets:
- `seal-desk, q+v only`: the shipped loop with LoRA on q_proj and v_proj alone (r 32, alpha 64);
- `HF Trainer, no padding`: SEAL's reference recipe (bench/reference_recipe.py) without its 2048-token
  padding, which trains PEFT's default targets, q_proj and v_proj, on a plain copy of the model.

The sequences are what `learn` trains on for the built-in sample passage with the default preset's pipeline
(the passage, each sentence, and a fixed self-QA self-edit; `learn` trains every token of them, so logits at
targets save one position a row here; they save more where prompts are masked, as in SFT examples). Prints each arm's
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
REFERENCE_TARGETS = ("q_proj", "v_proj")  # PEFT's default for Llama and Qwen, which SEAL's reference trains


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reference", action="store_true", help="also the loop at q+v targets and the HF Trainer")
    args = ap.parse_args()
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    import seal_desk.knowledge.inner_loop as inner_loop
    import seal_desk.model.optimizers as optimizers
    from seal_desk.bench.reference_recipe import ReferenceRecipe, train_reference
    from seal_desk.bench.speed import SAMPLE
    from seal_desk.engine import Engine
    from seal_desk.events import ignore
    from seal_desk.model.loader import load
    from seal_desk.restem.start import model_copier

    engine = Engine.open(load(args.model, "auto", None, ignore, False, None), None, {"inner": {"epochs": args.epochs}})
    sequences = engine.sequences_for(SAMPLE, [EDIT], "self-qa")
    print(f"{engine.loaded.name}: {len(sequences)} sequences, {engine.training_tokens(sequences)} tokens an epoch")
    names = [name for name, *_ in ARMS] + (["seal-desk, q+v only", "HF Trainer, no padding"] if args.reference else [])
    seconds: dict[str, list[float]] = {name: [] for name in names}
    losses = {}
    # the Trainer's copy: the same weights as the engine's (its learner merged), with no adapter slot
    base = model_copier(engine.loaded.name, "auto", "", False, None)().model if args.reference else None
    qv = replace(
        engine.config,
        inner=replace(engine.config.inner, lora=replace(engine.config.inner.lora, target_modules=REFERENCE_TARGETS)),
    )
    for _ in range(args.repeat):
        for name, at_targets, fused in ARMS:
            inner_loop.LOGITS_AT_TARGETS, optimizers.FUSED = at_targets, fused
            report = engine.train_on(sequences)
            seconds[name].append(report.seconds)
            losses[name] = (report.first_loss, report.final_loss)
        if base is None:
            continue
        with engine.configured(qv):
            report = engine.train_on(sequences)
        seconds["seal-desk, q+v only"].append(report.seconds)
        losses["seal-desk, q+v only"] = (report.first_loss, report.final_loss)
        with tempfile.TemporaryDirectory() as tmp:
            recipe = ReferenceRecipe(epochs=args.epochs, pad_to=None)
            done = train_reference(base, engine.tokenizer, sequences, recipe, engine.config.inner.seed, Path(tmp))
        seconds["HF Trainer, no padding"].append(done["seconds"])
        losses["HF Trainer, no padding"] = (float("nan"), float("nan"))
    before = statistics.median(seconds["before"])
    for name in names:
        median = statistics.median(seconds[name])
        first, last = losses[name]
        runs = ", ".join(f"{s:.1f}" for s in seconds[name])
        print(f"{name}: {runs} s, median {median:.2f} s ({before / median:.2f}× before), loss {first:.4f} → {last:.6f}")


if __name__ == "__main__":
    main()
