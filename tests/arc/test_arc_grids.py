"""Grids as text: round trip, tolerant parsing of model replies, one token per cell on SmolLM2."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from seal_desk.arc.grids import grid_text, parse_grid, text_tokens


def random_grid(rng: random.Random, max_side: int = 30):
    rows, cols = rng.randint(1, max_side), rng.randint(1, max_side)
    return tuple(tuple(rng.randint(0, 9) for _ in range(cols)) for _ in range(rows))


def test_round_trip_on_random_grids():
    rng = random.Random(0)
    for _ in range(300):
        grid = random_grid(rng)
        text = grid_text(grid)
        assert parse_grid(text) == grid
        assert len(text) + 1 == text_tokens(grid)  # one character per cell and per line end


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("012\n340", ((0, 1, 2), (3, 4, 0))),
        ("Here is the output:\n012\n340\nThat is my answer.", ((0, 1, 2), (3, 4, 0))),
        ("```\n0 1 2\n3 4 0\n```", ((0, 1, 2), (3, 4, 0))),
        ("[[0, 1, 2], [3, 4, 0]]", ((0, 1, 2), (3, 4, 0))),
        ("[0, 1, 2]\n[3, 4, 0]", ((0, 1, 2), (3, 4, 0))),
        ("5", ((5,),)),
        ("01\n23\n\n45\n67", ((0, 1), (2, 3))),  # the first block only
    ],
)
def test_parse_tolerates_common_reply_shapes(reply, expected):
    assert parse_grid(reply) == expected


@pytest.mark.parametrize("reply", ["", "The rule is a rotation.", "012\n34", "[[1, 2], [3]]", "0" * 31])
def test_parse_gives_none_without_a_rectangular_grid(reply):
    assert parse_grid(reply) is None


def test_smollm2_tokenizer_splits_digits_one_per_token():
    folder = Path(__file__).resolve().parents[2] / "models" / "cache" / "smollm2-135m"
    if not (folder / "tokenizer.json").exists():
        pytest.skip("the converted default model is not in models/cache")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    grid = ((0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 0, 0))
    ids = tok(grid_text(grid) + "\n", add_special_tokens=False)["input_ids"]
    assert len(ids) == text_tokens(grid)
