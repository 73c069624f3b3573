"""Issue #16: the question writer's yield on documents without questions (their given questions are ignored).

    python benchmarks/question_yield.py --data benchmarks/paraphrased/test.json --n 12 --per-passage 5

For each passage the model writes questions (`engine.write_questions`: model questions whose answer occurs in
the passage and fits the question, topped up with cloze questions built from the passage's names, dates and
numbers). Prints the kept/cloze/dropped totals, the seconds per passage and a few of the questions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a preset, hub id or folder (default: the default preset)")
    p.add_argument("--learner", default=None, help="as seal-desk --learner (default: the preset's)")
    p.add_argument("--data", default=str(REPO / "benchmarks/paraphrased/test.json"))
    p.add_argument("--n", type=int, default=12, help="first n passages, in file order")
    p.add_argument("--per-passage", type=int, default=5)
    p.add_argument("--json", dest="json_out", default=None)
    args = p.parse_args(argv)

    from seal_desk.engine import Engine
    from seal_desk.knowledge.data import load_data
    from seal_desk.knowledge.documents import Passage
    from seal_desk.knowledge.question_writer import WrittenQuestions
    from seal_desk.model.loader import load

    passages = [Passage(p.title, p.text) for p in load_data(args.data)[: args.n]]  # without their questions
    if not passages or args.per_passage < 1:
        p.error("--n and --per-passage must select at least one passage and one question")
    engine = Engine.open(load(args.model, "auto", learner=args.learner), None)
    results, seconds = [], []
    for passage in passages:
        started = time.perf_counter()
        results.append(engine.write_questions(passage, args.per_passage, []))
        seconds.append(time.perf_counter() - started)
    total = WrittenQuestions.total(results)
    print(f"{len(passages)} passages, {args.per_passage} asked for each: {total.tally()}")
    print(f"{sum(seconds) / len(seconds):.1f} s/passage")
    for passage, r in list(zip(passages, results))[:3]:
        for q in r.questions:
            print(f"  [{passage.title}] {q.question} → {q.answer}")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "data": args.data,
                    "passages": len(passages),
                    "per_passage": args.per_passage,
                    "questions": len(total.questions),
                    "written": total.written,
                    "kept": total.kept,
                    "cloze": total.cloze,
                    "dropped": dict(total.dropped),
                    "s_per_passage": sum(seconds) / len(seconds),
                    "examples": [
                        {"title": pa.title, "question": q.question, "answer": q.answer}
                        for pa, r in zip(passages, results)
                        for q in r.questions
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
