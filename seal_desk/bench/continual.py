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
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from seal_desk.bench.knowledge import select
from seal_desk.config import STRATEGIES, ContinualConfig
from seal_desk.continual.forgetting import SequenceResult, run_sequence
from seal_desk.continual.strategies import document_sequences, make
from seal_desk.engine import Engine, asked_for
from seal_desk.errors import InputError
from seal_desk.events import EventSink, Progress, ignore
from seal_desk.knowledge import embeddings
from seal_desk.knowledge.data import load_data
from seal_desk.knowledge.documents import Document, Passage
from seal_desk.knowledge.recall import RecallQuestion

PROBE_TOPIC = "general knowledge"


def load_probe(path: str | Path) -> list[RecallQuestion]:
    """Probe questions: a data file (passages with questions) or a questions file (topic: general knowledge)."""
    from seal_desk.knowledge.questions import load_questions

    try:
        asked = asked_for(load_data(path))
    except InputError:
        asked = [RecallQuestion(PROBE_TOPIC, q.question, q.answer) for q in load_questions(path)]
    if not asked:
        raise InputError(f"{path}: no probe questions")
    return asked


@dataclass(frozen=True)
class ContinualBenchOptions:
    """What `bench continual` runs (the command line's flags, typed)."""

    data: str  # a data file or a Hugging Face data set id (knowledge.data.load_data)
    sequence: int = 8  # documents learned one after another
    strategies: tuple[str, ...] = STRATEGIES
    probe: Optional[str] = None  # general-knowledge questions (questions or data file)
    offset: int = 0
    order: str = "seal"
    replay_budget: int = ContinualConfig.replay_budget
    retrieval: str = ContinualConfig.retrieval
    seed: int = 42
    data_columns: str = ""  # column mapping for a table or data set (see knowledge.data.Columns)


class ContinualBench:
    """One `bench continual` run. The constructor checks the options, selects the documents and reads the
    probe (so a caller can announce the plan: `docs`, `strategies`, `probe`); `run` learns and grades. `data`
    and `probe`: the --data passages and probe questions when the caller has read them already."""

    def __init__(
        self,
        engine: Engine,
        options: ContinualBenchOptions,
        data: Optional[list[Passage]] = None,
        probe: Optional[list[RecallQuestion]] = None,
    ):
        if options.sequence < 1:
            raise InputError("--sequence must be at least 1")
        if options.replay_budget < 0:
            raise InputError("--replay-budget must be 0 or more")
        if data is None:
            data = load_data(options.data, options.data_columns)
        chosen = select(data, options.sequence, options.seed, options.order, options.offset)
        passages = [p for p in chosen if p.questions]
        if not passages:
            raise InputError(f"{options.data}: no passages with questions selected")
        self.engine, self.options = engine, options
        self.strategies = list(options.strategies)
        self.docs = [Document(f"#{i + 1} {p.title}", p.title, [p]) for i, p in enumerate(passages)]
        if probe is None:
            probe = load_probe(options.probe) if options.probe else []
        self.probe = probe
        self.cfg = ContinualConfig(replay_budget=options.replay_budget, retrieval=options.retrieval)
        self.fmt, self.k = engine.config.self_edit.format, engine.config.self_edit.k

    def run(self, on_event: EventSink = ignore) -> dict:
        """Self-edits once per document, then each strategy through the sequence; returns the results dict."""
        engine, docs, probe, cfg, seed = self.engine, self.docs, self.probe, self.cfg, self.options.seed
        started = time.perf_counter()
        results: dict[str, SequenceResult] = {}
        asked = [q for d in docs for q in asked_for(d.passages)]
        before = engine.recall(asked + probe, None, "base", on_event)
        sequences = []
        for i, doc in enumerate(docs):
            on_event(Progress("self-edits", i, len(docs), doc.title))
            sequences.append(document_sequences(engine, doc.passages, self.fmt, self.k, seed + i, on_event))
        on_event(Progress("self-edits", len(docs), len(docs), "done"))
        for name in self.strategies:
            with make(name, engine, cfg) as strategy:
                results[name] = run_sequence(engine, strategy, docs, sequences, probe, on_event)
        base, at = [], 0
        for d in docs:
            n = len(asked_for(d.passages))
            base.append(sum(a.grade.correct for a in before.answers[at : at + n]) / n)
            at += n
        return {
            "model": engine.loaded.name,
            "device": engine.loaded.placement.label,
            "data": str(self.options.data),
            "n": len(docs),
            "seed": seed,
            "order": self.options.order,
            "format": self.fmt,
            "k": self.k,
            "inner_loop": {
                "r": engine.config.inner.lora.r,
                "alpha": engine.config.inner.lora.alpha,
                "lr": engine.config.inner.lr,
                "epochs": engine.config.inner.epochs,
            },
            "replay_budget": cfg.replay_budget,
            "routing_retrieval": _retrieval_label(cfg.retrieval),
            "grading": "local: reply states the gold answer (normalised, whole tokens)",
            "titles": [d.title for d in docs],
            "questions": [len(asked_for(d.passages)) for d in docs],
            "base": {"per_document": base, "probe": _accuracy(before.answers[at:]) if probe else None},
            "probe_questions": len(probe),
            "wall_seconds": time.perf_counter() - started,
            "strategies": {name: r.to_json() for name, r in results.items()},
        }


def run_continual_bench(engine: Engine, options: ContinualBenchOptions, on_event: EventSink = ignore) -> dict:
    """The forgetting matrix of each strategy on `engine`; returns the results dict (`--json`'s content)."""
    return ContinualBench(engine, options).run(on_event)


def _accuracy(answers) -> float:
    return sum(a.grade.correct for a in answers) / len(answers) if answers else 0.0


def _retrieval_label(mode: str) -> str:
    return "bm25" if mode == "bm25" or (mode == "auto" and not embeddings.available()) else "hybrid"
