import json

import torch

from seal_desk.config import InnerLoopConfig, LoraSettings
from seal_desk.knowledge.inner_loop import train
from seal_desk.model.adapters import TRAINING_SLOT, AdapterHost
from seal_desk.model.loader import load_tiny

CFG = InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=3, lr=1e-2)


def test_saved_adapter_is_plain_peft_and_reloads_identically(tmp_path):
    from peft import PeftModel

    tiny = load_tiny()
    host = AdapterHost(tiny.model)
    train(host, tiny.tokenizer, ["Zorblat\nMira founded Zorblat in 1987."], CFG)
    folder = tmp_path / "adapters" / "zorblat"
    sha = host.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ] or {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in folder.iterdir()}
    assert len(sha) == 64
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".saving-")]
    assert json.loads((folder / "adapter_config.json").read_text())["r"] == 4

    ids = torch.tensor([tiny.tokenizer("Zorblat")["input_ids"]])
    with torch.no_grad(), host.using(TRAINING_SLOT) as m:
        trained = m(ids).logits
    fresh = load_tiny()  # same seed, same base weights: anyone can load the folder with PEFT
    plain = PeftModel.from_pretrained(fresh.model, str(folder))
    with torch.no_grad():
        assert torch.allclose(plain(ids).logits, trained, atol=1e-5)

    other = AdapterHost(load_tiny().model)
    name = other.load(folder, "zorblat")
    with torch.no_grad(), other.using(name) as m:
        assert torch.allclose(m(ids).logits, trained, atol=1e-5)
    with torch.no_grad(), other.using(None) as m:
        assert not torch.allclose(m(ids).logits, trained, atol=1e-3)


def test_training_after_loading_a_saved_adapter(tmp_path):
    tiny = load_tiny()
    host = AdapterHost(tiny.model)
    train(host, tiny.tokenizer, ["one two three"], CFG)
    host.save(tmp_path / "a")
    other = AdapterHost(load_tiny().model)
    other.load(tmp_path / "a", "a")
    report = train(other, tiny.tokenizer, ["four five six"], CFG)
    assert report.steps == 3 and "a" in other.peft.peft_config and TRAINING_SLOT in other.peft.peft_config
