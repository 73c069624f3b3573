"""Self-edits: the training data a model writes for itself from a passage (SEAL §3.1).

Each format is a prompt (chat template for instruct models, completion prompt for base models)
and a rule that turns the generated text into training sequences: split into lines or Q/A pairs,
prefix the title, and append the passage itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from seal_desk.knowledge.grading import states_answer

FORMATS: dict[str, str] = {
    "implications": (
        "Let's read the following passage and produce a list of implications derived directly "
        "or indirectly from the content."
    ),
    "implications-long": (
        "Let's read the following passage and produce a long list of implications derived "
        "directly or indirectly from the content. Write each implication as a complete, "
        "self-contained sentence that names the people, places, dates and numbers involved."
    ),
    "rewrite": (
        "Let's read the following passage and rewrite it in a few different ways, each one separated by a newline."
    ),
    "self-qa": (
        "Let's read the following passage and rewrite it in a question-answer format. "
        "Write each pair as 'Q: ...' on one line and 'A: ...' on the next."
    ),
    "chain-of-thought": (
        "Let's read the following passage and think step by step about what it says and what "
        "follows from it. Then produce a list of implications derived directly or indirectly "
        "from the content."
    ),
    "none": "",
}

_ENDINGS = {
    "implications": "Implications:",
    "implications-long": "Implications:",
    "rewrite": "Rewrites:",
    "self-qa": "Question-answer pairs:",
    "chain-of-thought": "Reasoning:",
}

_BULLET = re.compile(r"^\s*(?:[-*•·]+|\d+[.)]|\(\d+\)|[a-z][.)])\s+")


@dataclass(frozen=True)
class SelfEdit:
    format: str
    text: str
    id: int | None = None


def check_format(name: str) -> str:
    if name not in FORMATS:
        from seal_desk.errors import InputError

        raise InputError(f"unknown self-edit format '{name}': choose from {', '.join(FORMATS)}")
    return name


def prompt_text(fmt: str, title: str, passage: str) -> str:
    """The instruction and passage, without any chat wrapping."""
    return f"{FORMATS[fmt]}\n\nPassage:\n{title}\n{passage}\n\n{_ENDINGS[fmt]}"


def prompt_ids(tokenizer, prompt_style: str, fmt: str, title: str, passage: str) -> list[int]:
    """Token ids of the self-edit prompt: chat template for instruct models, raw text otherwise."""
    text = prompt_text(fmt, title, passage)
    return user_prompt_ids(tokenizer, prompt_style, text, text + "\n")


def user_prompt_ids(tokenizer, prompt_style: str, text: str, completion: str | None = None) -> list[int]:
    """`text` as a user turn for instruct models with a chat template, else `completion` (or `text`) raw."""
    if prompt_style == "instruct" and getattr(tokenizer, "chat_template", None):
        return chat_ids(tokenizer, text)
    return tokenizer(text if completion is None else completion, add_special_tokens=True)["input_ids"]


def chat_ids(tokenizer, user_text: str) -> list[int]:
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], add_generation_prompt=True, tokenize=False
    )
    return tokenizer(rendered, add_special_tokens=False)["input_ids"]


def split_items(fmt: str, text: str) -> list[str]:
    """Break a generated self-edit into training items (lines, or Q/A pairs for self-qa)."""
    if fmt == "self-qa":
        pairs, question = [], None
        for line in text.splitlines():
            line = _BULLET.sub("", line.strip())
            q = re.match(r"^(?:q|question)\s*\d*\s*[:.]\s*(.+)$", line, re.I)
            a = re.match(r"^(?:a|answer)\s*\d*\s*[:.]\s*(.+)$", line, re.I)
            if q:
                question = q.group(1).strip()
            elif a and question:
                pairs.append(f"Q: {question}\nA: {a.group(1).strip()}")
                question = None
        if pairs:
            return pairs
    if fmt == "chain-of-thought":
        tail = re.split(r"(?im)^\s*implications\s*:?\s*$", text)
        text = tail[-1]
    items = []
    for line in text.splitlines():
        line = _BULLET.sub("", line.strip().strip("*_#> ")).strip().strip("*_ ")
        if len(line.split()) >= 3 and not line.lower().rstrip(":").endswith(("implications", "rewrites")):
            items.append(line)
    seen, unique = set(), []
    for item in items:
        if item.lower() not in seen:
            seen.add(item.lower())
            unique.append(item)
    return unique


_STOP = set(
    "about after also among and any are been before being between both but can could did does doing each "
    "from further had has have having her here hers him his how into its itself just more most much must "
    "not now off once only other our out over own same she should some such than that the their them then "
    "there these they this those through too under until upon very was were what when where which while "
    "who whom why will with would you your".split()
)


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry facts: numbers and words of 4+ letters that are not stop words."""
    words = re.findall(r"[\w']+", text.lower())
    return {w for w in words if (w.isdigit() or len(w) >= 4) and w not in _STOP}


def grounding(item: str, passage: str) -> float:
    """Share of an item's content words that occur in the passage (0 for an item with none)."""
    words = content_words(item)
    return len(words & content_words(passage)) / len(words) if words else 0.0


def qa_pair(item: str) -> Optional[tuple[str, str]]:
    """(question, answer) of a 'Q: ...\\nA: ...' item, else None."""
    if item.startswith("Q: ") and "\nA: " in item:
        q, a = item[3:].split("\nA: ", 1)
        if q.strip() and a.strip():
            return q.strip(), a.strip()
    return None


_KEY = re.compile(r"\b(?:\d[\d,.]*|[A-Z][\w'-]+)")


def key_terms(text: str) -> set[str]:
    """Names, dates and numbers: capitalised words and numerals, lower-cased (sentence starts included)."""
    return {m.group(0).lower().rstrip(".,") for m in _KEY.finditer(text)}


def coverage(items: list[str], title: str, passage: str) -> float:
    """Share of the passage's key terms (not in the title) that a self-edit's kept items mention; needs no questions."""
    wanted = key_terms(passage) - key_terms(title)
    if not wanted:
        return 0.0
    said = set().union(*(key_terms(i) for i in items)) if items else set()
    return len(wanted & said) / len(wanted)


def best_of(edits: list[str], title: str, passage: str, fmt: str, min_grounding: float) -> list[str]:
    """The one self-edit among k samples whose grounded items cover most of the passage's names and numbers."""
    if len(edits) <= 1:
        return list(edits)

    def score(edit: str) -> tuple[float, int]:
        kept = grounded_items(fmt, [edit], title, passage, min_grounding)
        return coverage(kept, title, passage), len(kept)

    return [max(edits, key=score)]


def grounded_items(fmt: str, edits: list[str], title: str, passage: str, min_grounding: float) -> list[str]:
    """The self-edits' training items whose `grounding` in the title and passage reaches `min_grounding`."""
    context = f"{title} {passage}"
    return [item for edit in edits for item in split_items(fmt, edit) if grounding(item, context) >= min_grounding]


@dataclass(frozen=True)
class LineVerdict:
    """One written line of a self-edit and whether training keeps it: `reason` is empty when it is
    trained, else why it is dropped. `item` is the training item the line belongs to (a Q/A pair
    spans two lines)."""

    row: int  # 0-based line of the self-edit text
    item: str
    reason: str = ""

    @property
    def kept(self) -> bool:
        return not self.reason


_QUESTION_LINE = re.compile(r"^(?:q|question)\s*\d*\s*[:.]\s*(.+)$", re.I)
_ANSWER_LINE = re.compile(r"^(?:a|answer)\s*\d*\s*[:.]\s*(.+)$", re.I)
_IMPLICATIONS_HEADING = re.compile(r"^\s*implications\s*:?\s*$", re.I)


def line_verdicts(
    fmt: str, text: str, title: str, passage: str, min_grounding: float, qa_answers: bool = False
) -> list[LineVerdict]:
    """What `training_sequences` makes of each non-blank line of one self-edit: kept, or dropped and why.

    The same rules as `split_items` and `grounded_items`, line by line, so that what the self-edit view
    marks is what is trained. `qa_answers`: Q/A items also need an answer grounded in the passage (the
    `qa_prompt` setting).
    """
    context = f"{title} {passage}"
    lines = text.splitlines()
    out: list[LineVerdict] = []

    def grounded(item: str) -> str:
        share = grounding(item, context)
        if share >= min_grounding:
            return ""
        if not content_words(item):
            return "no names, numbers or content words"
        return f"only {share:.0%} of its words are in the passage (needs {min_grounding:.0%})"

    if fmt == "self-qa":
        pairs: list[tuple[int, int, str, str]] = []
        loose: list[tuple[int, str]] = []
        question: tuple[int, str] | None = None
        for row, line in enumerate(lines):
            clean = _BULLET.sub("", line.strip())
            if not clean:
                continue
            q, a = _QUESTION_LINE.match(clean), _ANSWER_LINE.match(clean)
            if q:
                if question is not None:
                    loose.append((question[0], "a question without an answer"))
                question = (row, q.group(1).strip())
            elif a and question:
                pairs.append((question[0], row, question[1], a.group(1).strip()))
                question = None
            else:
                loose.append((row, "not part of a Q:/A: pair" if not a else "an answer without a question"))
        if question is not None:
            loose.append((question[0], "a question without an answer"))
        if pairs:
            for q_row, a_row, q, a in pairs:
                item = f"Q: {q}\nA: {a}"
                reason = grounded(item)
                if not reason and qa_answers and not (states_answer(context, a) or grounding(a, context) >= 0.5):
                    reason = "its answer is not in the passage"
                out += [LineVerdict(q_row, item, reason), LineVerdict(a_row, item, reason)]
            out += [LineVerdict(row, lines[row].strip(), why) for row, why in loose]
            return sorted(out, key=lambda v: v.row)
    first = 0
    if fmt == "chain-of-thought":
        heads = [row for row, line in enumerate(lines) if _IMPLICATIONS_HEADING.match(line)]
        if heads:
            first = heads[-1] + 1
            out += [
                LineVerdict(row, lines[row].strip(), "reasoning: only the implications after it are trained")
                for row in range(first)
                if lines[row].strip()
            ]
    seen: set[str] = set()
    for row in range(first, len(lines)):
        if not lines[row].strip():
            continue
        item = _BULLET.sub("", lines[row].strip().strip("*_#> ")).strip().strip("*_ ")
        if len(item.split()) < 3:
            reason = "under 3 words" if item else "no text"
        elif item.lower().rstrip(":").endswith(("implications", "rewrites")):
            reason = "a heading"
        elif item.lower() in seen:
            reason = "repeats an earlier line"
        else:
            seen.add(item.lower())
            reason = grounded(item)
        out.append(LineVerdict(row, item, reason))
    return out


def sentence_sequences(title: str, passage: str) -> list[str]:
    """A deterministic augmentation: each sentence of the passage as its own sequence (title first), then the passage."""
    from seal_desk.knowledge.splitting import sentences

    parts = sentences(passage)
    return [f"{title}\n{s}" for s in parts if len(parts) > 1] + [f"{title}\n{passage}"]


def training_sequences(
    title: str,
    passage: str,
    edits: list[str],
    fmt: str,
    include_passage: bool = True,
    min_grounding: float = 0.0,
    qa_render: Optional[Callable[[str, str, str], str]] = None,
) -> list[str]:
    """SEAL's recipe: each self-edit item prefixed with the title, plus the passage itself.

    Items whose content words mostly do not occur in the passage (`grounding` below `min_grounding`)
    are dropped: small models often write generic or invented lines that would teach wrong facts.
    With `qa_render(title, question, answer)`, question-answer items become that text instead (the
    question asked the way recall asks it, then the answer) and need an answer grounded in the passage.
    """
    context = f"{title} {passage}"
    seqs = []
    for item in grounded_items(fmt, edits, title, passage, min_grounding):
        pair = qa_pair(item) if qa_render is not None else None
        if pair is None:
            seqs.append(f"{title}\n{item}")
        elif states_answer(context, pair[1]) or grounding(pair[1], context) >= 0.5:  # else it may teach a wrong fact
            seqs.append(qa_render(title, *pair))
    if include_passage or not seqs:
        seqs.append(f"{title}\n{passage}")
    return seqs
