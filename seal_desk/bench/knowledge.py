"""`seal-desk bench knowledge`: SEAL's single-passage protocol on SQuAD-format data.

Per passage: start from the base model, train a fresh adapter under each condition, grade that
passage's questions closed-book. Conditions: base (no training), passage (train on the passage
alone), self-edit (passage + the model's own self-edits), given-self-edits (passage + self-edits
supplied in the data, e.g. GPT-4.1's), seal (passage + self-edits from a generator trained by
`seal-desk rl`, one row per --generator), rag (base model, the passages a retrieval index over all n
selected passages finds for each question in the prompt; retrieval can pick wrong ones, as in real
use) and rag+adapter (the --rag-adapter condition's adapter, default self-edit, plus retrieval;
it reuses that condition's adapter when both run). With --cpt, each condition trains one adapter on all
passages' sequences and asks all their questions (the paper's continued-pretraining setting).
Accuracy is pooled over questions with a 95% bootstrap interval that resamples passages. Grading is
strict (the reply states its own answer and no other answer of the passage); the lax figure (states
its answer) is kept beside it, and each table shows the data's recitation floor: what replying with
a random sentence of the passage would score. `sentences` trains on the passage split into one
sequence per sentence (a deterministic augmentation, no model involved); `self-edit:FORMAT` samples
own self-edits in another format than --format, so formats can be compared on the same passages.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from seal_desk.knowledge import self_edit as se
from seal_desk.model.adapters import SLOT
from seal_desk.knowledge.documents import Passage, load_data_file
from seal_desk.knowledge.engine import Engine, asked_for
from seal_desk.errors import InputError
from seal_desk.events import Message
from seal_desk.knowledge.grading import grade, recitation_floor, rivals
from seal_desk.cli.progress import RichReporter
from seal_desk.files import write_reports

CONDITIONS = ("base", "passage", "sentences", "self-edit", "given-self-edits", "seal", "rag", "rag+adapter")
RAG_CONDITIONS = ("rag", "rag+adapter")
RAG_ADAPTERS = ("passage", "self-edit", "given-self-edits")
LABELS = {
    "base": "Base model",
    "passage": "Train on passage",
    "sentences": "Passage + its sentences one by one",
    "self-edit": "Passage + own self-edits",
    "given-self-edits": "Passage + given self-edits",
    "rag": "Base model + retrieved passages (RAG)",
}


def _generators(args, conditions: list[str], engine: Engine) -> dict[str, tuple[str, str]]:
    """seal-N condition -> (label, checkpoint path), one per --generator."""
    from seal_desk.restem.loop import generator_base

    paths = list(getattr(args, "generator", None) or [])
    if "seal" in conditions and not paths:
        raise InputError("the seal condition needs --generator PATH (a round's generator from `seal-desk rl`)")
    out = {}
    for i, path in enumerate(paths, 1):
        base = generator_base(path)
        if base is None:
            raise InputError(f"{path}: not a generator checkpoint from `seal-desk rl` (no seal_desk_generator.json)")
        if base != engine.loaded.name:
            raise InputError(f"{path}: generator was trained from {base}, not {engine.loaded.name} (use --model {base})")
        round_ = json.loads((Path(path) / "seal_desk_generator.json").read_text()).get("round", i)
        out[f"seal-{i}"] = (f"SEAL (round {round_} generator)", str(path))
    return out


def select(passages: list[Passage], n: int, seed: int, order: str = "seal", offset: int = 0) -> list[Passage]:
    """SEAL's selection: random.seed(seed); random.shuffle(passages); passages[:n]."""
    chosen = list(passages)
    if order == "seal":
        random.Random(seed).shuffle(chosen)
    return chosen[offset : offset + n]


def bootstrap_ci(per_passage: list[tuple[int, int]], rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of pooled accuracy, resampling passages (correct, total) with replacement."""
    if not per_passage:
        return (0.0, 0.0)
    rng = random.Random(seed)
    stats = []
    for _ in range(rounds):
        sample = [per_passage[rng.randrange(len(per_passage))] for _ in per_passage]
        total = sum(t for _, t in sample)
        stats.append(sum(c for c, _ in sample) / total if total else 0.0)
    stats.sort()
    return stats[int(0.025 * rounds)], stats[int(0.975 * rounds) - 1]


def _supplied(args, passages: list[Passage]) -> None:
    if not args.self_edits:
        return
    by_hash = {p.sha256: p.self_edits for p in load_data_file(Path(args.self_edits))}
    for p in passages:
        p.self_edits = p.self_edits or by_hash.get(p.sha256, [])


def run_knowledge_bench(engine: Engine, args, err: Console) -> int:
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    for c in conditions:
        if c.startswith("self-edit:"):
            se.check_format(c.split(":", 1)[1])
    unknown = [c for c in conditions if c not in CONDITIONS and not c.startswith("self-edit:")]
    if unknown:
        raise InputError(f"unknown condition(s) {', '.join(unknown)}: choose from {', '.join(CONDITIONS)}")
    if getattr(args, "generator", None) and "seal" not in conditions:
        conditions.append("seal")
    generators = _generators(args, conditions, engine)
    conditions = [x for c in conditions for x in (list(generators) if c == "seal" else [c])]
    seed = args.seed if args.seed is not None else 42
    chosen = select(load_data_file(Path(args.data)), args.n, seed, args.order, args.offset)
    passages = [p for p in chosen if p.questions]
    if not passages:
        raise InputError(f"{args.data}: no passages with questions selected")
    _supplied(args, passages)
    rag_adapter = getattr(args, "rag_adapter", None) or "self-edit"
    if rag_adapter not in RAG_ADAPTERS:
        raise InputError(f"--rag-adapter must be one of {', '.join(RAG_ADAPTERS)}")
    if "given-self-edits" in {*conditions, rag_adapter if "rag+adapter" in conditions else None} and not all(
            p.self_edits for p in passages):
        raise InputError("given-self-edits needs 'self_edits' on every passage (in --data or via --self-edits F)")
    top_k = getattr(args, "top_k", None) or 3
    index = None
    if set(RAG_CONDITIONS) & set(conditions):
        from seal_desk.continual.retrieval import Index

        index = Index(chosen, getattr(args, "retrieval", None) or "auto")
    k = engine.config.self_edit.k
    fmt = engine.config.self_edit.format
    cpt = bool(getattr(args, "cpt", False))
    labels = {**LABELS, **{c: label for c, (label, _) in generators.items()},
              **{c: f"Passage + own self-edits ({c.split(':', 1)[1]})" for c in conditions if c.startswith("self-edit:")},
              "rag+adapter": f"{LABELS[rag_adapter]} + retrieved passages"}
    loaded_generators: dict = {}
    gen_engines: dict[str, Engine] = {}
    inner_from = getattr(args, "inner_from", None) or "generator"
    per: dict[str, list[dict]] = {c: [] for c in conditions}
    started = time.perf_counter()
    err.print(f"[bold]bench knowledge[/]: {len(passages)} passages, conditions {', '.join(conditions)}, "
              f"{engine.loaded.name} on {engine.loaded.placement.label}, format {fmt}, k={k}"
              + (", continued pretraining (one adapter for all passages)" if cpt else "")
              + (f", retrieval {index.label} over {len(index)} passages, top {top_k}" if index else ""))

    def training(cond: str, i: int, passage: Passage, reporter) -> tuple[list[str], list[str]]:
        """(sequences, self-edits) of one passage under a condition."""
        if cond == "passage":
            return engine.sequences_for(passage, [], "none"), []
        if cond == "sentences":
            return se.sentence_sequences(passage.title, passage.text), []
        if cond == "given-self-edits":
            edits = passage.self_edits[:k]
            return _given_sequences(engine, passage, edits), edits
        form = cond.split(":", 1)[1] if cond.startswith("self-edit:") else fmt
        eng = engine_for(cond)
        if cond.startswith("seal-") and eng is engine:  # --inner-from base: sample from it, train the base
            engine.generator = generator_model(cond)
        try:
            edits = eng.sample_self_edits(passage, form, k, seed=seed + i, on_event=reporter)
        finally:
            engine.generator = None
        return eng.sequences_for(passage, edits, form), edits

    def generator_model(cond: str):
        if cond not in loaded_generators:
            from seal_desk.model.loader import load

            loaded_generators[cond] = load(generators[cond][1], args.device, args.quant)
        return loaded_generators[cond]

    def engine_for(cond: str) -> Engine:
        """The engine a condition trains and asks on: a SEAL row's own generator (SEAL's reference), else the base."""
        if not cond.startswith("seal-") or inner_from == "base":
            return engine
        if cond not in gen_engines:
            gen_engines[cond] = Engine(generator_model(cond), None, engine.config)
        return gen_engines[cond]

    def row(passage, report, tokens, seconds, sequences, edits, rag: bool) -> dict:
        return {
            "title": passage.title, "correct": report.correct, "questions": len(report.answers),
            "lax": sum(a.grade.lax_correct for a in report.answers),
            "f1": sum(a.grade.f1 for a in report.answers), "tokens": tokens, "seconds": seconds,
            "sequences": len(sequences),
            "retrieved": (sum((passage.title, passage.text) in a.asked.context for a in report.answers)
                          if rag else None),
            "answers": [{"question": a.asked.question, "gold": a.asked.answer, "answer": a.text,
                         "correct": a.grade.correct, "lax": a.grade.lax_correct} for a in report.answers],
            "self_edits": edits,
        }

    slot: dict = {}  # what the training slot holds now: condition, sequences, self-edits, tokens, seconds

    def train_for(cond: str, train, key) -> dict:
        """Train `cond`'s adapter (rag+adapter trains its --rag-adapter condition's, or reuses it)."""
        cond = rag_adapter if cond == "rag+adapter" else cond
        if slot.get("key") != (cond, key):
            t = time.perf_counter()
            sequences, edits = train(cond)
            slot.update(key=(cond, key), sequences=sequences, edits=edits,
                        tokens=engine_for(cond).train_on(sequences, reporter).tokens, seconds=time.perf_counter() - t)
        return slot

    def ask(cond: str, questions):
        if cond == "base":
            return engine.recall(questions, None, cond)
        if cond == "rag":
            return engine.recall_rag(questions, index, top_k, None, cond)
        if cond == "rag+adapter":
            return engine.recall_rag(questions, index, top_k, SLOT, cond)
        return engine_for(cond).recall(questions, SLOT, cond)

    with RichReporter(err) as reporter:
        if cpt:
            questions = asked_for(passages)

            def train_all(cond):
                sequences, edits = [], []
                for i, passage in enumerate(passages):
                    reporter(_progress(i, len(passages), f"{cond}: {passage.title}"))
                    seqs, eds = training(cond, i, passage, reporter)
                    sequences += seqs
                    edits.append(eds)
                return sequences, edits

            for cond in conditions:
                t = time.perf_counter()
                edits, tokens, trained_s = [], 0, 0.0
                if cond not in ("base", "rag"):
                    trained = train_for(cond, train_all, "all")
                    edits, tokens, trained_s = trained["edits"], trained["tokens"], trained["seconds"]
                    t = time.perf_counter()
                report = ask(cond, questions)
                seconds = (time.perf_counter() - t + trained_s) / len(passages)
                at = 0
                for i, passage in enumerate(passages):
                    n = len(passage.questions)
                    part = replace(report, answers=report.answers[at : at + n])
                    at += n
                    per[cond].append(row(passage, part, tokens / len(passages), seconds, [],
                                         edits[i] if edits else [], cond in RAG_CONDITIONS))
                reporter(Message(f"{cond}: {report.correct}/{len(report.answers)}"))
        else:
            for i, passage in enumerate(passages):
                reporter(_progress(i, len(passages), passage.title))
                questions = asked_for([passage])
                for cond in conditions:
                    t = time.perf_counter()
                    tokens, edits, sequences, trained_s = 0, [], [], 0.0
                    if cond not in ("base", "rag"):
                        trained = train_for(cond, lambda c: training(c, i, passage, reporter), i)
                        sequences, edits, tokens, trained_s = (trained["sequences"], trained["edits"],
                                                               trained["tokens"], trained["seconds"])
                        t = time.perf_counter()
                    report = ask(cond, questions)
                    per[cond].append(row(passage, report, tokens, time.perf_counter() - t + trained_s, sequences,
                                         edits, cond in RAG_CONDITIONS))
                reporter(Message(f"[{i + 1}/{len(passages)}] {passage.title[:40]}: " + ", ".join(
                    f"{c} {per[c][-1]['correct']}/{per[c][-1]['questions']}" for c in conditions)))
        reporter(_progress(len(passages), len(passages), "done"))
    summary = _summarise(per, labels)
    result = {
        "model": engine.loaded.name, "device": engine.loaded.placement.label, "data": str(args.data),
        "n": len(passages), "seed": seed, "order": args.order, "format": fmt, "k": k,
        "setting": "continued pretraining (one adapter, all passages)" if cpt else "single passage",
        "generators": {c: path for c, (_, path) in generators.items()},
        "inner_from": inner_from if generators else None,
        "learner": engine.loaded.learner,
        "self_edit": asdict(engine.config.self_edit),
        "retrieval": ({"index": index.label, "passages": len(index), "top_k": top_k, "rag_adapter": rag_adapter}
                      if index else None),
        "grading": ("strict: the reply states its own gold answer (normalised, whole tokens) and no other answer of "
                    "its passage; lax: states the gold answer; the paper used a GPT-4.1 judge"),
        "recitation_floor": asdict(recitation_floor(
            [(p.text, [(f"{p.title} {q.question}", q.answer) for q in p.questions]) for p in passages])),
        "inner_loop": {"r": engine.config.inner.lora.r, "alpha": engine.config.inner.lora.alpha,
                       "lr": engine.config.inner.lr, "epochs": engine.config.inner.epochs,
                       "batch_size": engine.config.inner.batch_size},
        "wall_seconds": time.perf_counter() - started,
        "conditions": summary, "per_passage": per,
    }
    Console().print(_rich_table(result))
    write_reports(args, result, markdown_table, err)
    return 0


def _given_sequences(engine: Engine, passage: Passage, edits: list[str]) -> list[str]:
    return se.training_sequences(passage.title, passage.text, edits, "implications",
                                 engine.config.self_edit.include_passage, 0.0)


def _progress(done: int, total: int, title: str):
    from seal_desk.events import Progress

    return Progress("passages", done, total, title)


def _summarise(per: dict[str, list[dict]], labels: dict[str, str]) -> dict:
    out = {}
    for cond, rows in per.items():
        correct = sum(r["correct"] for r in rows)
        total = sum(r["questions"] for r in rows)
        lo, hi = bootstrap_ci([(r["correct"], r["questions"]) for r in rows])
        lax = sum(r.get("lax", r["correct"]) for r in rows)
        out[cond] = {
            "label": labels[cond], "accuracy": correct / total if total else 0.0, "ci95": [lo, hi],
            "lax_accuracy": lax / total if total else 0.0,
            "lax_ci95": list(bootstrap_ci([(r.get("lax", r["correct"]), r["questions"]) for r in rows])),
            "correct": correct, "questions": total, "f1": sum(r["f1"] for r in rows) / total if total else 0.0,
            "tokens_per_passage": sum(r["tokens"] for r in rows) / len(rows),
            "seconds_per_passage": sum(r["seconds"] for r in rows) / len(rows),
        }
        retrieved = [r["retrieved"] for r in rows if r.get("retrieved") is not None]
        if retrieved:
            out[cond]["retrieval_hit"] = sum(retrieved) / total if total else 0.0
    return out


def markdown_table(result: dict) -> str:
    lines = [
        f"Knowledge incorporation, {result.get('setting', 'single passage')}: {result['model']} on {result['device']}, "
        f"n={result['n']} passages (seed {result['seed']}), format {result['format']}, k={result['k']}",
        "",
        "| condition | strict accuracy | 95% CI | lax | F1 | tokens trained / passage | s / passage |",
        "|---|---|---|---|---|---|---|",
    ]
    for cond, s in result["conditions"].items():
        lines.append(
            f"| {s['label']} | {s['accuracy']:.1%} ({s['correct']}/{s['questions']}) | "
            f"{s['ci95'][0]:.1%}–{s['ci95'][1]:.1%} | {s.get('lax_accuracy', s['accuracy']):.1%} | {s['f1']:.3f} | "
            f"{s['tokens_per_passage']:.0f} | {s['seconds_per_passage']:.1f} |"
        )
    floor = result.get("recitation_floor")
    if floor:
        lines.append(f"| *Recitation floor: a random passage sentence as the reply* | {floor['strict']:.1%} | | "
                     f"{floor['lax']:.1%} | | | |")
    lines += [""]
    rag = [s for s in result["conditions"].values() if "retrieval_hit" in s]
    if rag and result.get("retrieval"):
        r = result["retrieval"]
        lines += [f"Retrieval: {r['index']} over the {r['passages']} selected passages, top {r['top_k']}; the "
                  f"question's own passage was retrieved for {rag[0]['retrieval_hit']:.0%} of questions.", ""]
    lines += [f"Grading: {result['grading']}.", ""]
    return "\n".join(lines)


def regrade(rows: list[dict]) -> list[dict]:
    """Per-passage rows graded again from their saved replies under the current rules (strict and lax)."""
    out = []
    for row in rows:
        golds = [a["gold"] for a in row["answers"]]
        answers = []
        for a in row["answers"]:
            g = grade(a["answer"], a["gold"], rivals(a["gold"], golds, f"{row['title']} {a['question']}"))
            answers.append({**a, "correct": g.correct, "lax": g.lax_correct})
        out.append({**row, "answers": answers, "correct": sum(a["correct"] for a in answers),
                    "lax": sum(a["lax"] for a in answers)})
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
    return {**first, "conditions": _summarise(per, labels), "per_passage": per, "combined_from": len(results),
            "format": ", ".join(dict.fromkeys(r["format"] for r in results)),
            "wall_seconds": sum(r.get("wall_seconds", 0.0) for r in results)}


def combine_reports(args, err: Console) -> int:
    """`bench table`: read the results, print the combined table, write --json/--markdown."""
    results = []
    for path in args.results:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable bench JSON ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: not a `bench knowledge --json` result")
        results.append(data)
    result = combine(results)
    Console().print(_rich_table(result))
    write_reports(args, result, markdown_table, err)
    return 0


def _rich_table(result: dict) -> Table:
    table = Table(title=f"bench knowledge — {result['model']}, n={result['n']}")
    for col in ("condition", "strict", "95% CI", "lax", "F1", "tokens/passage", "s/passage"):
        table.add_column(col, justify="left" if col == "condition" else "right")
    for s in result["conditions"].values():
        table.add_row(s["label"], f"{s['accuracy']:.1%} ({s['correct']}/{s['questions']})",
                      f"{s['ci95'][0]:.1%}–{s['ci95'][1]:.1%}", f"{s.get('lax_accuracy', s['accuracy']):.1%}",
                      f"{s['f1']:.3f}", f"{s['tokens_per_passage']:.0f}", f"{s['seconds_per_passage']:.1f}")
    floor = result.get("recitation_floor")
    if floor:
        table.add_row("[dim]recitation floor (random passage sentence)[/]", f"[dim]{floor['strict']:.1%}[/]", "",
                      f"[dim]{floor['lax']:.1%}[/]", "", "", "")
    return table
