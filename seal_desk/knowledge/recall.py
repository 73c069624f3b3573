"""Closed-book recall: ask a passage's questions without the passage and grade the answers.

SEAL's prompt: "Let's answer a question directly and concisely.\\nQuestion: Topic: {title}\\n
{question}\\nAnswer:\\n", greedy decoding, short answers, batched generation. A question that
carries retrieved passages (`RecallQuestion.context`) is asked with `RAG_PROMPT` instead: the same question
after the passages (retrieval-augmented, open-book).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from seal_desk.config import RecallConfig
from seal_desk.events import AnswerGraded, CancelToken, EventSink, Progress, ignore
from seal_desk.knowledge.grading import Grade, grade
from seal_desk.knowledge.self_edit import user_prompt_ids
from seal_desk.model.generation import generate

PROMPT = "Let's answer a question directly and concisely.\nQuestion: Topic: {title}\n{question}\nAnswer:\n"
RAG_PROMPT = (
    "Let's answer a question directly and concisely, using the passages below where they help.\n\n"
    "{passages}Question: Topic: {title}\n{question}\nAnswer:\n"
)
RAG_PASSAGE = "Passage {n} (Topic: {title}):\n{text}\n\n"


@dataclass(frozen=True)
class RecallQuestion:
    """A question to ask, with its topic and gold answer."""

    title: str
    question: str
    answer: str
    question_id: Optional[int] = None
    context: tuple[tuple[str, str], ...] = ()  # retrieved (title, text) passages to show, best first
    others: tuple[str, ...] = ()  # rival answers of the same passage: stating one fails strict grading


@dataclass(frozen=True)
class Answer:
    asked: RecallQuestion
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
    def lax_accuracy(self) -> float:
        """Share whose reply states the gold answer whatever else it says (SEAL-style, credits recitation)."""
        return sum(a.grade.lax_correct for a in self.answers) / len(self.answers) if self.answers else 0.0

    @property
    def judged_accuracy(self) -> float | None:
        """Share the local judge accepted, or None when the judge was off."""
        said = [a.grade.judged for a in self.answers if a.grade.judged is not None]
        return sum(said) / len(said) if said else None

    @property
    def mean_f1(self) -> float:
        return sum(a.grade.f1 for a in self.answers) / len(self.answers) if self.answers else 0.0


def rag_prompt(title: str, question: str, context: Sequence[tuple[str, str]]) -> str:
    """The closed-book question after retrieved (title, text) passages."""
    passages = "".join(RAG_PASSAGE.format(n=n, title=t, text=x.strip()) for n, (t, x) in enumerate(context, 1))
    return RAG_PROMPT.format(passages=passages, title=title, question=question)


def question_ids(
    tokenizer, prompt_style: str, title: str, question: str, context: Sequence[tuple[str, str]] = ()
) -> list[int]:
    """Token ids of a question: SEAL's closed-book prompt, or the RAG prompt when passages are given."""
    text = rag_prompt(title, question, context) if context else PROMPT.format(title=title, question=question)
    return user_prompt_ids(tokenizer, prompt_style, text.rstrip("\n"), text)


def clean_answer(text: str) -> str:
    """First non-empty line of the reply, stripped."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def ask(
    model,
    tokenizer,
    prompt_style: str,
    stop_ids: Sequence[int],
    prompts: Sequence[str],
    max_new_tokens: int = 128,
    batch_size: int = 8,
    temperature: float = 0.0,
    cancel: CancelToken | None = None,
) -> list[str]:
    """Free-form questions (the ask box): chat-wrapped for instruct models, batched."""
    replies = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        ids = [user_prompt_ids(tokenizer, prompt_style, p) for p in chunk]
        outs = generate(
            model,
            tokenizer,
            ids,
            max_new_tokens=max_new_tokens,
            stop_ids=stop_ids,
            temperature=temperature,
            cancel=cancel,
        )
        replies += [tokenizer.decode(o, skip_special_tokens=True).strip() for o in outs]
    return replies


def evaluate(
    model,
    tokenizer,
    prompt_style: str,
    stop_ids: Sequence[int],
    questions: Sequence[RecallQuestion],
    cfg: RecallConfig = RecallConfig(),
    phase: str = "recall",
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> RecallReport:
    """Greedy closed-book answers for `questions`, graded against their gold answers."""
    return evaluate_groups(model, tokenizer, prompt_style, stop_ids, questions, 1, cfg, phase, on_event, cancel)[0]


def evaluate_groups(
    model,
    tokenizer,
    prompt_style: str,
    stop_ids: Sequence[int],
    questions: Sequence[RecallQuestion],
    groups: int,
    cfg: RecallConfig = RecallConfig(),
    phase: str = "recall",
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> list[RecallReport]:
    """`evaluate` for `groups` stacked adapters at once: each batch holds every question once per group.

    Rows are laid out group-major (all of group 0's rows, then group 1's, ...), the layout
    `StackedLora` routes by. Returns one report per group.
    """
    started = time.perf_counter()
    # Longest prompts first keeps left padding small within a batch.
    order = sorted(range(len(questions)), key=lambda i: -_length(questions[i]))
    answers: list[dict[int, Answer]] = [{} for _ in range(groups)]
    stop = list(stop_ids) + [i for i in tokenizer("\n\n", add_special_tokens=False)["input_ids"][-1:]]
    per_batch = cfg.batch_size  # questions per batch; each is asked once per group
    for start in range(0, len(order), per_batch):
        idx = order[start : start + per_batch]
        prompts = [
            question_ids(tokenizer, prompt_style, questions[i].title, questions[i].question, questions[i].context)
            for i in idx
        ]
        outs = generate(
            model,
            tokenizer,
            prompts * groups,
            max_new_tokens=cfg.max_new_tokens,
            stop_ids=stop,
            cancel=cancel,
            groups=groups,
            on_event=on_event,
        )
        for g in range(groups):
            for i, out in zip(idx, outs[g * len(idx) : (g + 1) * len(idx)]):
                q = questions[i]
                text = clean_answer(tokenizer.decode(out, skip_special_tokens=True))
                answers[g][i] = Answer(q, text, grade(text, q.answer, q.others))
                if groups == 1:
                    on_event(
                        AnswerGraded(
                            phase,
                            q.question,
                            q.answer,
                            text,
                            answers[g][i].grade.correct,
                            len(answers[g]),
                            len(questions),
                        )
                    )
        on_event(Progress(phase, len(answers[0]), len(questions)))
    seconds = time.perf_counter() - started
    return [RecallReport([group[i] for i in range(len(questions))], seconds) for group in answers]


def _length(q: RecallQuestion) -> int:
    return len(q.question) + sum(len(text) for _, text in q.context)
