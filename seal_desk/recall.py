"""Closed-book recall: ask a passage's questions without the passage and grade the answers.

SEAL's prompt: "Let's answer a question directly and concisely.\\nQuestion: Topic: {title}\\n
{question}\\nAnswer:\\n", greedy decoding, short answers, batched generation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from seal_desk.config import RecallConfig
from seal_desk.events import AnswerGraded, CancelToken, EventSink, Progress, ignore
from seal_desk.generation import generate
from seal_desk.grading import Grade, grade
from seal_desk.self_edit import user_prompt_ids

PROMPT = "Let's answer a question directly and concisely.\nQuestion: Topic: {title}\n{question}\nAnswer:\n"


@dataclass(frozen=True)
class Asked:
    """A question to ask, with its topic and gold answer."""

    title: str
    question: str
    answer: str
    question_id: Optional[int] = None


@dataclass(frozen=True)
class Answer:
    asked: Asked
    text: str
    grade: Grade


@dataclass
class RecallReport:
    answers: list[Answer] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def correct(self) -> int:
        return sum(a.grade.correct for a in self.answers)

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.answers) if self.answers else 0.0

    @property
    def judged_accuracy(self) -> float | None:
        """Share the local judge accepted, or None when the judge was off."""
        said = [a.grade.judged for a in self.answers if a.grade.judged is not None]
        return sum(said) / len(said) if said else None

    @property
    def mean_f1(self) -> float:
        return sum(a.grade.f1 for a in self.answers) / len(self.answers) if self.answers else 0.0


def question_ids(tokenizer, prompt_style: str, title: str, question: str) -> list[int]:
    text = PROMPT.format(title=title, question=question)
    return user_prompt_ids(tokenizer, prompt_style, text.rstrip("\n"), text)


def clean_answer(text: str) -> str:
    """First non-empty line of the reply, stripped."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def ask(
    model, tokenizer, prompt_style: str, stop_ids: Sequence[int], prompts: Sequence[str],
    max_new_tokens: int = 128, batch_size: int = 8, temperature: float = 0.0, cancel: CancelToken | None = None,
) -> list[str]:
    """Free-form questions (the ask box): chat-wrapped for instruct models, batched."""
    replies = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        ids = [user_prompt_ids(tokenizer, prompt_style, p) for p in chunk]
        outs = generate(model, tokenizer, ids, max_new_tokens=max_new_tokens, stop_ids=stop_ids,
                        temperature=temperature, cancel=cancel)
        replies += [tokenizer.decode(o, skip_special_tokens=True).strip() for o in outs]
    return replies


def evaluate(
    model,
    tokenizer,
    prompt_style: str,
    stop_ids: Sequence[int],
    questions: Sequence[Asked],
    cfg: RecallConfig = RecallConfig(),
    phase: str = "recall",
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> RecallReport:
    """Greedy closed-book answers for `questions`, graded against their gold answers."""
    started = time.perf_counter()
    report = RecallReport()
    # Longest prompts first keeps left padding small within a batch.
    order = sorted(range(len(questions)), key=lambda i: -len(questions[i].question))
    answers: dict[int, Answer] = {}
    stop = list(stop_ids) + [i for i in tokenizer("\n\n", add_special_tokens=False)["input_ids"][-1:]]
    for start in range(0, len(order), cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        prompts = [question_ids(tokenizer, prompt_style, questions[i].title, questions[i].question) for i in idx]
        outs = generate(model, tokenizer, prompts, max_new_tokens=cfg.max_new_tokens, stop_ids=stop, cancel=cancel)
        for i, out in zip(idx, outs):
            q = questions[i]
            text = clean_answer(tokenizer.decode(out, skip_special_tokens=True))
            answers[i] = Answer(q, text, grade(text, q.answer))
            on_event(AnswerGraded(phase, q.question, q.answer, text, answers[i].grade.correct, len(answers), len(questions)))
        on_event(Progress(phase, len(answers), len(questions)))
    report.answers = [answers[i] for i in range(len(questions))]
    report.seconds = time.perf_counter() - started
    return report
