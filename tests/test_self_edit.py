import pytest

from seal_desk import self_edit as se
from seal_desk.errors import InputError


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
    assert se.split_items("implications", text) == ["Mira founded Zorblat in 1987.", "The company makes ceramic turbines."]


def test_split_items_self_qa_pairs():
    text = "Q: Who founded Zorblat?\nA: Mira Kostadinova\nQuestion 2: When?\nAnswer 2: 1987"
    assert se.split_items("self-qa", text) == ["Q: Who founded Zorblat?\nA: Mira Kostadinova", "Q: When?\nA: 1987"]


def test_chain_of_thought_keeps_only_the_list():
    text = "Let me think about the founder first.\nImplications:\n- Mira founded the company in 1987."
    assert se.split_items("chain-of-thought", text) == ["Mira founded the company in 1987."]


def test_training_sequences_prefix_title_append_passage_and_filter():
    passage = "Zorblat Industries was founded in 1987 by Mira Kostadinova."
    edits = ["- Mira Kostadinova founded Zorblat Industries in 1987.\n- Renewable energy transforms global economies everywhere."]
    seqs = se.training_sequences("Zorblat", passage, edits, "implications", True, min_grounding=0.3)
    assert seqs == ["Zorblat\nMira Kostadinova founded Zorblat Industries in 1987.", f"Zorblat\n{passage}"]
    unfiltered = se.training_sequences("Zorblat", passage, edits, "implications", False, min_grounding=0.0)
    assert len(unfiltered) == 2 and passage not in unfiltered[-1]
    assert se.training_sequences("Z", passage, [], "none") == [f"Z\n{passage}"]


def test_grounding():
    assert se.grounding("Mira founded Zorblat", "Zorblat was founded by Mira") == 1.0
    assert se.grounding("the and of", "anything") == 0.0
