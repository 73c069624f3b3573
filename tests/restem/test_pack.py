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

    config, tensors = combine([_adapter(2, 4, 1), _adapter(2, 16, 2)])  # rank 4, one 6x8 module
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
    with pytest.raises(InputError, match="at least 1"):
        truncate(config, tensors, 0)


def test_a_shrunk_learner_loads_and_says_what_it_kept(tmp_path):
    from safetensors.torch import save_file

    from seal_desk.cli.main import main
    from seal_desk.model.learner_weights import CARD, learner_card
    from seal_desk.restem.pack import shrink

    config, tensors = combine([_adapter(4, 8, 1)])
    src = tmp_path / "seal"
    src.mkdir()
    save_file(tensors, str(src / "adapter_model.safetensors"))
    (src / "adapter_config.json").write_text(json.dumps(config))
    (src / CARD).write_text(json.dumps({"base": "tiny-random", "on_top_of": "start", "lora": {"r": 4, "alpha": 4}}))
    card = shrink(src, tmp_path / "seal-r2", 2)
    assert learner_card(tmp_path / "seal-r2") == card and card["on_top_of"] == "start"
    assert card["lora"] == {"r": 2, "alpha": 2} and card["shrunk"][0]["from_rank"] == 4
    assert 0 < card["shrunk"][0]["energy_kept"] < 1
    for target, why in ((src, "being shrunk"), (tmp_path / "elsewhere" / "x", "beside")):
        with pytest.raises(InputError, match=why):
            shrink(src, target, 2)
    assert main(["shrink", str(src), "--rank", "2", "--out", str(tmp_path / "not" / "beside")]) != 0
    assert main(["shrink", str(src), "--rank", "3", "--out", str(tmp_path / "seal-r3")]) == 0
    assert learner_card(tmp_path / "seal-r3")["lora"]["r"] == 3
