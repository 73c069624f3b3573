import pytest

from seal_desk.errors import ModelError
from seal_desk.model.presets import all_presets
from seal_desk.model.source import available_offline, convert_gguf, resolve


def test_presets_cover_the_paper_models():
    presets = all_presets()
    for name in (
        "smollm2-135m",
        "qwen2.5-7b",
        "llama-3.2-1b-instruct",
        "qwen2.5-0.5b-instruct",
        "qwen2.5-1.5b-instruct",
    ):
        assert name in presets
    smol = presets["smollm2-135m"]
    assert smol.lora.r == 32 and smol.lora.alpha == 64 and smol.inner_loop["lr"] == 1e-3
    # bf16 on a GPU (270 MB), so the shipped SEAL-trained generator, a learner merged at load, fits in it
    assert smol.quantization == {"cuda": "bf16", "cpu": "fp32"}
    assert smol.learner == "learners/smollm2-135m-seal-r1" and smol.self_edit["format"] == "self-qa"
    inner = smol.inner_config()
    assert inner.epochs == 10 and inner.lora.target_modules[0] == "q_proj"


def test_resolve_kinds(tmp_path):
    assert resolve("tiny-random").kind == "tiny"
    assert resolve("Qwen/Qwen2.5-7B").kind == "hub"
    assert resolve("qwen2.5-7b").location == "Qwen/Qwen2.5-7B"
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert resolve(str(folder)).kind == "dir"
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve(str(gguf)).kind == "gguf"


@pytest.mark.parametrize(
    "name,message",
    [
        ("no-such-preset", "unknown model"),
        ("./missing/model.gguf", "no such file"),
        ("/definitely/not/here", "no such file"),
    ],
)
def test_resolve_errors(name, message):
    with pytest.raises(ModelError, match=message):
        resolve(name)


def test_corrupt_gguf_leaves_nothing_in_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEAL_DESK_MODEL_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 20)
    source = resolve(str(bad))
    with pytest.raises(ModelError, match="corrupt or truncated GGUF"):
        convert_gguf(source)
    assert list((tmp_path / "cache").iterdir()) == []


def test_offline_check_for_unknown_hub_id():
    assert available_offline(resolve("nobody-here/not-a-model-xyz")) is False


def test_unsupported_architecture(tmp_path, monkeypatch):
    import gguf
    import numpy as np

    monkeypatch.setenv("SEAL_DESK_MODEL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "frob.gguf"
    writer = gguf.GGUFWriter(str(path), arch="frobnicator")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelError, match="unsupported architecture"):
        convert_gguf(resolve(str(path)))
    assert not any(p.name != ".lock" for p in (tmp_path / "cache").iterdir())


def test_an_outer_loop_checkpoint_prompts_like_its_preset(tmp_path):
    import json

    from seal_desk.model.source import GENERATOR_MARK, resolve

    folder = tmp_path / "round-1" / "generator"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert resolve(str(folder)).preset is None
    (folder / GENERATOR_MARK).write_text(json.dumps({"base": "qwen2.5-7b", "round": 1}))
    source = resolve(str(folder))
    assert source.kind == "dir" and source.prompt_style == "base"


def test_check_generator_names_what_is_wrong(tmp_path):
    import json

    import pytest

    from seal_desk.errors import InputError
    from seal_desk.model.source import GENERATOR_MARK, check_generator, generator_mark

    assert generator_mark(tmp_path) is None
    with pytest.raises(InputError, match="not a generator checkpoint"):
        check_generator(tmp_path, "smollm2-135m")
    (tmp_path / GENERATOR_MARK).write_text(json.dumps({"base": "smollm2-135m", "round": 2}))
    assert check_generator(tmp_path, "smollm2-135m")["round"] == 2
    with pytest.raises(InputError, match="trained from smollm2-135m, not tiny-random"):
        check_generator(tmp_path, "tiny-random")
