"""The learner: trained once on other documents' passages + questions, saved with a card, merged at load."""

import json

import pytest
import torch

from seal_desk.errors import InputError
from seal_desk.knowledge.learner import CARD, apply_learner, learner_card, learner_examples, train_learner


def test_examples_are_the_passage_its_questions_as_recall_asks_them_and_the_self_edit_to_write(tiny_engine, passage):
    tok = tiny_engine.tokenizer
    examples = learner_examples(tiny_engine, [passage], write="self-qa")
    assert len(examples) == 1 + len(passage.questions) + 1
    assert tok.decode(examples[0]).startswith(f"{passage.title}\n{passage.text}")  # loss on every token
    ids, prompt_len = examples[1]
    asked, answer = tok.decode(ids[:prompt_len]), tok.decode(ids[prompt_len:], skip_special_tokens=True)
    assert "Let's answer a question directly and concisely." in asked and passage.questions[0].question in asked
    assert answer.strip() == "Mira Kostadinova"  # the loss falls on the answer only
    ids, prompt_len = examples[-1]
    assert "question-answer format" in tok.decode(ids[:prompt_len])
    assert tok.decode(ids[prompt_len:], skip_special_tokens=True).startswith("Q: Who founded Zorblat Industries?\nA: ")
    assert len(learner_examples(tiny_engine, [passage])) == 1 + len(passage.questions)


def test_train_save_and_merge_changes_the_weights(tiny_engine, passage, tmp_path):
    from seal_desk.model.loader import load_tiny

    out = tmp_path / "learner"
    card = train_learner(tiny_engine, [passage], tiny_engine.config.inner, out, ["data.json"])
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert json.loads((out / CARD).read_text())["sha256"] == card["sha256"]
    assert card["passages"] == 1 and card["questions"] == 2 and card["base"] == tiny_engine.loaded.name

    fresh = load_tiny()  # as at start-up: merged before any engine wraps the model
    before = {n: p.detach().clone() for n, p in fresh.model.named_parameters()}
    apply_learner(fresh, out)
    after = dict(fresh.model.named_parameters())
    assert set(after) == set(before)  # merged: a plain model again, no LoRA modules left
    assert any(not torch.equal(before[n], after[n]) for n in before)


def test_a_folder_without_a_card_or_from_another_model_is_refused(tiny_engine, passage, tmp_path):
    with pytest.raises(InputError, match="not a seal-desk learner"):
        learner_card(tmp_path)
    out = tmp_path / "learner"
    train_learner(tiny_engine, [passage], tiny_engine.config.inner, out, [])
    card = json.loads((out / CARD).read_text())
    (out / CARD).write_text(json.dumps({**card, "base": "another-model"}))
    with pytest.raises(InputError, match="trained on another-model"):
        apply_learner(tiny_engine.loaded, out)


def test_no_questions_no_learner(tiny_engine, passage, tmp_path):
    from dataclasses import replace

    with pytest.raises(InputError, match="passages with questions"):
        train_learner(tiny_engine, [replace(passage, questions=[])], tiny_engine.config.inner, tmp_path / "x", [])


def test_out_must_be_new_empty_or_an_earlier_learner(tmp_path):
    from seal_desk.knowledge.learner import check_out

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a learner folder"):
        check_out(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert check_out(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / CARD).write_text("{}")
    assert check_out(tmp_path / "old") == tmp_path / "old"


def test_an_adapter_learned_with_a_learner_is_refused_without_it(tiny_engine, passage, tmp_path):
    from seal_desk.engine import Engine
    from seal_desk.knowledge.documents import Document
    from seal_desk.model.loader import load_tiny

    learner = tmp_path / "learner"
    train_learner(tiny_engine, [passage], tiny_engine.config.inner, learner, [])
    merged = load_tiny()
    apply_learner(merged, learner)
    merged.learner = str(learner)
    engine = Engine(merged, tiny_engine.workspace, tiny_engine.config)
    result = engine.learn(Document("n.md", "Zorblat", [passage]), fmt="none")
    plain = Engine(load_tiny(), tiny_engine.workspace, tiny_engine.config)
    with pytest.raises(InputError, match="trained with learner learner"):
        plain.load_adapter(result.adapter_id)
    assert engine.load_adapter(result.adapter_id)
