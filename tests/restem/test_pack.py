"""Packing an outer-loop run's round updates into one learner folder (the shipped SEAL-trained generator)."""

from __future__ import annotations

import json

import pytest
import torch

from seal_desk.errors import InputError
from seal_desk.restem.pack import combine, pack_generator
from tests.restem.test_restem import graded_by_hash  # noqa: F401 - a fixture


def _adapter(r: int, alpha: int, seed: int) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(seed)
    key = "base_model.model.model.layers.0.self_attn.q_proj"
    config = {"r": r, "lora_alpha": alpha, "target_modules": ["q_proj"], "peft_type": "LORA"}
    return config, {
        f"{key}.lora_A.weight": torch.randn(r, 8, generator=g),
        f"{key}.lora_B.weight": torch.randn(6, r, generator=g),
    }


def _delta(config: dict, tensors: dict) -> torch.Tensor:
    a, b = (tensors[k] for k in sorted(tensors))  # lora_A, lora_B
    return (config["lora_alpha"] / config["r"]) * b @ a


def test_combined_rounds_sum_their_updates_exactly():
    rounds = [_adapter(4, 8, 1), _adapter(2, 16, 2), _adapter(4, 4, 3)]
    config, tensors = combine(rounds)
    assert config["r"] == config["lora_alpha"] == 10
    assert torch.allclose(_delta(config, tensors), sum(_delta(c, t) for c, t in rounds), atol=1e-5)


def test_rounds_on_other_modules_are_refused():
    first, second = _adapter(4, 8, 1), _adapter(4, 8, 2)
    second[0]["target_modules"] = ["v_proj"]
    with pytest.raises(InputError, match="target modules"):
        combine([first, second])


def test_a_packed_run_loads_as_the_last_rounds_generator(tiny_engine, workspace, tmp_path, graded_by_hash):  # noqa: F811
    from seal_desk.model.learner_weights import CARD
    from seal_desk.model.loader import load
    from seal_desk.restem.loop import summary
    from tests.restem.test_restem import CFG, _engine, _run

    records, rounds = _run(_engine(tiny_engine), workspace, tmp_path / "run")
    result = summary(records, CFG)
    packed = [r["round"] for r in result["rounds"] if r["sft_examples"]]
    assert packed, "the hash grader keeps some self-edits"
    card = pack_generator(tmp_path / "run", tmp_path / "pack", result, {"base": "tiny-random", "on_top_of": None})
    assert card["packed_rounds"] == packed and json.loads((tmp_path / "pack" / CARD).read_text()) == card
    seen = []
    model = load("tiny-random", "cpu", learner=str(tmp_path / "pack"), on_event=seen.append)  # as --learner does
    assert any("SEAL-trained generator, rounds" in getattr(e, "text", "") for e in seen)
    last = load(rounds[-1].generator if rounds[-1].generator else rounds[0].generator, "cpu").model.state_dict()
    mine = model.model.state_dict()
    worst = max((mine[k].float() - last[k].float()).abs().max().item() for k in last)
    assert worst < 2e-2, f"packed weights differ from the generator by {worst}"  # bf16 storage of the sum


def test_packing_a_run_without_round_updates_is_one_line(tmp_path):
    with pytest.raises(InputError, match="nothing to pack"):
        pack_generator(tmp_path, tmp_path / "pack", {"rounds": [{"round": 1, "finished": True, "sft_examples": 0}]}, {})
    with pytest.raises(InputError, match="no saved round update"):
        pack_generator(tmp_path, tmp_path / "pack", {"rounds": [{"round": 1, "finished": True, "sft_examples": 2}]}, {})


def test_pack_targets_that_would_destroy_something_are_refused(tmp_path):
    from seal_desk.restem.pack import check_target

    run, learners = tmp_path / "run", tmp_path / "learners"
    (run / "round-1").mkdir(parents=True)
    (learners / "base").mkdir(parents=True)
    (learners / "notes").mkdir()
    (learners / "notes" / "todo.txt").write_text("mine")
    for target, why in (
        (run, "run folder"),
        (run / "pack", "run folder"),
        (tmp_path, "run folder"),
        (learners / "base", "learner the run starts from"),
        (tmp_path / "elsewhere" / "pack", "beside the learner"),
        (learners / "notes", "not an earlier pack"),
    ):
        with pytest.raises(InputError, match=why):
            check_target(target, run, learners / "base")
    assert check_target(learners / "seal", run, learners / "base") == (learners / "seal").resolve()
    assert (learners / "notes" / "todo.txt").read_text() == "mine"
    # a run from a packed generator: neither it nor the learner under it may be replaced
    from seal_desk.model.learner_weights import CARD

    (learners / "seal").mkdir()
    (learners / "seal" / CARD).write_text(json.dumps({"on_top_of": "base"}))
    (learners / "base" / CARD).write_text(json.dumps({}))
    for target in (learners / "seal", learners / "base"):
        with pytest.raises(InputError, match="learner the run starts from"):
            check_target(target, run, learners / "seal")
    assert check_target(learners / "seal-r2", run, learners / "seal") == (learners / "seal-r2").resolve()


def test_generator_base_picks_the_learner_a_pack_was_trained_on(tmp_path):
    from argparse import Namespace

    from seal_desk.cli.setup import learner_arg
    from seal_desk.model.learner_weights import CARD

    for name, card in (("start", {"base": "tiny-random"}), ("seal", {"base": "tiny-random", "on_top_of": "start"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / CARD).write_text(json.dumps(card))
        (tmp_path / name / "adapter_model.safetensors").write_bytes(b"")
    pack = str(tmp_path / "seal")
    assert learner_arg(Namespace(learner=pack, generator_mode="default"), "tiny-random") == pack
    assert learner_arg(Namespace(learner=pack, generator_mode="base"), "tiny-random") == str(tmp_path / "start")
    start = str(tmp_path / "start")
    assert learner_arg(Namespace(learner=start, generator_mode="base"), "tiny-random") == start  # not a pack
    assert learner_arg(Namespace(learner="none", generator_mode="base"), "tiny-random") == "none"


def test_truncating_keeps_the_best_low_rank_part_of_the_update():
    from seal_desk.restem.pack import truncate

    config, tensors = _adapter(4, 16, 1)  # scale 4: alpha/r
    dense = _delta(config, tensors).double()
    sigma = torch.linalg.svdvals(dense)
    same, full, energy = truncate(config, tensors, 5)  # above the adapter's rank: the same update
    assert same["r"] == same["lora_alpha"] == 4 and energy == pytest.approx(1.0)
    assert torch.allclose(_delta(same, full).double(), dense, atol=1e-4)
    small, cut, energy = truncate(config, tensors, 3)
    assert small["r"] == small["lora_alpha"] == 3
    assert {k: t.shape for k, t in cut.items()} == {k: ((3, 8) if ".lora_A." in k else (6, 3)) for k in tensors}
    error = torch.linalg.matrix_norm(_delta(small, cut).double() - dense)  # Eckart–Young: the tail's norm
    assert error.item() == pytest.approx(sigma[3:].pow(2).sum().sqrt().item(), rel=1e-4)
    assert energy == pytest.approx((sigma[:3].pow(2).sum() / sigma.pow(2).sum()).item(), rel=1e-6)
    rs = dict(config, use_rslora=True)  # scale alpha/sqrt(r) = 8
    kept, weights, _ = truncate(rs, tensors, 4)
    assert torch.allclose(_delta(kept, weights).double(), 2 * dense, atol=1e-4) and not kept["use_rslora"]
    with pytest.raises(InputError, match="at least 1"):
        truncate(config, tensors, 0)
    for bad, why in (({"rank_pattern": {"q_proj": 2}}, "per-module"), ({"use_dora": True}, "DoRA")):
        with pytest.raises(InputError, match=why):
            truncate(dict(config, **bad), tensors, 2)


def _two_modules(r: int) -> tuple[dict, dict]:
    """An adapter on a 6x8 module (update rank at most 6) and a 10x12 one."""
    g = torch.Generator().manual_seed(7)
    tensors = {}
    for name, (out, inp) in (("q_proj", (6, 8)), ("up_proj", (10, 12))):
        key = f"base_model.model.model.layers.0.m.{name}"
        tensors[f"{key}.lora_A.weight"] = torch.randn(r, inp, generator=g)
        tensors[f"{key}.lora_B.weight"] = torch.randn(out, r, generator=g)
    return {"r": r, "lora_alpha": 2 * r, "target_modules": ["q_proj", "up_proj"]}, tensors


def _module_delta(config: dict, tensors: dict, name: str) -> torch.Tensor:
    a, b = (tensors[k] for k in sorted(tensors) if f".{name}." in k)
    return (config["lora_alpha"] / config["r"]) * b.double() @ a.double()


def test_every_module_keeps_one_rank_and_energy_is_the_whole_updates():
    from seal_desk.restem.pack import truncate

    config, tensors = _two_modules(8)
    small, cut, energy = truncate(config, tensors, 7)  # q_proj's update has rank 6: padded with zeros to 7
    assert {t.shape[0] for k, t in cut.items() if ".lora_A." in k} == {7}
    assert {t.shape[1] for k, t in cut.items() if ".lora_B." in k} == {7}
    q = _module_delta(config, tensors, "q_proj")
    assert torch.allclose(_module_delta(small, cut, "q_proj"), q, atol=1e-4)  # all of it kept
    sig = [torch.linalg.svdvals(_module_delta(config, tensors, n)) for n in ("q_proj", "up_proj")]
    whole = sum(float((s[:7] ** 2).sum()) for s in sig) / sum(float((s**2).sum()) for s in sig)
    assert energy == pytest.approx(whole, rel=1e-6)


def _learner(folder, config: dict, tensors: dict, card: dict) -> None:
    from safetensors.torch import save_file

    from seal_desk.model.learner_weights import CARD

    folder.mkdir()
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / CARD).write_text(json.dumps(card))


def test_a_shrunk_learner_loads_through_peft_with_the_same_update(tmp_path):
    from peft import LoraConfig, get_peft_model

    from seal_desk.model.loader import load
    from seal_desk.restem.pack import shrink

    plain = load("tiny-random", "cpu", learner="none")
    peft = get_peft_model(plain.model, LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "v_proj", "up_proj"]))
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn_like(param) * 0.05)
    peft.save_pretrained(str(tmp_path / "start"))
    from seal_desk.model.learner_weights import CARD

    (tmp_path / "start" / CARD).write_text(json.dumps({"base": "tiny-random"}))
    where, card = shrink(tmp_path / "start", tmp_path / "start-r8", 8)
    assert where == (tmp_path / "start-r8").resolve() and card["shrunk"][0]["from_rank"] == 8
    original = load("tiny-random", "cpu", learner=str(tmp_path / "start")).model.state_dict()
    shrunk = load("tiny-random", "cpu", learner=str(where)).model.state_dict()
    base = load("tiny-random", "cpu", learner="none").model.state_dict()
    changed = [k for k in original if not torch.equal(original[k], base[k])]
    assert changed, "the learner changes the weights"
    worst = max((shrunk[k].float() - original[k].float()).abs().max().item() for k in original)
    assert worst < 2e-2, f"the shrunk learner's weights differ by {worst}"  # bf16 storage
    _, small = shrink(tmp_path / "start", tmp_path / "start-r2", 2)
    assert small["lora"]["r"] == 2 and 0 < small["shrunk"][0]["energy_kept"] < 1
    load("tiny-random", "cpu", learner=str(tmp_path / "start-r2"))  # loads: one rank for every module


def test_shrink_refuses_targets_that_would_destroy_something(tmp_path):
    from seal_desk.cli.main import main
    from seal_desk.model.learner_weights import CARD, learner_card
    from seal_desk.restem.pack import shrink

    config, tensors = combine([_adapter(4, 8, 1)])
    _learner(tmp_path / "start", config, tensors, {"base": "tiny-random"})
    _learner(tmp_path / "seal", config, tensors, {"base": "tiny-random", "on_top_of": "start", "lora": {"r": 4}})
    _learner(tmp_path / "other", config, tensors, {"base": "tiny-random"})
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    src = tmp_path / "seal"
    for target, why in (
        (src, "being shrunk or one it builds on"),
        (tmp_path / "start", "being shrunk or one it builds on"),
        (tmp_path / "elsewhere" / "x", "beside"),
        (tmp_path / "notes", "not an earlier pack"),
        (tmp_path / "other", "another learner"),
    ):
        with pytest.raises(InputError, match=why):
            shrink(src, target, 2)
    assert learner_card(tmp_path / "start") == {"base": "tiny-random"}
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"
    _, card = shrink(src, tmp_path / "seal-r2", 2)
    assert card["on_top_of"] == "start" and card["lora"] == {"r": 2, "alpha": 2}
    _, again = shrink(src, tmp_path / "seal-r2", 3)  # an earlier shrink of the same learner is replaced
    assert again["lora"]["r"] == 3 and json.loads((tmp_path / "seal-r2" / CARD).read_text()) == again
    assert main(["shrink", str(src), "--rank", "2", "--out", str(tmp_path / "not" / "beside")]) != 0
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "adapter_model.safetensors").write_bytes(b"not safetensors")
    (tmp_path / "broken" / "adapter_config.json").write_text("{}")
    (tmp_path / "broken" / CARD).write_text(json.dumps({"base": "tiny-random"}))
    with pytest.raises(InputError, match="unreadable adapter|not a LoRA adapter config"):
        shrink(tmp_path / "broken", tmp_path / "broken-r2", 2)
    assert main(["shrink", str(tmp_path / "broken"), "--rank", "2", "--out", str(tmp_path / "broken-r2")]) != 0
    assert not (tmp_path / "broken-r2").exists()
    assert main(["shrink", str(src), "--rank", "3", "--out", str(tmp_path / "seal-r3")]) == 0
    assert learner_card(tmp_path / "seal-r3")["lora"]["r"] == 3


def test_a_shrunk_copy_of_the_presets_learner_gets_its_self_edit_settings(tmp_path, monkeypatch):
    import seal_desk.model.loader as loader
    from seal_desk.model.loader import _under_preset_learner

    config, tensors = combine([_adapter(4, 8, 1)])
    _learner(tmp_path / "start", config, tensors, {"base": "smollm2-135m"})
    _learner(tmp_path / "seal", config, tensors, {"base": "smollm2-135m", "on_top_of": "start"})
    _learner(tmp_path / "other", config, tensors, {"base": "smollm2-135m"})
    from seal_desk.restem.pack import shrink

    shrink(tmp_path / "seal", tmp_path / "seal-r2", 2)
    shrink(tmp_path / "other", tmp_path / "other-r2", 2)
    from dataclasses import replace

    real = loader.resolve("smollm2-135m")
    source = replace(real, preset=replace(real.preset, learner="../seal"))
    monkeypatch.setattr(loader, "presets_dir", lambda: tmp_path / "presets")
    assert _under_preset_learner(source, tmp_path / "seal") and _under_preset_learner(source, tmp_path / "start")
    assert _under_preset_learner(source, tmp_path / "seal-r2")
    assert not _under_preset_learner(source, tmp_path / "other-r2")
