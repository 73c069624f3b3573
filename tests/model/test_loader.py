import pytest

from seal_desk.errors import ModelError
from seal_desk.model import device as devices
from seal_desk.model.loader import load


@pytest.fixture
def local_model(tmp_path, tiny_loaded):
    folder = tmp_path / "tiny-hf"
    tiny_loaded.model.save_pretrained(folder, safe_serialization=True)
    tiny_loaded.tokenizer.save_pretrained(folder)
    return folder


def test_local_folder_loads_on_cpu_fp32(local_model, tiny_loaded):
    import torch

    loaded = load(str(local_model), device="cpu")
    assert loaded.source.kind == "dir" and loaded.placement == devices.Placement("cpu", "fp32")
    assert loaded.n_params == tiny_loaded.n_params and loaded.model.dtype == torch.float32
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        assert torch.allclose(loaded.model(ids).logits, tiny_loaded.model(ids).logits, atol=1e-6)


def test_refuses_pickle_weights(tmp_path, tiny_loaded):
    import torch

    folder = tmp_path / "pickled"
    folder.mkdir()
    tiny_loaded.model.config.save_pretrained(folder)
    tiny_loaded.tokenizer.save_pretrained(folder)
    torch.save(tiny_loaded.model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(ModelError, match="cannot load model"):
        load(str(folder), device="cpu")


def test_model_that_does_not_fit(local_model, monkeypatch):
    monkeypatch.setattr(devices, "free_memory_bytes", lambda device: 1024)
    with pytest.raises(ModelError, match="does not fit"):
        load(str(local_model), device="cpu")


def test_offline_hub_id_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelError, match="not in the local Hugging Face cache") as err:
        load("someone/not-cached-model", device="cpu")
    assert "\n" not in str(err.value)


def test_device_choice_messages():
    assert devices.choose("cpu").quantization == "fp32"
    if not devices.cuda_available():
        assert devices.choose("auto") == devices.Placement("cpu", "fp32")
        with pytest.raises(ModelError, match="sees no CUDA GPU"):
            devices.choose("cuda")
    assert devices.choose("cpu", quant="nf4") == devices.Placement("cpu", "nf4")  # QLoRA on the CPU: slow, allowed
    with pytest.raises(ModelError, match="unknown device"):
        devices.choose("tpu")


def test_loading_keeps_freed_memory_in_the_heap(local_model, monkeypatch):
    import platform

    from seal_desk.model import allocator

    monkeypatch.setattr(allocator, "_done", False)
    load(str(local_model))
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert allocator._done is glibc  # mallopt took both settings; a second call is a no-op
    assert allocator.keep_freed_memory() is glibc


def test_an_explicit_learner_loads_16_bit_weights_where_4_bit_would_be_chosen(monkeypatch, tmp_path):
    """A learner is merged into the weights, which 4-bit NF4 cannot hold: asked for one (e.g. pinned on a Ray
    worker that lands on a GPU), the default precision becomes bf16, with a line saying so."""
    import seal_desk.model.learner_weights as lw
    import seal_desk.model.loader as loader
    from seal_desk.events import Message

    seen, said = {}, []

    class Loaded:
        learner = None
        placement = devices.Placement("cpu", "bf16")

    def fake_load(source, device, quant, on_event, trust):
        seen["quant"] = quant
        return Loaded()

    monkeypatch.setattr(loader, "_load", fake_load)
    monkeypatch.setattr(lw, "apply_learner", lambda loaded, path: {"passages": 1, "questions": 1})
    from dataclasses import replace

    source = loader.resolve("random:smollm2-135m")
    source = replace(source, preset=replace(source.preset, quantization={"cpu": "nf4"}))
    monkeypatch.setattr(loader, "resolve", lambda name: source)
    load("random:smollm2-135m", "cpu", "", lambda e: said.append(e), learner=str(tmp_path / "my-learner"))
    assert seen["quant"] == "bf16"
    assert any(isinstance(e, Message) and "loading in bf16, not 4-bit" in e.text for e in said)
    load("random:smollm2-135m", "cpu", "", learner="none")  # no learner: the preset's precision stands
    assert seen["quant"] == ""


def test_the_preset_s_learner_is_expected_as_the_load_will_merge_it(tmp_path):
    """What the TUI's Settings show before the model loads: the preset's [self_edit] is for its learner (or the
    one under it, --generator base); another learner, none, 4-bit weights or a random model do not have it."""
    from seal_desk.model.loader import preset_learner_expected
    from seal_desk.paths import presets_dir

    below = str(presets_dir() / "learners" / "smollm2-135m-paraphrase-v2")
    assert preset_learner_expected("smollm2-135m", "cpu", "", None)
    assert preset_learner_expected("smollm2-135m", "cpu", "", below)  # --generator base
    assert preset_learner_expected("smollm2-135m", "cpu", "nf4", below)  # explicit: loaded in bf16
    assert not preset_learner_expected("smollm2-135m", "cpu", "nf4", None)  # the preset's is skipped in 4-bit
    assert not preset_learner_expected("smollm2-135m", "cpu", "", "none")
    assert not preset_learner_expected("smollm2-135m", "cpu", "", str(tmp_path / "my-learner"))
    assert not preset_learner_expected("random:smollm2-135m", "cpu", "", None)
    assert not preset_learner_expected("tiny-random", "cpu", "", None)
