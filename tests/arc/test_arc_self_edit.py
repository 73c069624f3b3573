"""Self-edit configs: robust parsing of model replies; garbage and bad values are invalid."""

from __future__ import annotations

import json

import pytest

from seal_desk.arc.self_edit import ArcSelfEdit, parse_config

SEAL = (
    '{"data_generation": {"use_basic_augmentations": true, "use_size_augmentations": true, '
    '"use_chain_augmentations": false, "use_repeat_augmentations": false}, "training": '
    '{"strategy": "train_using_output_tokens", "learning_rate": 5e-5, "num_train_epochs": 3}}'
)
EXPECTED = ArcSelfEdit(basic=True, size=True, strategy="train_using_output_tokens", learning_rate=5e-5, epochs=3)


@pytest.mark.parametrize(
    "reply",
    [
        SEAL,
        f"Sure! Here is my configuration:\n```json\n{SEAL}\n```\nThis should work well.",
        SEAL + "\n\nI chose these because the task is geometric. {not json}",
        SEAL.replace('"', "'").replace("true", "True").replace("false", "False"),
        SEAL.replace("}}", "},}"),
        SEAL[:-2],  # ran out of tokens before the closing braces
        '{"use_basic_augmentations": "true", "use_size_augmentations": 1, "strategy": "output tokens", '
        '"learning_rate": "5e-5", "num_train_epochs": 3.0}',
    ],
)
def test_valid_replies(reply):
    parsed = parse_config(reply)
    assert parsed.valid, parsed.error
    assert parsed.config == EXPECTED


def test_missing_keys_take_seal_example_values():
    parsed = parse_config('{"training": {"learning_rate": 0.001}}')
    assert parsed.config == ArcSelfEdit(learning_rate=0.001)
    assert ArcSelfEdit().groups == ("basic",) and not ArcSelfEdit().output_only and ArcSelfEdit().epochs == 2


@pytest.mark.parametrize(
    "reply,why",
    [
        ("", "no JSON object"),
        ("I would rotate the grid and train for a while.", "no JSON object"),
        ("{this is not json at all}", "not a JSON object"),
        ('{"colour": "blue"}', "none of the config keys"),
        ('{"training": {"strategy": "train_harder"}}', "strategy must be one of"),
        ('{"training": {"learning_rate": 5}}', "outside (0, 1)"),
        ('{"training": {"learning_rate": "fast"}}', "not a number"),
        ('{"training": {"num_train_epochs": 0}}', "whole number"),
        ('{"training": {"num_train_epochs": 2.5}}', "whole number"),
        ('{"data_generation": {"use_basic_augmentations": "maybe"}}', "not true or false"),
        ('{"data_generation": "basic", "training": {}}', "must be objects"),
        ("[1, 2, 3]", "no JSON object"),
    ],
)
def test_invalid_replies_say_why(reply, why):
    parsed = parse_config(reply)
    assert not parsed.valid and why in parsed.error


def test_canonical_text_round_trips():
    for cfg in (
        EXPECTED,
        ArcSelfEdit(),
        ArcSelfEdit(basic=False, repeat=True, chain=True, epochs=1, learning_rate=3e-3),
    ):
        assert parse_config(cfg.text()).config == cfg
        assert json.loads(cfg.text()) == cfg.to_json()
    assert EXPECTED.label() == "basic+size, output tokens, lr 5e-05, 3 ep"
