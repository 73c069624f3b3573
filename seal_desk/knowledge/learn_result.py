"""What one learn run gives back (`LearnResult`) and how the workspace records it (summary, per-question rows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from seal_desk.knowledge.documents import Document
from seal_desk.knowledge.inner_loop import TrainReport
from seal_desk.knowledge.recall import RecallReport


@dataclass
class LearnResult:
    document: Document
    before: RecallReport
    after: RecallReport
    train: TrainReport
    self_edits: list[str]
    sequences: list[str]
    adapter_id: Optional[int] = None
    adapter_path: Optional[str] = None
    run_id: Optional[int] = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "document": self.document.path,
            "title": self.document.title,
            "passages": len(self.document.passages),
            "questions": len(self.before.answers),
            "accuracy_before": self.before.accuracy,
            "accuracy_after": self.after.accuracy,
            "f1_before": self.before.mean_f1,
            "f1_after": self.after.mean_f1,
            "lax_before": self.before.lax_accuracy,
            "lax_after": self.after.lax_accuracy,
            "judged_before": self.before.judged_accuracy,
            "judged_after": self.after.judged_accuracy,
            "adapter_id": self.adapter_id,
            "adapter_path": self.adapter_path,
            "run_id": self.run_id,
            "train": asdict(self.train),
            "timings": self.timings,
            "self_edits": self.self_edits,
            "per_question": [
                {
                    "question": b.asked.question,
                    "gold": b.asked.answer,
                    "before": b.text,
                    "after": a.text,
                    "correct_before": b.grade.correct,
                    "correct_after": a.grade.correct,
                    "lax_before": b.grade.lax_correct,
                    "lax_after": a.grade.lax_correct,
                    "f1_before": b.grade.f1,
                    "f1_after": a.grade.f1,
                    "judged_before": b.grade.judged,
                    "judged_after": a.grade.judged,
                }
                for b, a in zip(self.before.answers, self.after.answers)
            ],
        }


def run_summary(result: LearnResult) -> dict:
    return {
        "questions": len(result.before.answers),
        "accuracy_before": result.before.accuracy,
        "accuracy_after": result.after.accuracy,
        "lax_before": result.before.lax_accuracy,
        "lax_after": result.after.lax_accuracy,
        "f1_before": result.before.mean_f1,
        "f1_after": result.after.mean_f1,
        "train_tokens": result.train.tokens,
        "final_loss": result.train.final_loss,
        "timings": result.timings,
    }


def result_rows(report: RecallReport, phase: str) -> list[dict]:
    return [
        {
            "question_id": a.asked.question_id,
            "phase": phase,
            "question": a.asked.question,
            "gold": a.asked.answer,
            "answer": a.text,
            "correct": int(a.grade.correct),
            "lax": int(a.grade.lax_correct),
            "exact": int(a.grade.exact),
            "f1": a.grade.f1,
            "judged": None if a.grade.judged is None else int(a.grade.judged),
        }
        for a in report.answers
    ]
