"""Grading closed-book answers locally: normalised exact match, token F1, and 'states the answer'.

'States the answer' means the normalised gold answer appears in the normalised reply as whole
tokens, so '5' does not match '1950'. SEAL used a GPT-4.1 yes/no judge; this is the local stand-in.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Grade:
    correct: bool  # the headline metric: the reply states the gold answer
    exact: bool
    f1: float
    judged: bool | None = None  # the optional local judge's verdict (None when the judge is off)


def grade(answer: str, gold: str) -> Grade:
    return Grade(states_answer(answer, gold), exact_match(answer, gold), token_f1(answer, gold))
