"""Questions for a passage that has none: the model's, checked against the passage, plus cloze questions.

A small model's question/answer pairs are often unusable: answers that are not in the passage, that
the question already gives away, whole sentences, or a name from the passage that answers another
question. `check_written` keeps a model-written pair only when its answer is a short span of the
passage that the question does not state, found in a sentence that shares a word with the question,
and says why it dropped the others. A whole-sentence answer is cut down to the one name, date or
number it adds to the question when there is exactly one. `cloze_questions` is the deterministic fallback: a sentence of the passage with
one of its names, dates or numbers blanked out ("Fill in the blank: ... ____ ..."), stored with
source "cloze" so the library and the results show it for what it is.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from seal_desk.knowledge.documents import Question
from seal_desk.knowledge.grading import normalize, states_answer
from seal_desk.knowledge.self_edit import content_words
from seal_desk.knowledge.splitting import sentences

MAX_ANSWER_WORDS = 8
SHORT_ANSWER_WORDS = 4  # a longer answer holding one name, date or number beyond the question is cut down to it
BLANK = "____"
CLOZE_PREFIX = "Fill in the blank: "

# Why a model-written pair was dropped (the keys of `WrittenQuestions.dropped`).
NOT_IN_PASSAGE = "answer not in the passage"
IN_QUESTION = "answer given in the question"
TOO_LONG = f"answer over {MAX_ANSWER_WORDS} words"
OFF_TOPIC = "answer's sentence shares no word with the question"
DUPLICATE = "duplicate"


@dataclass
class WrittenQuestions:
    """What a question writer produced for one passage, and what it left out."""

    questions: list[Question] = field(default_factory=list)  # kept model-written ones first, then cloze
    written: int = 0  # question/answer pairs the model wrote
    kept: int = 0  # of those, kept
    cloze: int = 0  # cloze questions added from the passage's names, dates and numbers
    dropped: Counter = field(default_factory=Counter)  # reason -> how many model-written pairs it dropped
    trimmed: int = 0  # of the kept, answers cut down to the one name, date or number they add

    def summary(self) -> str:
        """One line: how many were kept, why others were dropped, how many cloze questions were added."""
        if self.written:
            why = ", ".join(f"{n} {reason}" for reason, n in self.dropped.most_common())
            cut = f" ({self.trimmed} cut down to a name, date or number)" if self.trimmed else ""
            line = f"model wrote {self.written}, kept {self.kept}{cut}" + (f"; dropped {why}" if why else "")
        else:
            line = "model wrote no usable Q:/A: pairs"
        if self.cloze:
            line += f"; added {self.cloze} cloze question(s) from the passage's names, dates and numbers"
        elif not self.questions:
            line += "; no names, dates or numbers left to make a cloze question of"
        return line

    def tally(self) -> str:
        """One line of counts: "wrote 5 questions: 3 checked model questions, 2 cloze; dropped 1 (1 duplicate)"."""
        line = f"wrote {len(self.questions)} question(s): {self.kept} checked model question(s), {self.cloze} cloze"
        dropped = sum(self.dropped.values())
        if dropped:
            line += f"; dropped {dropped} ({', '.join(f'{n} {why}' for why, n in self.dropped.most_common())})"
        elif not self.written:
            line += "; the model wrote no usable Q:/A: pairs"
        return line

    @classmethod
    def total(cls, results: Iterable[WrittenQuestions]) -> WrittenQuestions:
        """Several passages' results summed: one line for a whole document."""
        out = cls()
        for r in results:
            out.questions += r.questions
            out.written, out.kept, out.cloze = out.written + r.written, out.kept + r.kept, out.cloze + r.cloze
            out.dropped.update(r.dropped)
            out.trimmed += r.trimmed
        return out


def check_written(
    pairs: Iterable[tuple[str, str]], title: str, passage: str, existing: Sequence[Question] = ()
) -> tuple[list[Question], Counter, int]:
    """The model-written (question, answer) pairs worth asking, why the others were dropped, and how many
    of the kept answers were cut down.

    Kept: the answer occurs in the passage (whole tokens, normalised), has at most MAX_ANSWER_WORDS
    words, is not stated by the question or the title (which recall shows as the topic), sits in a
    sentence of the passage that shares a content word with the question (beyond the title's), and
    the question is new (not among `existing` or an earlier pair). An answer that is not in the passage
    or longer than SHORT_ANSWER_WORDS is replaced by the one name, date or number it holds beyond the
    question, if it holds exactly one (and then its own sentence must share the word: a sentence-long
    answer is often a wrong one).
    """
    seen = {normalize(q.question) for q in existing}
    kept: list[Question] = []
    dropped: Counter = Counter()
    trimmed = 0
    for question, answer in pairs:
        question, answer = question.strip(), answer.strip().rstrip(".")
        asked = f"{title} {question}"
        cut, verbatim = False, states_answer(passage, answer)
        if not verbatim or len(answer.split()) > SHORT_ANSWER_WORDS:
            kinds = _expected_kinds(question)
            spans = list(dict.fromkeys(answer[a:b] for a, b, kind in key_spans(answer) if kind in kinds))
            spans = [x for x in spans if states_answer(passage, x) and not states_answer(asked, x)]
            if len(spans) == 1:
                answer, cut = spans[0], True
            elif not verbatim or len(answer.split()) > MAX_ANSWER_WORDS:
                dropped[NOT_IN_PASSAGE if not verbatim else TOO_LONG] += 1
                continue
        if states_answer(asked, answer):
            dropped[IN_QUESTION] += 1
        elif not _supported(question, answer, title, passage, window=0 if cut else 1):
            dropped[OFF_TOPIC] += 1
        elif normalize(question) in seen:
            dropped[DUPLICATE] += 1
        else:
            seen.add(normalize(question))
            kept.append(Question(question, answer, "generated"))
            trimmed += cut
    return kept, dropped, trimmed


def _expected_kinds(question: str) -> set[str]:
    """The kinds of span (see `key_spans`) a question asks for, by its question word: all when unclear."""
    q = question.lower().strip()
    if re.match(r"(in )?(when|what year|which year|what date|on what day|on which day)\b", q):
        return {"date", "number"}
    if re.match(r"how (many|much|long|old|far|tall|high)\b", q):
        return {"number"}
    if re.match(r"(who|whom|whose|where)\b", q):
        return {"name"}
    return {"date", "number", "name"}


def _supported(question: str, answer: str, title: str, passage: str, window: int = 1) -> bool:
    """Some sentence of the passage states `answer`, and it or a sentence up to `window` away shares a content
    word (not one of the title's) with the question: a reworded question still names something near its answer."""
    words = content_words(question) - content_words(title)
    if not words:
        return True  # nothing to check the answer's place against ("What is it?")
    parts = sentences(" ".join(passage.split()))
    return any(
        states_answer(s, answer) and words & content_words(" ".join(parts[max(0, i - window) : i + window + 1]))
        for i, s in enumerate(parts)
    )


_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_NUMBER_WORDS = (  # not "one": mostly a pronoun ("one made of cork")
    "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    "seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand"
)
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\s+(?:{_MONTHS})(?:\s+\d{{3,4}})?|(?:{_MONTHS})\s+\d{{1,2}}(?:,\s*\d{{3,4}})?|(?:{_MONTHS})\s+\d{{3,4}})\b"
)
_NUMBER = re.compile(rf"\b(?:\d+(?:[.,]\d+)*%?|(?:{_NUMBER_WORDS})(?:-(?:{_NUMBER_WORDS}))?)\b", re.I)
_CAPITAL_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:(?:of|de|van|von|la|le|du|del)\s+)?[A-Z][\w'’-]*)*")
_LEADING = set(
    "a an the in on at of its his her their our this that these those it he she they there here every each "
    "instead after before when while during since until although though however then later today yet "
    "but and or so as by for from with without if because once both many most some all".split()
)


def key_spans(sentence: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of a sentence's dates, numbers and names, in that order of preference.

    A name is a run of capitalised words; a capitalised word that only starts the sentence (The, In,
    Every...) is not part of one.
    """
    found: list[tuple[int, int, str]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _ in found)

    for m in _DATE.finditer(sentence):
        found.append((m.start(), m.end(), "date"))
    for m in _NUMBER.finditer(sentence):
        if free(m.start(), m.end()):
            found.append((m.start(), m.end(), "number"))
    for m in _CAPITAL_RUN.finditer(sentence):
        start, words = m.start(), m.group(0).split()
        while words and words[0].lower() in _LEADING:  # "The Grey Gull" → "Grey Gull", "In 1931" → none
            start = sentence.index(words[1], start + len(words[0])) if len(words) > 1 else m.end()
            words = words[1:]
        if not words:
            continue
        end = m.end()
        if start == 0 and len(words) == 1:  # one capitalised word starting the sentence: likely not a name
            continue
        if free(start, end):
            found.append((start, end, "name"))
    return found


def _clauses(passage: str) -> list[str]:
    """The passage's sentences, headings and very short lines left out."""
    out = []
    for line in passage.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out += [s for s in sentences(line) if len(s.split()) >= 5]
    return out


def cloze_questions(title: str, passage: str, n: int, taken: Iterable[str] = ()) -> list[Question]:
    """Up to n cloze questions: sentences of the passage, each with one name, date or number blanked.

    Sentences in order, one question each, then (while fewer than n) a second round with each sentence's
    next span, and so on. Spans the title states, that overlap an answer in `taken` (answers already
    asked), or that occur twice in their sentence are skipped.
    """
    taken = list(taken)
    used = {normalize(a) for a in taken}
    out: list[Question] = []
    clauses = [(sentence, key_spans(sentence)) for sentence in _clauses(passage)]
    added = True
    while added and len(out) < n:
        added = False
        for sentence, spans in clauses:
            if len(out) >= n:
                break
            for start, end, _kind in spans:
                answer = sentence[start:end].strip()
                key = normalize(answer)
                if not key or key in used or states_answer(title, answer):
                    continue
                if any(states_answer(a, answer) or states_answer(answer, a) for a in taken):
                    continue  # part of (or holding) an answer already asked: a rival that grading would skip
                blanked = sentence[:start] + BLANK + sentence[end:]
                if states_answer(blanked, answer):
                    continue
                used.add(key)
                taken.append(answer)
                out.append(Question(CLOZE_PREFIX + blanked, answer, "cloze"))
                added = True
                break
    return out


def write_questions(
    pairs: Sequence[tuple[str, str]], title: str, passage: str, n: int, existing: Sequence[Question] = ()
) -> WrittenQuestions:
    """Check the model's pairs, then top up to n questions with cloze ones (see the module docstring)."""
    kept, dropped, trimmed = check_written(pairs, title, passage, existing)
    kept = kept[:n]
    taken = [q.answer for q in existing] + [q.answer for q in kept]
    cloze = cloze_questions(title, passage, n - len(kept), taken) if len(kept) < n else []
    return WrittenQuestions(kept + cloze, len(pairs), len(kept), len(cloze), dropped, min(trimmed, len(kept)))
