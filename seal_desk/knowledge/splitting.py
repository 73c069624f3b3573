"""Split long text into passages: paragraph-aware, bounded in tokens, de-duplicated."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Optional

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


def sentences(text: str) -> list[str]:
    """A text's sentences (split after . ! ? before a capital, digit, quote or bracket)."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 1.3 tokens per word) for when no tokenizer is at hand."""
    return int(len(text.split()) * 1.3) + 1


def _paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    seen, out = set(), []
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(para.split())
        if para and para.lower() not in seen:  # repeated paragraphs (boilerplate) are kept once
            seen.add(para.lower())
            out.append(para)
    return out


def _split_long(para: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    pieces, current = [], ""
    for sentence in _SENTENCE.split(para):
        candidate = f"{current} {sentence}".strip()
        if current and count(candidate) > max_tokens:
            pieces.append(current)
            current = sentence
        else:
            current = candidate
        while count(current) > max_tokens:  # one enormous sentence: cut by words
            words = current.split()
            cut = max(1, int(len(words) * max_tokens / count(current)))
            pieces.append(" ".join(words[:cut]))
            current = " ".join(words[cut:])
    if current:
        pieces.append(current)
    return pieces


def split_passages(text: str, max_tokens: int = 400, count_tokens: Optional[Callable[[str], int]] = None) -> list[str]:
    """Greedily pack whole paragraphs into passages of at most `max_tokens` tokens."""
    count = count_tokens or approx_tokens
    passages, current = [], ""
    for para in _paragraphs(text):
        for piece in _split_long(para, max_tokens, count) if count(para) > max_tokens else [para]:
            candidate = f"{current}\n\n{piece}" if current else piece
            if current and count(candidate) > max_tokens:
                passages.append(current)
                current = piece
            else:
                current = candidate
    if current:
        passages.append(current)
    seen, unique = set(), []
    for passage in passages:
        key = " ".join(passage.lower().split())
        if key not in seen:
            seen.add(key)
            unique.append(passage)
    return unique
