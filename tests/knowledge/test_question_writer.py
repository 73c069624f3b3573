"""The question writer: model-written pairs checked against the passage, the cloze fallback, the counts."""

from __future__ import annotations

from seal_desk.knowledge import question_writer as qw
from seal_desk.knowledge.documents import Question

TITLE = "The Tessaly Tide Clock"
PASSAGE = (
    "The Tessaly Tide Clock stands on the harbour wall of Quillhaven, a fishing town on Brisca Island. "
    "The clockmaker Odile Varnay built it in 1874 and cast its dial from 212 melted ship bells.\n\n"
    "Instead of hours, the clock shows the height of the tide.\n\n"
    "In 1931 a storm flooded the well and stopped the clock for nine years. The engineer Bram Ostrowe "
    "repaired it in 1940. Every year on 3 May the town holds the Float Day fair in his honour."
)


def test_key_spans_find_dates_numbers_and_names_not_sentence_starts():
    spans = lambda s: [(s[a:b], kind) for a, b, kind in qw.key_spans(s)]  # noqa: E731
    assert spans("Every year on 3 May the town holds the Float Day fair.") == [("3 May", "date"), ("Float Day", "name")]
    assert spans("In 1931 a storm stopped the clock for nine years.") == [("1931", "number"), ("nine", "number")]
    assert spans("The engineer Bram Ostrowe repaired it.") == [("Bram Ostrowe", "name")]
    assert spans('It plays a tune called "The Grey Gull".') == [("Grey Gull", "name")]
    assert spans("Instead of hours, the clock shows the tide.") == []  # a capitalised first word is no name


def test_cloze_blanks_names_dates_and_numbers_one_per_sentence_first():
    qs = qw.cloze_questions(TITLE, PASSAGE, 4)
    assert [q.answer for q in qs] == ["Quillhaven", "1874", "1931", "1940"]
    assert all(q.source == "cloze" and q.question.startswith("Fill in the blank: ") for q in qs)
    assert qs[1].question == (
        "Fill in the blank: The clockmaker Odile Varnay built it in ____ and cast its dial from 212 melted ship bells."
    )
    # the title's own words are never the answer (recall shows the title as the topic)
    assert all("Tessaly" not in q.answer for q in qw.cloze_questions(TITLE, PASSAGE, 20))


def test_cloze_takes_second_spans_when_short_and_skips_answers_already_asked():
    qs = qw.cloze_questions(TITLE, PASSAGE, 20, taken=["1874", "Odile"])
    answers = [q.answer for q in qs]
    assert "1874" not in answers and "Odile Varnay" not in answers  # taken, or holding a taken answer
    assert {"Brisca Island", "212", "nine", "Bram Ostrowe", "Float Day"} <= set(answers)
    assert len(answers) == len(set(answers))
    assert qw.cloze_questions(TITLE, "the sea was calm and grey all day long.", 5) == []


def test_model_pairs_kept_only_when_the_answer_is_a_short_span_of_the_passage():
    pairs = [
        ("Who built the clock?", "Odile Varnay"),  # kept
        ("When did the clock open?", "It opened in 1985."),  # invented: not in the passage
        ("Where is the clock?", "The Tessaly Tide Clock"),  # the title: given away
        ("When did the storm flood the well in 1931?", "1931"),  # stated by the question
        ("Who built the clock?", "Odile Varnay"),  # a repeat
        ("Who is the clockmaker of the Tessaly Tide Clock?", "Bram Ostrowe"),  # in the passage, but elsewhere
        ("When was the clock repaired?", "The engineer Bram Ostrowe repaired it in 1940."),  # cut down to 1940
    ]
    kept, dropped, trimmed = qw.check_written(pairs, TITLE, PASSAGE)
    assert [(q.question, q.answer) for q in kept] == [
        ("Who built the clock?", "Odile Varnay"),
        ("When was the clock repaired?", "1940"),
    ]
    assert all(q.source == "generated" for q in kept) and trimmed == 1
    assert dropped == {qw.NOT_IN_PASSAGE: 1, qw.IN_QUESTION: 2, qw.DUPLICATE: 1, qw.OFF_TOPIC: 1}
    # questions already on the passage count as repeats
    _kept, dropped, _ = qw.check_written([("who built the clock", "Odile Varnay")], TITLE, PASSAGE, [kept[0]])
    assert dropped == {qw.DUPLICATE: 1}


def test_reworded_questions_with_span_answers_pass_the_check():
    """The bundled sample's own questions are what a good writer would produce: all of them pass."""
    from seal_desk.knowledge.documents import load_documents
    from seal_desk.knowledge.questions import load_questions
    from seal_desk.paths import sample_files

    document, questions = sample_files()
    [doc] = load_documents([document])
    found = load_questions(questions)
    kept, dropped, _ = qw.check_written([(q.question, q.answer) for q in found], doc.title, doc.passages[0].text)
    assert len(kept) == len(found) and not dropped


def test_write_questions_tops_up_with_cloze_and_summarises():
    written = qw.write_questions([("Who built the clock?", "Odile Varnay"), ("Why?", "no idea")], TITLE, PASSAGE, 3)
    assert [q.source for q in written.questions] == ["generated", "cloze", "cloze"]
    assert (written.written, written.kept, written.cloze) == (2, 1, 2)
    assert written.summary() == (
        "model wrote 2, kept 1; dropped 1 answer not in the passage; "
        "added 2 cloze question(s) from the passage's names, dates and numbers"
    )
    nothing = qw.write_questions([], TITLE, "the sea was calm and grey all day long.", 3)
    assert nothing.questions == []
    assert nothing.summary() == (
        "model wrote no usable Q:/A: pairs; no names, dates or numbers left to make a cloze question of"
    )
    existing = [Question("Fill in the blank: ...", "Quillhaven", "cloze")]
    again = qw.write_questions([], TITLE, PASSAGE, 1, existing)
    assert [q.answer for q in again.questions] == ["Brisca Island"]  # the first sentence's next span


def test_engine_writes_questions_with_the_tiny_model(tiny_engine, passage):
    """The tiny random model writes nothing usable: the cloze fallback still yields questions, and the
    Message says what happened."""
    from seal_desk.events import Message

    seen = []
    out = tiny_engine.generate_questions(passage, 2, on_event=seen.append)
    assert out and all(q.source in ("generated", "cloze") for q in out) and len(out) <= 2
    [message] = [e for e in seen if isinstance(e, Message)]
    assert "cloze" in message.text or "kept" in message.text


def test_tally_sums_passages_into_one_line():
    from collections import Counter

    from seal_desk.knowledge.question_writer import DUPLICATE, NOT_IN_PASSAGE, WrittenQuestions

    one = WrittenQuestions([Question("q?", "a", "generated")], 2, 1, 0, Counter({NOT_IN_PASSAGE: 1}))
    two = WrittenQuestions([Question("c", "b", "cloze")], 1, 0, 1, Counter({DUPLICATE: 1}))
    total = WrittenQuestions.total([one, two])
    assert (len(total.questions), total.written, total.kept, total.cloze) == (2, 3, 1, 1)
    assert total.tally() == (
        "wrote 2 question(s): 1 checked model question(s), 1 cloze; dropped 2 (1 answer not in the passage, 1 duplicate)"
    )
    assert WrittenQuestions.total([]).tally() == (
        "wrote 0 question(s): 0 checked model question(s), 0 cloze; the model wrote no usable Q:/A: pairs"
    )
