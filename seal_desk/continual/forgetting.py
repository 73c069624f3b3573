"""The forgetting matrix: learn documents one after another with a strategy, asking after each update.

Row t holds recall on every document learned so far after update t (columns: documents, None above
the diagonal), plus accuracy on an optional probe set of general knowledge. Retention per document
compares recall right after learning it (the diagonal) with recall at the end (the last row).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from seal_desk.continual.strategies import AdaptersStrategy, Strategy
from seal_desk.engine import Engine, asked_for
from seal_desk.events import CancelToken, ContinualRecall, EventSink, Progress, ignore
from seal_desk.knowledge.documents import Document
from seal_desk.knowledge.recall import RecallQuestion


@dataclass
class SequenceResult:
    """Recall after each update on every document learned so far (rows: updates; columns: documents)."""

    strategy: str
    titles: list[str]
    questions: list[int]  # per document
    correct: list[list[Optional[int]]] = field(default_factory=list)  # [t][j], None above the diagonal
    probe: list[float] = field(default_factory=list)  # probe accuracy after each update
    routing: list[Optional[float]] = field(default_factory=list)  # adapters: share routed to their own document
    train: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def matrix(self) -> list[list[Optional[float]]]:
        return [
            [None if c is None else c / n if n else 0.0 for c, n in zip(row, self.questions)] for row in self.correct
        ]

    def retention(self) -> dict:
        """Per document: recall right after learning it (diagonal) and at the end (last row), and the drop."""
        m = self.matrix
        if not m:
            return {"documents": [], "mean_learned": 0.0, "mean_final": 0.0, "mean_drop": 0.0, "max_drop": 0.0}
        docs = [
            {"title": t, "learned": m[j][j], "final": m[-1][j], "drop": m[j][j] - m[-1][j]}
            for j, t in enumerate(self.titles[: len(m)])
        ]
        earlier = [d["drop"] for d in docs[:-1]]  # the last document has had no time to be forgotten
        mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
        return {
            "documents": docs,
            "mean_learned": mean([d["learned"] for d in docs]),
            "mean_final": mean([d["final"] for d in docs]),
            "mean_drop": mean(earlier),
            "max_drop": max(earlier, default=0.0),
        }

    def to_json(self) -> dict:
        return {
            "strategy": self.strategy,
            "titles": self.titles,
            "questions": self.questions,
            "matrix": self.matrix,
            "correct": self.correct,
            "probe": self.probe,
            "routing": self.routing,
            "retention": self.retention(),
            "train": self.train,
            "seconds": self.seconds,
        }


def run_sequence(
    engine: Engine,
    strategy: Strategy,
    docs: Sequence[Document],
    sequences: Sequence[list[str]],
    probe: Sequence[RecallQuestion] = (),
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> SequenceResult:
    """Learn `docs` in order with `strategy`; after each update ask every learned document's questions."""
    started = time.perf_counter()
    asked = [asked_for(d.passages) for d in docs]
    result = SequenceResult(strategy.name, [d.title for d in docs], [len(a) for a in asked])
    for t, (doc, seqs) in enumerate(zip(docs, sequences)):
        on_event(Progress(f"{strategy.name} updates", t, len(docs), doc.title))
        update = strategy.learn(doc.path, doc.passages, seqs, on_event=on_event, cancel=cancel)
        result.train.append(
            {
                "tokens": update.train.tokens,
                "sequences": update.train.sequences,
                "final_loss": update.train.final_loss,
                "seconds": update.train.seconds,
            }
        )
        questions = [q for a in asked[: t + 1] for q in a] + list(probe)
        report = strategy.answer(questions, strategy.name, on_event, cancel)
        owners = [j for j in range(t + 1) for _ in asked[j]]
        row, at = [], 0
        for j in range(len(docs)):
            if j > t:
                row.append(None)
                continue
            row.append(sum(a.grade.correct for a in report.answers[at : at + len(asked[j])]))
            at += len(asked[j])
        result.correct.append(row)
        probe_answers = report.answers[at:]
        if probe:
            result.probe.append(sum(a.grade.correct for a in probe_answers) / len(probe_answers))
        if isinstance(strategy, AdaptersStrategy):
            routes = strategy.routes[: len(owners)]
            own = sum(r == docs[j].path for r, j in zip(routes, owners))
            result.routing.append(own / len(owners) if owners else None)
        accuracies = tuple(c / n if n else 0.0 for c, n in zip(row[: t + 1], result.questions))
        on_event(
            ContinualRecall(strategy.name, t, len(docs), doc.title, accuracies, result.probe[-1] if probe else None)
        )
    on_event(Progress(f"{strategy.name} updates", len(docs), len(docs), "done"))
    result.seconds = time.perf_counter() - started
    return result
