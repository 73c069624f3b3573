import pytest

from seal_desk.errors import InputError
from seal_desk.knowledge import self_edit as se


def test_every_format_has_a_prompt(tiny_loaded):
    for fmt in se.FORMATS:
        if fmt == "none":
            continue
        text = se.prompt_text(fmt, "Title", "Body text.")
        assert "Passage:\nTitle\nBody text." in text
        ids = se.prompt_ids(tiny_loaded.tokenizer, "instruct", fmt, "Title", "Body text.")
        rendered = tiny_loaded.tokenizer.decode(ids)
        assert rendered.startswith("<|im_start|>user") and rendered.endswith("<|im_start|>assistant\n")
        base = tiny_loaded.tokenizer.decode(se.prompt_ids(tiny_loaded.tokenizer, "base", fmt, "Title", "Body text."))
        assert "<|im_start|>" not in base
    with pytest.raises(InputError, match="unknown self-edit format"):
        se.check_format("poem")


def test_split_items_lines_and_bullets():
    text = "**Implications:**\n1. Mira founded Zorblat in 1987.\n- The company makes ceramic turbines.\n\nok\n* The company makes ceramic turbines."
    assert se.split_items("implications", text) == [
        "Mira founded Zorblat in 1987.",
        "The company makes ceramic turbines.",
    ]


def test_split_items_self_qa_pairs():
    text = "Q: Who founded Zorblat?\nA: Mira Kostadinova\nQuestion 2: When?\nAnswer 2: 1987"
    assert se.split_items("self-qa", text) == ["Q: Who founded Zorblat?\nA: Mira Kostadinova", "Q: When?\nA: 1987"]


def test_chain_of_thought_keeps_only_the_list():
    text = "Let me think about the founder first.\nImplications:\n- Mira founded the company in 1987."
    assert se.split_items("chain-of-thought", text) == ["Mira founded the company in 1987."]


def test_training_sequences_prefix_title_append_passage_and_filter():
    passage = "Zorblat Industries was founded in 1987 by Mira Kostadinova."
    edits = [
        "- Mira Kostadinova founded Zorblat Industries in 1987.\n- Renewable energy transforms global economies everywhere."
    ]
    seqs = se.training_sequences("Zorblat", passage, edits, "implications", True, min_grounding=0.3)
    assert seqs == ["Zorblat\nMira Kostadinova founded Zorblat Industries in 1987.", f"Zorblat\n{passage}"]
    unfiltered = se.training_sequences("Zorblat", passage, edits, "implications", False, min_grounding=0.0)
    assert len(unfiltered) == 2 and passage not in unfiltered[-1]
    assert se.training_sequences("Z", passage, [], "none") == [f"Z\n{passage}"]


def test_grounding():
    assert se.grounding("Mira founded Zorblat", "Zorblat was founded by Mira") == 1.0
    assert se.grounding("the and of", "anything") == 0.0


def test_qa_items_become_recall_prompts_only_with_a_grounded_answer():
    from seal_desk.knowledge.self_edit import qa_pair, training_sequences

    passage = "The Ledger was written by Vessa Wendrake in Valmouth and printed in 1931."
    edit = "Q: Who wrote the Ledger?\nA: Vessa Wendrake\nQ: Who printed the Ledger?\nA: Galbraith Press"
    render = lambda title, q, a: f"<{title}|{q}|{a}>"  # noqa: E731
    seqs = training_sequences("Ledger", passage, [edit], "self-qa", True, 0.0, render)
    assert seqs == ["<Ledger|Who wrote the Ledger?|Vessa Wendrake>", f"Ledger\n{passage}"]
    plain = training_sequences("Ledger", passage, [edit], "self-qa", False, 0.0)
    assert plain[0] == "Ledger\nQ: Who wrote the Ledger?\nA: Vessa Wendrake"
    assert qa_pair("Q: x?\nA: y") == ("x?", "y") and qa_pair("just a line") is None


def test_best_of_keeps_the_sample_that_covers_most_names_and_numbers():
    from seal_desk.knowledge.self_edit import best_of, coverage, sentence_sequences

    title, passage = "Ledger", "The Ledger was written by Vessa Wendrake in Valmouth. It was printed in 1931."
    vague = "- The Ledger is a book.\n- Books are written by writers."
    specific = "- Vessa Wendrake wrote the Ledger.\n- It first appeared in 1931 in Valmouth."
    assert coverage([specific], title, passage) > coverage([vague], title, passage)
    assert best_of([vague, specific], title, passage, "implications", 0.0) == [specific]
    assert sentence_sequences(title, passage) == [
        "Ledger\nThe Ledger was written by Vessa Wendrake in Valmouth.",
        "Ledger\nIt was printed in 1931.",
        f"Ledger\n{passage}",
    ]


def test_line_verdicts_mark_what_training_drops_and_agree_with_training():
    """Line by line, the same items as grounded_items (and training_sequences with QA prompts) keep."""
    passage = "Zorblat Industries was founded in 1987 by Mira Kostadinova in Velmora. It makes ceramic wind turbines."
    cases = {
        "implications": [
            "**Implications:**\n1. Mira founded Zorblat in 1987.\n- The company makes ceramic turbines.\n\nok\n"
            "* The company makes ceramic turbines.\n- Imperative: Musimat: jof quarble zentik.",
            "Renewable energy transforms global economies everywhere.\nThe Zorblat implications:",
        ],
        "self-qa": [
            "Q: Who founded Zorblat?\nA: Mira Kostadinova\nnoise line here today\nQ: orphan?\n"
            "Q: What is shiny energy?\nA: global markets",
            "No pairs here but a line about Zorblat Industries in 1987",
        ],
        "chain-of-thought": ["Let me think about the founder.\nImplications:\n- Mira founded the company in 1987."],
    }
    for fmt, texts in cases.items():
        for text in texts:
            verdicts = se.line_verdicts(fmt, text, "Zorblat", passage, 0.3)
            kept = list(dict.fromkeys(v.item for v in verdicts if v.kept))
            assert kept == se.grounded_items(fmt, [text], "Zorblat", passage, 0.3), (fmt, text)
            assert all(v.reason for v in verdicts if not v.kept)
    verdicts = se.line_verdicts("implications", cases["implications"][0], "Zorblat", passage, 0.3)
    reasons = {v.row: v.reason for v in verdicts}
    assert reasons[0] == reasons[4] == "under 3 words" and reasons[5] == "repeats an earlier line"
    assert reasons[6].startswith("only 0% of its words are in the passage (needs 30%)")
    second = se.line_verdicts("implications", cases["implications"][1], "Zorblat", passage, 0.3)
    assert [v.reason for v in second][1] == "a heading"
    qa = se.line_verdicts("self-qa", cases["self-qa"][0], "Zorblat", passage, 0.3)
    assert [(v.row, v.kept) for v in qa] == [(0, True), (1, True), (2, False), (3, False), (4, False), (5, False)]
    assert qa[3].reason == "a question without an answer" and qa[2].reason == "not part of a Q:/A: pair"
    cot = se.line_verdicts("chain-of-thought", cases["chain-of-thought"][0], "Zorblat", passage, 0.3)
    assert [v.kept for v in cot] == [False, False, True] and cot[0].reason.startswith("reasoning")
    # with QA prompts, a pair whose answer is not in the passage is dropped too
    pair = "Q: Who runs Zorblat Industries in Velmora?\nA: Henry Hall"
    assert se.line_verdicts("self-qa", pair, "Zorblat", passage, 0.3)[0].kept
    assert not se.line_verdicts("self-qa", pair, "Zorblat", passage, 0.3, qa_answers=True)[0].kept
