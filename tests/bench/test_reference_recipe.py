"""`bench speed --compare-reference`: SEAL's reference recipe (HF Trainer, padded to 2048) beside seal-desk's loop."""

from __future__ import annotations

import json

import pytest

from seal_desk.bench.reference_recipe import REFERENCE_LEN, ReferenceRecipe, reference_rows, train_reference
from seal_desk.cli.main import main


def test_reference_rows_pad_to_2048_with_labels_on_the_padding(tiny):
    rows = reference_rows(tiny.tokenizer, ["Lake Quorra is 63 metres deep.", "It was mapped in 1841."], REFERENCE_LEN)
    for row in rows:
        assert len(row["input_ids"]) == len(row["labels"]) == len(row["attention_mask"]) == REFERENCE_LEN
        assert row["labels"] == row["input_ids"]  # the reference copies the ids: padding is in the loss
        assert 0 < sum(row["attention_mask"]) < REFERENCE_LEN
        assert row["input_ids"][-1] == tiny.tokenizer.eos_token_id  # padded with EOS, as the reference sets pad
    fair = reference_rows(tiny.tokenizer, ["Lake Quorra is 63 metres deep."], None)[0]
    assert len(fair["input_ids"]) == sum(fair["attention_mask"]) < 100


def test_trainer_arm_saves_a_peft_adapter_and_leaves_the_base_plain(tiny, tmp_path):
    base = tiny.model
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    done = train_reference(
        base, tiny.tokenizer, ["Lake Quorra is 63 metres deep."], ReferenceRecipe(epochs=1, pad_to=64), 0, tmp_path
    )
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 32 and config["lora_alpha"] == 64
    assert done["tokens"] == 64 and 0 < done["content_tokens"] < 64
    after = dict(base.named_parameters())
    assert set(after) == set(before) and not any("lora" in n for n in after)
    assert all((after[n] == before[n]).all() for n in before)


@pytest.mark.slow
def test_bench_speed_compare_reference_tiny(tmp_path):
    out = tmp_path / "speed.json"
    code = main(
        [
            "-m",
            "tiny-random",
            "bench",
            "speed",
            "--tokens",
            "4",
            "--epochs",
            "1",
            "--candidates",
            "2",
            "--compare-reference",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    ref = json.loads(out.read_text())["compare_reference"]
    arms = {row["arm"]: row for row in ref["arms"]}
    assert set(arms) == {"reference", "reference, no padding", "seal-desk", "seal-desk, stop rule"}
    assert arms["reference"]["tokens_per_candidate"] > arms["reference, no padding"]["tokens_per_candidate"]
    assert arms["reference"]["content_tokens_per_candidate"] == arms["reference, no padding"]["tokens_per_candidate"]
    assert all(row["questions"] == 8 and row["s_per_candidate"] > 0 for row in ref["arms"])
    assert arms["seal-desk"]["times_seal_desk"] == pytest.approx(1.0)


def test_compare_reference_data_is_read_before_the_model_loads(tmp_path, capsys):
    code = main(["-m", "tiny-random", "bench", "speed", "--compare-reference", str(tmp_path / "missing.json")])
    assert code == 2 and "missing.json" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_reference_only_some_arms(tmp_path):
    """--reference-only --reference-arms: just the table, just those arms (no padded 2048-token arm)."""
    out = tmp_path / "speed.json"
    args = ["-m", "tiny-random", "bench", "speed", "--epochs", "1", "--compare-reference", "--reference-only"]
    assert main(args + ["--reference-arms", "stop-rule,no-padding", "--epochs", "3", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    arms = res["compare_reference"]["arms"]
    assert [row["arm"] for row in arms] == ["reference, no padding", "seal-desk, stop rule"]  # in ARMS order
    assert all(row["times_seal_desk"] is None for row in arms)  # no seal-desk arm to compare with
    assert "train_tok_s" not in res and "gen_tok_s_batch1" not in res  # nothing else was measured


def test_reference_arms_are_checked_before_the_model_loads(capsys):
    assert main(["-m", "tiny-random", "bench", "speed", "--compare-reference", "--reference-arms", "padded"]) == 2
    assert (
        "--reference-arms: padded; choose from reference, no-padding, seal-desk, stop-rule" in capsys.readouterr().err
    )
    assert main(["-m", "tiny-random", "bench", "speed", "--reference-only"]) == 2
    assert "go with --compare-reference" in capsys.readouterr().err
