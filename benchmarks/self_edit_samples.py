"""Self-edits for one passage from several generators, side by side (the closing notes' "three self-edits").

    python benchmarks/self_edit_samples.py --data benchmarks/paraphrased/test.json --index 0 \
        --learner models/learners/smollm2-135m-paraphrase-v2 --learner models/learners/smollm2-135m-seal-r1

Each `--learner` is loaded in turn on the default model and writes `--k` self-edits for passage `--index`
of `--data` (file order), with the default preset's self-edit settings (format, temperature, length) and
the same seed for every generator. Prints Markdown; `--json OUT` also writes them.
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--learner", action="append", required=True)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args()
    from seal_desk.engine import Engine
    from seal_desk.events import ignore
    from seal_desk.knowledge.data import load_data
    from seal_desk.model.loader import load

    passage = load_data(args.data)[args.index]
    print(f"## {passage.title}\n\n{passage.text}\n")
    out = {"data": args.data, "index": args.index, "title": passage.title, "seed": args.seed, "self_edits": {}}
    for learner in args.learner:
        engine = Engine.open(load(args.model, "cpu", None, ignore, False, learner), None)
        cfg = engine.config.self_edit
        edits = engine.sample_self_edits(passage, cfg.format, args.k, seed=args.seed)
        out["self_edits"][learner] = edits
        print(f"### {learner} ({cfg.format}, temperature {cfg.temperature})\n")
        for i, edit in enumerate(edits, 1):
            print(f"{i}.\n```\n{edit.strip()}\n```\n")
        del engine
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
