"""The four-condition ARC bench on the tiny model: rows, invalid configs counted, oracle bookkeeping."""

from __future__ import annotations

import pytest

from seal_desk.arc import bench
from seal_desk.arc.self_edit import ArcSelfEdit, parse_config
from seal_desk.config import FewShotConfig, LoraSettings
from seal_desk.errors import InputError
from tests.arc.arc_helpers import constant_task, flip_task

SETTINGS = FewShotConfig(lora=LoraSettings(r=4, alpha=8), max_examples=8, max_epochs=3, config_max_new_tokens=12)
GRID = (
    ArcSelfEdit(learning_rate=1e-7, epochs=1),
    ArcSelfEdit(strategy="train_using_output_tokens", learning_rate=1e-2, epochs=3),
)


@pytest.fixture
def engine(tiny, fast_config):
    from seal_desk.engine import Engine

    return Engine(tiny, None, fast_config)


@pytest.mark.slow
def test_bench_rows_and_markdown(engine):
    tasks = [constant_task(), flip_task()]
    result = bench.run_bench(engine, tasks, SETTINGS, ["icl", "ttt", "oracle"], samples=2, oracle=GRID)
    c = result["conditions"]
    assert c["icl"]["attempts"] == 2 and c["icl"]["solved"] == 0
    # a random model writes no JSON: every sampled config is invalid, counted and scored 0
    assert c["ttt"]["attempts"] == 4 and c["ttt"]["invalid"] == 4 and c["ttt"]["success_rate"] == 0.0
    assert c["oracle"]["grid_solved"] == [0, 1] and c["oracle"]["solved_by"] == {"const3": [1], "flip": []}
    assert c["oracle"]["success_rate"] == 0.5 and c["oracle"]["tasks_solved"] == 1
    assert [len(r["attempts"]) for r in result["per_task"]["oracle"]] == [2, 2]
    table = bench.markdown_table(result)
    assert "| TTT + oracle config (best of grid) | 50.0% (1/2) | 1/2 | 1/2 | 0 |" in table
    assert bench.summarise(result["per_task"], len(GRID)) == c  # the JSON alone gives the table again
    assert "config 2: basic, output tokens, lr 1e-02, 3 ep — solved 1/2" in table


def test_seal_rows_use_the_generator(engine, monkeypatch):
    """seal-N rows sample configs from the loaded generator; ttt from the base model."""
    used = []

    def fake_sample(eng, task, settings, k, seed, on_event, cancel):
        used.append(eng.generator)
        text = GRID[1].text() if eng.generator == "gen" else "no idea"
        return [parse_config(text)] * k

    monkeypatch.setattr(bench, "sample_configs", fake_sample)
    result = bench.run_bench(
        engine,
        [constant_task()],
        SETTINGS,
        ["ttt", "seal-1"],
        samples=1,
        oracle=GRID,
        generators=["path/to/gen"],
        load_generator=lambda p: "gen",
    )
    assert used == [None, "gen"] and engine.generator is None
    assert result["conditions"]["ttt"]["solved"] == 0 and result["conditions"]["seal-1"]["solved"] == 1
    assert result["conditions"]["seal-1"]["label"] == "SEAL (seal-1 generator)"


def test_test_outputs_are_counted_one_by_one():
    """A task with two test outputs: each oracle config gets a different one right, neither both."""

    def attempt(pred, valid=True):
        return {"valid": valid, "solved": pred == [[[1]], [[2]]], "predictions": pred, "expected": [[[1]], [[2]]]}

    per = {
        "oracle": [{"task": "t", "seconds": 2.0, "attempts": [attempt([[[1]], [[9]]]), attempt([[[9]], [[2]]])]}],
        "ttt": [{"task": "t", "seconds": 1.0, "attempts": [attempt([[[1]], [[2]]], valid=False)]}],
    }
    s = bench.summarise(per, 2)
    assert (s["oracle"]["solved"], s["oracle"]["outputs_solved"], s["oracle"]["outputs"]) == (0, 2, 2)
    assert s["oracle"]["solved_by"] == {"t": []} and s["oracle"]["seconds_per_task"] == 2.0
    assert (s["ttt"]["invalid"], s["ttt"]["outputs_solved"]) == (1, 0)  # an invalid config earns nothing


def test_conditions_and_missing_solutions():
    assert bench.conditions_from("icl, ttt", []) == ["icl", "ttt"]
    assert bench.conditions_from("icl", ["a", "b"]) == ["icl", "seal-1", "seal-2"]
    with pytest.raises(InputError, match="unknown condition"):
        bench.conditions_from("icl,magic", [])
    with pytest.raises(InputError, match="needs --generator"):
        bench.conditions_from("seal", [])
    task = flip_task()
    unknown = task.__class__(task.id, task.train, (task.test[0].__class__(task.test[0].input),))
    with pytest.raises(InputError, match="no test outputs"):
        bench.run_bench(None, [unknown], SETTINGS, ["icl"])
