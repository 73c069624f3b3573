"""Questions a user supplies for a document: JSON/JSONL of {question, answer}, or a plain file.

Plain files hold one question per line as `question<TAB>answer` or `question || answer`, or blocks
of `Q: ...` / `A: ...` lines. Each question is attached to the passage that shares most words with it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from seal_desk.errors import InputError
from seal_desk.knowledge.documents import Document, Question, _questions, _read_text
from seal_desk.knowledge.grading import normalize


def load_questions(path: str | Path) -> list[Question]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: no such questions file")
    text = _read_text(path)
    if path.suffix.lower() in {".json", ".jsonl"}:
        try:
            if path.suffix.lower() == ".jsonl":
                items = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: malformed JSON ({exc.msg})") from None
        if isinstance(items, dict):
            items = items.get("questions", [])
        found = _questions(items, str(path))
    else:
        found = _parse_plain(text, path)
    if not found:
        raise InputError(f"{path}: no questions found")
    for q in found:
        q.source = "user"
    return found


def _parse_plain(text: str, path: Path) -> list[Question]:
    out: list[Question] = []
    pending = None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        qa = re.match(r"^(q|question)\s*[:.]\s*(.+)$", line, re.I)
        aa = re.match(r"^(a|answer)\s*[:.]\s*(.+)$", line, re.I)
        if qa:
            pending = qa.group(2).strip()
        elif aa:
            if pending is None:
                raise InputError(f"{path}:{n}: answer without a question")
            out.append(Question(pending, aa.group(2).strip(), "user"))
            pending = None
        elif "\t" in line or "||" in line:
            q, _, a = line.partition("\t") if "\t" in line else line.partition("||")
            if not a.strip():
                raise InputError(f"{path}:{n}: question without an answer")
            out.append(Question(q.strip(), a.strip(), "user"))
        else:
            raise InputError(f"{path}:{n}: expected 'question<TAB>answer' or 'Q: ...' / 'A: ...'")
    if pending is not None:
        raise InputError(f"{path}: last question ('{pending[:40]}') has no answer")
    return out


def attach(document: Document, questions: list[Question]) -> None:
    """Give each question to the passage that shares the most words with question and answer."""
    bags = [set(normalize(p.text).split()) for p in document.passages]
    for q in questions:
        words = set(normalize(f"{q.question} {q.answer}").split())
        best = max(range(len(bags)), key=lambda i: len(words & bags[i]))
        document.passages[best].questions.append(q)
