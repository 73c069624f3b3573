"""Check a paraphrased invented-facts file: questions must not reuse the words of the sentence that answers them.

Usage: python benchmarks/check_paraphrased.py FILE.json [FILE.json ...]   (exit 1 and one line per problem)

A file is SQuAD-style JSON: [{"title", "context", "questions": [{"question", "answer"}]}]. Rules, per
question: the answer occurs in the passage (case-insensitive, whole words) and not in the question; the
answer differs from every other answer of its passage (neither contains the other), so a reply that
recites another fact cannot pass for this one; and against the sentence(s) of the passage that hold the
answer, the question shares no *key phrase* (two consecutive content words) and at most one content
word stem (first 5 letters), not counting the title's words. Per passage: 60-170 words, at least 5
questions, unique titles.
"""

from __future__ import annotations

import json
import re
import sys

STOP = set(
    "about after also among and any are been before being between both but can could did does doing each "
    "from further had has have having her here hers him his how into its itself just more most much must "
    "not now off once only other our out over own same she should some such than that the their them then "
    "there these they this those through too under until upon very was were what when where which while "
    "who whom why will with would you your year years name named called kind type many".split()
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def stems(text: str, drop: set[str] = frozenset()) -> list[str]:
    """Content-word stems (first 5 letters; numbers whole), in order, stop words and `drop` left out."""
    out = []
    for w in words(text):
        if w in STOP or (len(w) < 4 and not w.isdigit()):
            continue
        s = w if w.isdigit() else w[:5]
        if s not in drop:
            out.append(s)
    return out


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])", text.strip()) if s.strip()]


def contains(hay: str, needle: str) -> bool:
    h, n = words(hay), words(needle)
    return bool(n) and any(h[i : i + len(n)] == n for i in range(len(h) - len(n) + 1))


def problems(data: list[dict]) -> list[str]:
    out, titles = [], set()
    for p in data:
        title, context, qs = p.get("title", ""), p.get("context", ""), p.get("questions", [])
        where = f"'{title}'"
        if title in titles:
            out.append(f"{where}: duplicate title")
        titles.add(title)
        n = len(words(context))
        if not 60 <= n <= 170:
            out.append(f"{where}: passage has {n} words (60-170)")
        if len(qs) < 5:
            out.append(f"{where}: {len(qs)} questions (at least 5)")
        title_stems = set(stems(title))
        answers = [q.get("answer", "") for q in qs]
        for i, q in enumerate(qs):
            question, answer = q.get("question", ""), q.get("answer", "")
            at = f"{where} Q{i + 1} '{question[:50]}'"
            if not contains(context, answer):
                out.append(f"{at}: answer '{answer}' not in the passage")
                continue
            if contains(question, answer):
                out.append(f"{at}: the question contains its answer")
            for j, other in enumerate(answers):
                if j != i and (contains(other, answer) or contains(answer, other)):
                    out.append(f"{at}: answer '{answer}' overlaps Q{j + 1}'s answer '{other}'")
            drop = title_stems | set(stems(answer))
            q_stems = stems(question, drop)
            for sent in (s for s in sentences(context) if contains(s, answer)):
                s_stems = stems(sent, drop)
                shared = sorted(set(q_stems) & set(s_stems))
                s_pairs = set(zip(s_stems, s_stems[1:]))
                pairs = [a + " " + b for a, b in zip(q_stems, q_stems[1:]) if (a, b) in s_pairs]
                if pairs:
                    out.append(f"{at}: shares the key phrase '{pairs[0]}' with '{sent[:60]}'")
                elif len(shared) > 1:
                    out.append(f"{at}: shares {len(shared)} content words ({', '.join(shared)}) with '{sent[:60]}'")
    return out


def main(paths: list[str]) -> int:
    found = 0
    for path in paths:
        data = json.load(open(path, encoding="utf-8"))
        for line in problems(data):
            print(f"{path}: {line}")
            found += 1
        qn = sum(len(p["questions"]) for p in data)
        print(f"{path}: {len(data)} passages, {qn} questions, {found} problem(s) so far", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
