"""Continual learning: documents learned one after another, with a strategy against forgetting.

  merge     train a fresh adapter per update on the current weights and merge it into them (SEAL's
            continual setting); `close` puts the resident base weights back as they were.
  adapters  one adapter per document, all kept loaded; a question goes to the adapter of the
            document whose passage retrieval ranks first, or to the base model when retrieval finds
            nothing (only BM25 alone can: a question sharing no term; hybrid always ranks some passage).
  replay    one adapter, trained further at each update on the new document's sequences plus a
            replay sample of earlier documents' sequences (at most `replay_budget`, drawn evenly).

A strategy `learn`s (key, passages, training sequences), `answer`s questions with what it has
learned, and `resume`s from the saved adapters of earlier runs (`seal-desk update`).
`forgetting.run_sequence` runs a strategy over a list of documents and records the forgetting matrix.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from seal_desk.config import STRATEGIES, ContinualConfig
from seal_desk.engine import Engine
from seal_desk.errors import InputError
from seal_desk.events import CancelToken, EventSink, Message, ignore
from seal_desk.knowledge.documents import Passage
from seal_desk.knowledge.inner_loop import TrainReport
from seal_desk.knowledge.recall import RecallQuestion, RecallReport
from seal_desk.model.adapters import TRAINING_SLOT, weights_hash


@dataclass
class Learned:
    """An update of an earlier run, as the workspace keeps it (for `resume`)."""

    key: str
    passages: list[Passage]
    sequences: list[str]
    adapter_path: Optional[str]
    current: bool = True  # the latest version of this key (an older one was learned again since)


@dataclass
class Update:
    """What one `learn` did: its training report and, when asked for, where its adapter was saved."""

    train: TrainReport
    adapter_path: Optional[str] = None
    adapter_sha: Optional[str] = None


def document_sequences(
    engine: Engine,
    passages: Sequence[Passage],
    fmt: str | None = None,
    k: int | None = None,
    seed: int | None = None,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> list[str]:
    """Training sequences of a document: each passage's self-edits (sampled by the base model) and the passage."""
    fmt = fmt or engine.run_config.self_edit.format
    out = []
    for passage in passages:
        edits = engine.sample_self_edits(passage, fmt, k, seed=seed, on_event=on_event, cancel=cancel)
        out += engine.sequences_for(passage, edits, fmt)
    return out


def replay_sample(pool: dict[str, list[str]], budget: int, seed: int) -> list[str]:
    """Up to `budget` earlier sequences, drawn evenly across earlier documents (round robin over shuffles)."""
    rng = random.Random(seed)
    queues = [rng.sample(seqs, len(seqs)) for seqs in pool.values()]
    out: list[str] = []
    while len(out) < budget and any(queues):
        for queue in queues:
            if queue and len(out) < budget:
                out.append(queue.pop())
    return out


class Strategy:
    """The common part: training an update and saving its adapter."""

    name = ""

    def __init__(self, engine: Engine, cfg: ContinualConfig = ContinualConfig()) -> None:
        self.engine = engine
        self.cfg = cfg
        self.keys: list[str] = []  # learned keys, in learning order (a key learned again moves to the end)

    def learn(
        self,
        key: str,
        passages: Sequence[Passage],
        sequences: list[str],
        folder: str | Path | None = None,
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> Update:
        """Learn one document; save the update's adapter to `folder` when given."""
        if not sequences:
            raise InputError(f"{key}: nothing to train on")
        report = self._train(key, list(sequences), on_event, cancel)
        update = Update(report)
        if folder is not None:
            update.adapter_path, update.adapter_sha = str(folder), self.engine.host.save(folder)
        self._learned(key, list(passages), list(sequences), update)
        self.keys = [k for k in self.keys if k != key] + [key]
        return update

    def answer(
        self,
        questions: Sequence[RecallQuestion],
        phase: str = "recall",
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> RecallReport:
        raise NotImplementedError

    def resume(self, history: Sequence[Learned], on_event: EventSink = ignore) -> None:
        """Rebuild the state that earlier runs left (their updates, oldest first)."""
        raise NotImplementedError

    def close(self) -> None:
        """Leave the resident model as it was found (saved adapters stay on disk)."""
        self.engine.trained = False

    def __enter__(self) -> Strategy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _train(self, key: str, sequences: list[str], on_event: EventSink, cancel) -> TrainReport:
        return self.engine.train_on(sequences, on_event, cancel)

    def _learned(self, key: str, passages: list[Passage], sequences: list[str], update: Update) -> None:
        pass


class MergeStrategy(Strategy):
    """A fresh adapter per update, trained on the current weights and merged into them."""

    name = "merge"

    def __init__(self, engine: Engine, cfg: ContinualConfig = ContinualConfig()) -> None:
        super().__init__(engine, cfg)
        if engine.host.quantized:
            raise InputError("the merge strategy needs unquantized weights: run with --quant bf16 or fp32")
        self.originals: dict = {}  # base weights before the first merge (CPU copies), for close()

    def _learned(self, key, passages, sequences, update) -> None:
        self.engine.host.merge_slot(self.originals)
        self.engine.trained = False  # merged: the slot's adapter is no longer something to save

    def answer(self, questions, phase="recall", on_event=ignore, cancel=None) -> RecallReport:
        return self.engine.recall(questions, None, phase, on_event, cancel)

    def resume(self, history, on_event=ignore) -> None:
        for item in history:  # every version ever learned is in the weights, superseded ones too
            if item.adapter_path is None or not Path(item.adapter_path).is_dir():
                on_event(Message(f"{item.key}: its merged update's adapter is gone; skipped", "warning"))
                continue
            self.engine.host.load_slot(item.adapter_path, self.engine.run_config.inner.lora)
            self.engine.host.merge_slot(self.originals)
            self.keys = [k for k in self.keys if k != item.key] + [item.key]

    def close(self) -> None:
        self.engine.host.restore_weights(self.originals)
        super().close()


class AdaptersStrategy(Strategy):
    """One adapter per document; retrieval routes each question to the adapter of its document."""

    name = "adapters"

    def __init__(self, engine: Engine, cfg: ContinualConfig = ContinualConfig()) -> None:
        super().__init__(engine, cfg)
        self.names: dict[str, str] = {}  # key -> loaded adapter name
        self.passages: dict[str, list[Passage]] = {}
        self.index = None  # built on the first answer after a change
        self.owner: dict[int, str] = {}  # id(passage) -> key
        self.routes: list[Optional[str]] = []  # key each question of the last answer went to (None: base)
        self._tmp: Optional[Path] = None
        self._count = 0

    def learn(self, key, passages, sequences, folder=None, on_event=ignore, cancel=None) -> Update:
        if folder is None:  # the adapter must be on disk to be loaded beside the others
            self._tmp = self._tmp or Path(tempfile.mkdtemp(prefix="seal-desk-adapters-"))
            self._count += 1
            folder = self._tmp / f"update-{self._count}"
        return super().learn(key, passages, sequences, folder, on_event, cancel)

    def _learned(self, key, passages, sequences, update) -> None:
        self._add(key, passages, update.adapter_path, update.adapter_sha or "")

    def _add(self, key: str, passages: list[Passage], path: str, sha: str) -> None:
        if key in self.names:
            self.engine.host.unload(self.names[key])
        self._count += 1
        self.names[key] = self.engine.host.load(path, f"continual-{self._count}-{sha[:8]}")
        self.passages[key] = passages
        self.index = None

    def route(self, questions: Sequence[RecallQuestion]) -> list[Optional[str]]:
        """The key whose adapter answers each question: owner of the top retrieved passage, or None (the
        base model) when nothing learned is related (`ContinualConfig.min_similarity`)."""
        from seal_desk.knowledge.retrieval import Index, query_text

        if not any(self.passages.values()):
            return [None] * len(questions)
        if self.index is None:
            self.index = Index([p for ps in self.passages.values() for p in ps], self.cfg.retrieval)
            self.owner = {id(p): key for key, ps in self.passages.items() for p in ps}
        hits = self.index.search_many([query_text(q.title, q.question) for q in questions], 1, self.cfg.min_similarity)
        return [self.owner[id(found[0][0])] if found else None for found in hits]

    def answer(self, questions, phase="recall", on_event=ignore, cancel=None) -> RecallReport:
        started = time.perf_counter()
        self.routes = self.route(questions)
        groups: dict[Optional[str], list[int]] = {}
        for i, key in enumerate(self.routes):
            groups.setdefault(key, []).append(i)
        answers: list = [None] * len(questions)
        for key, idx in groups.items():
            report = self.engine.recall([questions[i] for i in idx], self.names.get(key), phase, on_event, cancel)
            for i, a in zip(idx, report.answers):
                answers[i] = a
        return RecallReport(answers, time.perf_counter() - started)

    def resume(self, history, on_event=ignore) -> None:
        for item in history:
            if not item.current:
                continue
            if item.adapter_path is None or not Path(item.adapter_path).is_dir() or not item.passages:
                on_event(Message(f"{item.key}: its adapter or passages are gone; not routed to", "warning"))
                continue
            self._add(item.key, item.passages, item.adapter_path, weights_hash(item.adapter_path))
            self.keys = [k for k in self.keys if k != item.key] + [item.key]

    def close(self) -> None:
        for name in self.names.values():
            self.engine.host.unload(name)
        self.names, self.index = {}, None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        super().close()


class ReplayStrategy(Strategy):
    """One growing adapter: each update trains it further on the new sequences plus a replay sample."""

    name = "replay"

    def __init__(self, engine: Engine, cfg: ContinualConfig = ContinualConfig()) -> None:
        super().__init__(engine, cfg)
        self.pool: dict[str, list[str]] = {}  # key -> its sequences (the latest version)
        self.started = False  # the slot holds the growing adapter

    def _train(self, key, sequences, on_event, cancel) -> TrainReport:
        earlier = {k: seqs for k, seqs in self.pool.items() if k != key}
        replay = replay_sample(earlier, self.cfg.replay_budget, self.engine.run_config.inner.seed + len(self.keys))
        return self.engine.train_on(sequences + replay, on_event, cancel, fresh=not self.started)

    def _learned(self, key, passages, sequences, update) -> None:
        self.pool[key] = sequences
        self.started = True

    def answer(self, questions, phase="recall", on_event=ignore, cancel=None) -> RecallReport:
        return self.engine.recall(questions, TRAINING_SLOT if self.started else None, phase, on_event, cancel)

    def resume(self, history, on_event=ignore) -> None:
        for item in history:
            if item.current:
                self.pool[item.key] = list(item.sequences)
                self.keys = [k for k in self.keys if k != item.key] + [item.key]
        latest = history[-1].adapter_path if history else None
        if latest is not None and Path(latest).is_dir():
            self.engine.host.load_slot(latest, self.engine.run_config.inner.lora)
            self.started = True
        elif history:
            on_event(Message("the replay adapter of the last run is gone; starting a new one", "warning"))


def make(name: str, engine: Engine, cfg: ContinualConfig = ContinualConfig()) -> Strategy:
    kinds = {"merge": MergeStrategy, "adapters": AdaptersStrategy, "replay": ReplayStrategy}
    if name not in kinds:
        raise InputError(f"unknown strategy '{name}': choose from {', '.join(STRATEGIES)}")
    return kinds[name](engine, cfg)
