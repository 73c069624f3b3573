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

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

from seal_desk.config import ContinualConfig, SealConfig
from seal_desk.engine import Engine, asked_for
from seal_desk.errors import InputError
from seal_desk.events import EventSink, Message, Progress, ignore
from seal_desk.knowledge import self_edit as se
from seal_desk.knowledge.data import load_data
from seal_desk.knowledge.documents import Passage
from seal_desk.knowledge.grading import recitation_floor
from seal_desk.model.adapters import TRAINING_SLOT
from seal_desk.restem.cluster import Cluster, ClusterOptions, opened, requested
from seal_desk.restem.start import copier_for

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
LoadGenerator = Callable[[str], object]  # checkpoint path -> LoadedModel


@dataclass(frozen=True)
class KnowledgeBenchOptions:
    """What `bench knowledge` runs (the command line's flags, typed)."""

    data: str  # a data file or a Hugging Face data set id (knowledge.data.load_data)
    n: int = 10
    offset: int = 0
    order: str = "seal"  # "seal": SEAL's seeded shuffle; "file": file order
    conditions: tuple[str, ...] = ("base", "passage", "self-edit", "given-self-edits")
    self_edits: Optional[str] = None  # a file whose passages carry 'self_edits', matched by content
    generators: tuple[str, ...] = ()  # `seal-desk rl` generator checkpoints: one seal-N row each
    inner_from: str = "generator"  # SEAL rows train on their generator ("generator") or on the base ("base")
    cpt: bool = False  # one adapter on all passages, all their questions asked
    top_k: int = ContinualConfig.top_k  # passages retrieved per question (rag conditions)
    rag_adapter: str = "self-edit"  # the condition whose adapter rag+adapter uses
    retrieval: str = ContinualConfig.retrieval
    seed: int = 42
    data_columns: str = ""  # column mapping for a table or data set: context=COL,question=COL,answer=COL,title=COL


def generator_rows(paths: Sequence[str], conditions: Sequence[str], model_name: str) -> dict[str, tuple[str, str]]:
    """seal-N condition -> (label, checkpoint path), one per generator, each checked against the model."""
    from seal_desk.model.source import check_generator

    if "seal" in conditions and not paths:
        raise InputError("the seal condition needs --generator PATH (a round's generator from `seal-desk rl`)")
    out = {}
    for i, path in enumerate(paths, 1):
        round_ = check_generator(path, model_name).get("round", i)
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


def _supplied(path: Optional[str], passages: list[Passage]) -> None:
    if not path:
        return
    by_hash = {p.sha256: p.self_edits for p in load_data(path)}
    for p in passages:
        p.self_edits = p.self_edits or by_hash.get(p.sha256, [])


class KnowledgeBench:
    """One `bench knowledge` run. The constructor checks the options and selects the passages (so a
    caller can announce the plan: `passages`, `conditions`, `index`); `run` trains and grades. `data`: the
    --data passages when the caller has read them already (the CLI does, before the model loads)."""

    def __init__(
        self,
        engine: Engine,
        options: KnowledgeBenchOptions,
        load_generator: Optional[LoadGenerator] = None,
        data: Optional[list[Passage]] = None,
    ):
        conditions = list(options.conditions)
        for c in conditions:
            if c.startswith("self-edit:"):
                se.check_format(c.split(":", 1)[1])
        unknown = [c for c in conditions if c not in CONDITIONS and not c.startswith("self-edit:")]
        if unknown:
            raise InputError(f"unknown condition(s) {', '.join(unknown)}: choose from {', '.join(CONDITIONS)}")
        if options.generators and "seal" not in conditions:
            conditions.append("seal")
        self.generators = generator_rows(options.generators, conditions, engine.loaded.name)
        self.conditions = [x for c in conditions for x in (list(self.generators) if c == "seal" else [c])]
        if data is None:
            data = load_data(options.data, options.data_columns)
        self.chosen = select(data, options.n, options.seed, options.order, options.offset)
        self.passages = [p for p in self.chosen if p.questions]
        if not self.passages:
            raise InputError(f"{options.data}: no passages with questions selected")
        _supplied(options.self_edits, self.passages)
        self.rag_adapter = options.rag_adapter
        if self.rag_adapter not in RAG_ADAPTERS:
            raise InputError(f"--rag-adapter must be one of {', '.join(RAG_ADAPTERS)}")
        if "given-self-edits" in {
            *self.conditions,
            self.rag_adapter if "rag+adapter" in self.conditions else None,
        } and not all(p.self_edits for p in self.passages):
            raise InputError("given-self-edits needs 'self_edits' on every passage (in --data or via --self-edits F)")
        self.index = None
        if set(RAG_CONDITIONS) & set(self.conditions):
            from seal_desk.knowledge.retrieval import Index

            self.index = Index(self.chosen, options.retrieval)
        if self.generators and load_generator is None:
            raise ValueError("seal rows need load_generator (checkpoint path -> loaded model)")
        self.engine, self.options, self.load_generator = engine, options, load_generator
        self.seed, self.top_k, self.cpt = options.seed, options.top_k, options.cpt
        self.k, self.fmt = engine.config.self_edit.k, engine.config.self_edit.format
        self.labels = {
            **LABELS,
            **{c: label for c, (label, _) in self.generators.items()},
            **{
                c: f"Passage + own self-edits ({c.split(':', 1)[1]})"
                for c in self.conditions
                if c.startswith("self-edit:")
            },
            "rag+adapter": f"{LABELS[self.rag_adapter]} + retrieved passages",
        }
        if engine.config.self_edit.sentences:  # --sentences: every trained row also has the passage's sentences
            self.labels = {
                c: (label if c in ("base", "sentences", "rag") else f"{label} + its sentences")
                for c, label in self.labels.items()
            }
        self._loaded: dict = {}  # seal-N -> its generator model, loaded once
        self._engines: dict[str, Engine] = {}  # seal-N -> an engine on that generator
        self._slot: dict = {}  # what the training slot holds now: condition, sequences, self-edits, tokens, seconds
        self._on_event: EventSink = ignore
        self._cluster = None  # a restem.cluster.Cluster while `run` scores passages on it

    def run(self, on_event: EventSink = ignore, cluster: Optional[ClusterOptions | Cluster] = None) -> dict:
        """Every condition on every passage (or, with cpt, on all passages at once); returns the results dict.

        `cluster` (default: the one the command asked for, `cluster.requested()`): the single-passage
        setting scores each passage on a Ray worker that loads the same model (`cluster.device`)."""
        self._on_event, self._slot = on_event, {}
        started = time.perf_counter()
        options = cluster or requested()
        if options is not None and self.cpt:
            on_event(Message("--ray: --cpt trains one adapter on all passages, so it runs here", "warning"))
            options = None
        copier = None
        if isinstance(options, ClusterOptions):  # an open Cluster already holds this model
            copier = copier_for(self.engine.loaded, options.device, options.quant, options.trust_remote_code)
        with opened(options, copier, on_event) as pool:
            self._cluster = pool
            try:
                per = self._run_cpt() if self.cpt else self._run_single()
            finally:
                self._cluster = None
        workers = len(pool.workers) if pool is not None else 0
        on_event(_progress(len(self.passages), len(self.passages), "done"))
        engine, passages = self.engine, self.passages
        return {
            "model": engine.loaded.name,
            "device": engine.loaded.placement.label,
            "data": str(self.options.data),
            "n": len(passages),
            "seed": self.seed,
            "order": self.options.order,
            "format": self.fmt,
            "k": self.k,
            "setting": "continued pretraining (one adapter, all passages)" if self.cpt else "single passage",
            "generators": {c: path for c, (_, path) in self.generators.items()},
            "inner_from": self.options.inner_from if self.generators else None,
            "learner": engine.loaded.learner,
            "self_edit": asdict(engine.config.self_edit),
            "retrieval": (
                {
                    "index": self.index.label,
                    "passages": len(self.index),
                    "top_k": self.top_k,
                    "rag_adapter": self.rag_adapter,
                }
                if self.index
                else None
            ),
            "grading": (
                "strict: the reply states its own gold answer (normalised, whole tokens) and no other answer "
                "of its passage; lax: states the gold answer; the paper used a GPT-4.1 judge"
            ),
            "recitation_floor": asdict(
                recitation_floor(
                    [(p.text, [(f"{p.title} {q.question}", q.answer) for q in p.questions]) for p in passages]
                )
            ),
            "inner_loop": {
                "r": engine.config.inner.lora.r,
                "alpha": engine.config.inner.lora.alpha,
                "lr": engine.config.inner.lr,
                "epochs": engine.config.inner.epochs,
                "batch_size": engine.config.inner.batch_size,
                "stop_loss": engine.config.inner.stop_loss,
            },
            "wall_seconds": time.perf_counter() - started,
            **({"ray_workers": workers} if workers else {}),
            "conditions": summarise(per, self.labels),
            "per_passage": per,
        }

    def _run_single(self) -> dict[str, list[dict]]:
        """Per passage: a fresh adapter per condition, that passage's questions (on the cluster's workers
        when there is one, in any order; the rows come back in passage order)."""
        n = len(self.passages)
        rows: dict[int, dict[str, dict]] = {}
        if self._cluster is not None:
            items = [(i, (i, passage)) for i, passage in enumerate(self.passages)]
            for i, passage_rows in self._cluster.map(BenchPassages(self, self.engine.config), items, self._on_event):
                rows[i] = passage_rows
                self._on_event(_progress(len(rows), n, self.passages[i].title))
                self._say(i, passage_rows)
        else:
            for i, passage in enumerate(self.passages):
                self._on_event(_progress(i, n, passage.title))
                rows[i] = self.passage_rows(i, passage)
                self._say(i, rows[i])
        return {c: [rows[i][c] for i in range(n)] for c in self.conditions}

    def passage_rows(self, i: int, passage: Passage) -> dict[str, dict]:
        """One passage (number `i` of the selection) under every condition: condition -> its row."""
        rows: dict[str, dict] = {}
        questions = asked_for([passage])
        for cond in self.conditions:
            t = time.perf_counter()
            tokens, edits, sequences, trained_s = 0, [], [], 0.0
            if cond not in ("base", "rag"):
                trained = self._train_for(cond, lambda c, i=i, passage=passage: self._training(c, i, passage), i)
                sequences, edits, tokens, trained_s = (
                    trained["sequences"],
                    trained["edits"],
                    trained["tokens"],
                    trained["seconds"],
                )
                t = time.perf_counter()
            report = self._ask(cond, questions)
            rows[cond] = _row(
                passage,
                report,
                tokens,
                time.perf_counter() - t + trained_s,
                sequences,
                edits,
                cond in RAG_CONDITIONS,
            )
        return rows

    def _say(self, i: int, rows: dict[str, dict]) -> None:
        self._on_event(
            Message(
                f"[{i + 1}/{len(self.passages)}] {self.passages[i].title[:40]}: "
                + ", ".join(f"{c} {rows[c]['correct']}/{rows[c]['questions']}" for c in self.conditions)
            )
        )

    def __getstate__(self) -> dict:
        """What a cluster worker needs (see BenchPassages): the plan, not the engine, models or index."""
        dropped = {"engine": None, "load_generator": None, "index": None, "_cluster": None, "_on_event": ignore}
        return {**self.__dict__, **dropped, "_loaded": {}, "_engines": {}, "_slot": {}}

    def _run_cpt(self) -> dict[str, list[dict]]:
        """Per condition: one adapter on every passage's sequences, all questions; rows split back per passage."""
        per: dict[str, list[dict]] = {c: [] for c in self.conditions}
        passages = self.passages
        questions = asked_for(passages)

        def train_all(cond):
            sequences, edits = [], []
            for i, passage in enumerate(passages):
                self._on_event(_progress(i, len(passages), f"{cond}: {passage.title}"))
                seqs, eds = self._training(cond, i, passage)
                sequences += seqs
                edits.append(eds)
            return sequences, edits

        for cond in self.conditions:
            t = time.perf_counter()
            edits, tokens, trained_s = [], 0, 0.0
            if cond not in ("base", "rag"):
                trained = self._train_for(cond, train_all, "all")
                edits, tokens, trained_s = trained["edits"], trained["tokens"], trained["seconds"]
                t = time.perf_counter()
            report = self._ask(cond, questions)
            seconds = (time.perf_counter() - t + trained_s) / len(passages)
            at = 0
            for i, passage in enumerate(passages):
                n = len(passage.questions)
                part = replace(report, answers=report.answers[at : at + n])
                at += n
                per[cond].append(
                    _row(
                        passage,
                        part,
                        tokens / len(passages),
                        seconds,
                        [],
                        edits[i] if edits else [],
                        cond in RAG_CONDITIONS,
                    )
                )
            self._on_event(Message(f"{cond}: {report.correct}/{len(report.answers)}"))
        return per

    def _training(self, cond: str, i: int, passage: Passage) -> tuple[list[str], list[str]]:
        """(sequences, self-edits) of one passage under a condition."""
        engine = self.engine
        if cond == "passage":
            return engine.sequences_for(passage, [], "none"), []
        if cond == "sentences":
            return se.sentence_sequences(passage.title, passage.text), []
        if cond == "given-self-edits":
            edits = passage.self_edits[: self.k]
            return _given_sequences(engine, passage, edits), edits
        form = cond.split(":", 1)[1] if cond.startswith("self-edit:") else self.fmt
        eng = self._engine_for(cond)
        writer = self._generator_model(cond) if cond.startswith("seal-") and eng is engine else None
        with engine.writing_with(writer):  # inner loop from the base: sample from the generator, train the base
            edits = eng.sample_self_edits(passage, form, self.k, seed=self.seed + i, on_event=self._on_event)
        return eng.sequences_for(passage, edits, form), edits

    def _generator_model(self, cond: str):
        if cond not in self._loaded:
            self._loaded[cond] = self.load_generator(self.generators[cond][1])
        return self._loaded[cond]

    def _engine_for(self, cond: str) -> Engine:
        """The engine a condition trains and asks on: a SEAL row's own generator (SEAL's reference), else the base."""
        if not cond.startswith("seal-") or self.options.inner_from == "base":
            return self.engine
        if cond not in self._engines:
            self._engines[cond] = Engine(self._generator_model(cond), None, self.engine.config)
        return self._engines[cond]

    def _train_for(self, cond: str, train, key) -> dict:
        """Train `cond`'s adapter (rag+adapter trains its rag_adapter condition's, or reuses it)."""
        cond = self.rag_adapter if cond == "rag+adapter" else cond
        slot = self._slot
        if slot.get("key") != (cond, key):
            t = time.perf_counter()
            sequences, edits = train(cond)
            slot.update(
                key=(cond, key),
                sequences=sequences,
                edits=edits,
                tokens=self._engine_for(cond).train_on(sequences, self._on_event).tokens,
                seconds=time.perf_counter() - t,
            )
        return slot

    def _ask(self, cond: str, questions):
        if cond == "base":
            return self.engine.recall(questions, None, cond)
        if cond == "rag":
            return self.engine.recall_rag(questions, self.index, self.top_k, None, cond)
        if cond == "rag+adapter":
            return self.engine.recall_rag(questions, self.index, self.top_k, TRAINING_SLOT, cond)
        return self._engine_for(cond).recall(questions, TRAINING_SLOT, cond)


@dataclass(frozen=True)
class BenchPassages:
    """`bench knowledge` on a cluster worker (restem.cluster.WorkerJob): `KnowledgeBench.passage_rows` on
    the worker's own model. `bench` travels without its engine, generators and index; the worker binds
    its resident engine and `load_copy` and rebuilds the retrieval index from the same passages."""

    bench: KnowledgeBench
    config: SealConfig
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # one per run: a worker's state

    def setup(self, worker) -> KnowledgeBench:
        bench = self.bench
        bench.engine, bench.load_generator = worker.engine(self.config), worker.load_copy
        if set(RAG_CONDITIONS) & set(bench.conditions):
            from seal_desk.knowledge.retrieval import Index

            bench.index = Index(bench.chosen, bench.options.retrieval)
        return bench

    def run(self, bench: KnowledgeBench, item: tuple[int, Passage]) -> dict[str, dict]:
        i, passage = item
        return bench.passage_rows(i, passage)


def run_knowledge_bench(
    engine: Engine,
    options: KnowledgeBenchOptions,
    load_generator: Optional[LoadGenerator] = None,
    on_event: EventSink = ignore,
) -> dict:
    """SEAL's knowledge-incorporation table on `engine`; returns the results dict (`--json`'s content)."""
    return KnowledgeBench(engine, options, load_generator).run(on_event)


def _row(passage: Passage, report, tokens, seconds, sequences, edits, rag: bool) -> dict:
    return {
        "title": passage.title,
        "correct": report.correct,
        "questions": len(report.answers),
        "lax": sum(a.grade.lax_correct for a in report.answers),
        "f1": sum(a.grade.f1 for a in report.answers),
        "tokens": tokens,
        "seconds": seconds,
        "sequences": len(sequences),
        "retrieved": (sum((passage.title, passage.text) in a.asked.context for a in report.answers) if rag else None),
        "answers": [
            {
                "question": a.asked.question,
                "gold": a.asked.answer,
                "answer": a.text,
                "correct": a.grade.correct,
                "lax": a.grade.lax_correct,
            }
            for a in report.answers
        ],
        "self_edits": edits,
    }


def _given_sequences(engine: Engine, passage: Passage, edits: list[str]) -> list[str]:
    return se.training_sequences(
        passage.title, passage.text, edits, "implications", engine.config.self_edit.include_passage, 0.0
    )


def _progress(done: int, total: int, title: str) -> Progress:
    return Progress("passages", done, total, title)


def summarise(per: dict[str, list[dict]], labels: dict[str, str]) -> dict:
    """Per condition: pooled strict and lax accuracy with their 95% intervals, F1, tokens and seconds per passage."""
    out = {}
    for cond, rows in per.items():
        correct = sum(r["correct"] for r in rows)
        total = sum(r["questions"] for r in rows)
        lo, hi = bootstrap_ci([(r["correct"], r["questions"]) for r in rows])
        lax = sum(r.get("lax", r["correct"]) for r in rows)
        out[cond] = {
            "label": labels[cond],
            "accuracy": correct / total if total else 0.0,
            "ci95": [lo, hi],
            "lax_accuracy": lax / total if total else 0.0,
            "lax_ci95": list(bootstrap_ci([(r.get("lax", r["correct"]), r["questions"]) for r in rows])),
            "correct": correct,
            "questions": total,
            "f1": sum(r["f1"] for r in rows) / total if total else 0.0,
            "tokens_per_passage": sum(r["tokens"] for r in rows) / len(rows),
            "seconds_per_passage": sum(r["seconds"] for r in rows) / len(rows),
        }
        retrieved = [r["retrieved"] for r in rows if r.get("retrieved") is not None]
        if retrieved:
            out[cond]["retrieval_hit"] = sum(retrieved) / total if total else 0.0
    return out
