"""Grading closed-book answers locally: strict and lax 'states the answer', exact match, token F1.

*Lax* (SEAL-style, the local stand-in for its GPT-4.1 judge): the normalised gold answer appears in
the normalised reply as whole tokens, so '5' does not match '1950'. It credits recitation: a model
that replies to every question with a memorised sentence of the passage scores whenever that
sentence happens to hold the answer. *Strict* (the headline): the reply states its own gold answer
and none of the other answers of the same passage (those that neither contain nor sit inside its
own), so a recited sentence that holds several facts does not pass for an answer.
`recitation_floor` measures what reciting a random passage sentence would score on a data set.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from seal_desk.knowledge.splitting import sentences

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"–", "—", "‘", "’", "“", "”", "«", "»"}
_NUMBER_COMMA = re.compile(r"(?<=\d)[,_](?=\d{3}\b)")


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation or articles, single spaces (digit groups joined)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _NUMBER_COMMA.sub("", text)
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(answer: str, gold: str) -> bool:
    return normalize(answer) == normalize(gold)


def token_f1(answer: str, gold: str) -> float:
    pred, ref = normalize(answer).split(), normalize(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def states_answer(answer: str, gold: str) -> bool:
    """True when the gold answer appears in the reply as a whole-token span."""
    pred, ref = normalize(answer).split(), normalize(gold).split()
    if not ref:
        return False
    n = len(ref)
    return any(pred[i : i + n] == ref for i in range(len(pred) - n + 1))


def rivals(gold: str, answers: Iterable[str], asked: str = "") -> tuple[str, ...]:
    """The other answers of a passage that a reply to `gold`'s question must not state.

    Left out: answers that overlap `gold` (one contains the other) and answers the question itself
    states (`asked`: its topic and text), which a correct reply may well repeat.
    """
    return tuple(
        dict.fromkeys(
            a
            for a in answers
            if normalize(a)
            and not states_answer(a, gold)
            and not states_answer(gold, a)
            and not states_answer(asked, a)
        )
    )


def states_only(answer: str, gold: str, others: Iterable[str] = ()) -> bool:
    """Strict: the reply states `gold` and none of `others` (call `rivals` to pick them)."""
    return states_answer(answer, gold) and not any(states_answer(answer, o) for o in others)


@dataclass(frozen=True)
class Grade:
    correct: bool  # the headline metric, strict: states its own gold answer and no other answer of the passage
    exact: bool
    f1: float
    judged: bool | None = None  # the optional local judge's verdict (None when the judge is off)
    lax: bool | None = None  # states the gold answer, whatever else it says (SEAL-style; None = same as correct)

    @property
    def lax_correct(self) -> bool:
        return self.correct if self.lax is None else self.lax


def grade(answer: str, gold: str, others: Iterable[str] = ()) -> Grade:
    """Grade a reply; `others` are the rival answers from `rivals` (empty: strict equals lax)."""
    lax = states_answer(answer, gold)
    return Grade(
        lax and not any(states_answer(answer, o) for o in others),
        exact_match(answer, gold),
        token_f1(answer, gold),
        lax=lax,
    )


@dataclass(frozen=True)
class Floor:
    strict: float  # expected strict accuracy of replying with a random passage sentence
    lax: float


def recitation_floor(passages: Iterable[tuple[str, Sequence[tuple[str, str]]]]) -> Floor:
    """Expected accuracy, pooled over questions, of answering each question with a random sentence of its passage.

    `passages`: (passage text, its (question as asked, gold answer) pairs). For each question, the
    share of the passage's sentences that would be graded correct as the reply.
    """
    strict = lax = n = 0.0
    for text, pairs in passages:
        sents = sentences(text) or [text]
        answers = [a for _, a in pairs]
        for asked, gold in pairs:
            others = rivals(gold, answers, asked)
            strict += sum(states_only(s, gold, others) for s in sents) / len(sents)
            lax += sum(states_answer(s, gold) for s in sents) / len(sents)
            n += 1
    return Floor(strict / n, lax / n) if n else Floor(0.0, 0.0)
