"""`seal-desk bench continual`: learn N documents one after another and measure forgetting.

The N passages are chosen as `bench knowledge` chooses them (SEAL's seed-42 shuffle); each one is a
document. Self-edits are sampled once per document (seed + i, as bench knowledge does) and shared by
every strategy, so strategies differ only in how they learn. After update t a strategy answers the
questions of documents 0..t and of the optional probe set (general knowledge the base model already
has): row t of the forgetting matrix. Retention per document: recall right after learning it (the
diagonal) against recall at the end (the last row).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from seal_desk.continual import embeddings
from seal_desk.bench.knowledge import select
from seal_desk.files import write_reports
from seal_desk.config import STRATEGIES, ContinualConfig
from seal_desk.continual.strategies import document_sequences, make
from seal_desk.continual.forgetting import SequenceResult, run_sequence
from seal_desk.knowledge.documents import Document, load_data_file
from seal_desk.knowledge.engine import Engine, asked_for
from seal_desk.errors import InputError
from seal_desk.events import Message, Progress, UpdateEvaluated
from seal_desk.knowledge.recall import Asked
from seal_desk.cli.progress import RichReporter

PROBE_TOPIC = "general knowledge"


def load_probe(path: str | Path) -> list[Asked]:
    """Probe questions: a data file (passages with questions) or a questions file (topic: general knowledge)."""
    from seal_desk.knowledge.questions import load_questions

    try:
        asked = asked_for(load_data_file(Path(path)))
    except InputError:
        asked = [Asked(PROBE_TOPIC, q.question, q.answer) for q in load_questions(path)]
    if not asked:
        raise InputError(f"{path}: no probe questions")
    return asked


def run_continual_bench(engine: Engine, args, err: Console) -> int:
    strategies = list(STRATEGIES) if args.strategy == "all" else [args.strategy]
    if args.sequence < 1:
        raise InputError("--sequence must be at least 1")
    if args.replay_budget < 0:
        raise InputError("--replay-budget must be 0 or more")
    seed = args.seed if args.seed is not None else 42
    chosen = select(load_data_file(Path(args.data)), args.sequence, seed, args.order, args.offset)
    passages = [p for p in chosen if p.questions]
    if not passages:
        raise InputError(f"{args.data}: no passages with questions selected")
    docs = [Document(f"#{i + 1} {p.title}", p.title, [p]) for i, p in enumerate(passages)]
    probe = load_probe(args.probe) if args.probe else []
    cfg = ContinualConfig(replay_budget=args.replay_budget, retrieval=args.retrieval)
    fmt, k = engine.config.self_edit.format, engine.config.self_edit.k
    started = time.perf_counter()
    err.print(f"[bold]bench continual[/]: {len(docs)} documents in sequence, strategies {', '.join(strategies)}, "
              f"{engine.loaded.name} on {engine.loaded.placement.label}, format {fmt}, k={k}"
              + (f", probe {len(probe)} questions" if probe else ""))
    results: dict[str, SequenceResult] = {}
    with RichReporter(err) as reporter:
        def report(event):
            if isinstance(event, UpdateEvaluated):
                cells = " ".join(f"{a:.0%}" for a in event.accuracies)
                probe_note = f" · probe {event.probe:.0%}" if event.probe is not None else ""
                reporter(Message(f"{event.strategy} after {event.update + 1}/{event.updates} "
                                 f"({event.title[:30]}): {cells}{probe_note}"))
            else:
                reporter(event)

        asked = [q for d in docs for q in asked_for(d.passages)]
        before = engine.recall(asked + probe, None, "base", reporter)
        sequences = []
        for i, doc in enumerate(docs):
            reporter(Progress("self-edits", i, len(docs), doc.title))
            sequences.append(document_sequences(engine, doc.passages, fmt, k, seed + i, reporter))
        reporter(Progress("self-edits", len(docs), len(docs), "done"))
        for name in strategies:
            with make(name, engine, cfg) as strategy:
                results[name] = run_sequence(engine, strategy, docs, sequences, probe, report)
    base, at = [], 0
    for d in docs:
        n = len(asked_for(d.passages))
        base.append(sum(a.grade.correct for a in before.answers[at : at + n]) / n)
        at += n
    result = {
        "model": engine.loaded.name, "device": engine.loaded.placement.label, "data": str(args.data),
        "n": len(docs), "seed": seed, "order": args.order, "format": fmt, "k": k,
        "inner_loop": {"r": engine.config.inner.lora.r, "alpha": engine.config.inner.lora.alpha,
                       "lr": engine.config.inner.lr, "epochs": engine.config.inner.epochs},
        "replay_budget": cfg.replay_budget, "routing_retrieval": _retrieval_label(cfg.retrieval),
        "grading": "local: reply states the gold answer (normalised, whole tokens)",
        "titles": [d.title for d in docs], "questions": [len(asked_for(d.passages)) for d in docs],
        "base": {"per_document": base, "probe": _accuracy(before.answers[at:]) if probe else None},
        "probe_questions": len(probe), "wall_seconds": time.perf_counter() - started,
        "strategies": {name: r.to_json() for name, r in results.items()},
    }
    out = Console()
    for name in results:
        out.print(_rich_matrix(result, name))
    out.print(_rich_summary(result))
    write_reports(args, result, markdown, err)
    return 0


def _accuracy(answers) -> float:
    return sum(a.grade.correct for a in answers) / len(answers) if answers else 0.0


def _retrieval_label(mode: str) -> str:
    return "bm25" if mode == "bm25" or (mode == "auto" and not embeddings.available()) else "hybrid"


def _pct(x) -> str:
    return "" if x is None else f"{x:.0%}"


def _matrix_rows(result: dict, name: str) -> tuple[list[str], list[list[str]]]:
    s = result["strategies"][name]
    probe = result["probe_questions"] > 0
    header = ["after update"] + [f"{j + 1}. {t[:18]}" for j, t in enumerate(result["titles"])] + (["probe"] if probe else [])
    rows = [["base model"] + [_pct(x) for x in result["base"]["per_document"]]
            + ([_pct(result["base"]["probe"])] if probe else [])]
    for t, row in enumerate(s["matrix"]):
        rows.append([f"{t + 1}"] + [_pct(x) for x in row] + ([_pct(s["probe"][t])] if probe else []))
    return header, rows


def _summary_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    probe = result["probe_questions"] > 0
    header = ["strategy", "learned (diag.)", "at the end", "mean drop", "max drop"]
    header += (["probe start → end"] if probe else []) + ["routed right", "s / update"]
    rows = []
    for name, s in result["strategies"].items():
        r = s["retention"]
        row = [name, _pct(r["mean_learned"]), _pct(r["mean_final"]), f"{r['mean_drop']:+.0%}", f"{r['max_drop']:+.0%}"]
        if probe:
            row.append(f"{_pct(result['base']['probe'])} → {_pct(s['probe'][-1])}")
        routing = [x for x in s["routing"] if x is not None]
        row += [_pct(sum(routing) / len(routing)) if routing else "—", f"{s['seconds'] / max(1, len(s['matrix'])):.1f}"]
        rows.append(row)
    return header, rows


def _rich_matrix(result: dict, name: str) -> Table:
    return _rich(f"forgetting matrix — {name} ({result['model']}, n={result['n']}): recall of each document",
                 *_matrix_rows(result, name))


def _rich_summary(result: dict) -> Table:
    return _rich("retention: recall right after learning a document vs at the end (drop over earlier documents)",
                 *_summary_rows(result))


def _rich(title: str, header: list[str], rows: list[list[str]]) -> Table:
    """A rich table of text rows: the first column (row labels) left-aligned, figures right-aligned."""
    table = Table(title=title)
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def markdown(result: dict) -> str:
    def md(header, rows):
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]

    lines = [f"Continual learning: {result['model']} on {result['device']}, {result['n']} documents in sequence "
             f"(seed {result['seed']}), format {result['format']}, k={result['k']}, replay budget "
             f"{result['replay_budget']}, routing retrieval {result['routing_retrieval']}", ""]
    for name in result["strategies"]:
        lines += [f"**{name}** — recall of each document (columns) after each update (rows):", ""]
        lines += md(*_matrix_rows(result, name)) + [""]
    lines += md(*_summary_rows(result))
    lines += ["", f"Grading: {result['grading']}.", ""]
    return "\n".join(lines)
