"""Test-time training on ARC tasks with the tiny random model: episodes, examples, solve, cancel."""

from __future__ import annotations

import pytest

from seal_desk.arc.self_edit import ArcSelfEdit, parse_config
from seal_desk.arc.task import Pair
from seal_desk.arc.ttt import answer_budget, leave_out_episodes, predict, solve, training_examples
from seal_desk.config import FewShotConfig, LoraSettings
from seal_desk.errors import Cancelled
from seal_desk.events import ArcTaskScored, CancelToken, TrainStep
from tests.arc.arc_helpers import constant_task, flip_task, g

SETTINGS = FewShotConfig(lora=LoraSettings(r=4, alpha=8), max_examples=8, max_epochs=3)
LEARNS = ArcSelfEdit(strategy="train_using_output_tokens", learning_rate=1e-2, epochs=3)


@pytest.fixture
def engine(tiny, fast_config):
    from seal_desk.engine import Engine

    return Engine(tiny, None, fast_config)


def test_leave_one_and_two_out_episodes():
    demos = flip_task().train  # three demonstrations a, b, c
    l1o = leave_out_episodes(demos, (1,))
    assert [(ep.demos, ep.query) for ep in l1o] == [
        ((demos[1], demos[2]), demos[0]),
        ((demos[0], demos[2]), demos[1]),
        ((demos[0], demos[1]), demos[2]),
    ]
    l2o = leave_out_episodes(demos, (2,))
    assert len(l2o) == 6 and all(len(ep.demos) == 1 and ep.query not in ep.demos for ep in l2o)
    assert leave_out_episodes(demos[:2], (2,)) == []  # no context would be left
    assert len(leave_out_episodes(demos, (1, 2))) == 9


def test_training_examples_respect_cap_strategy_and_length(engine):
    task = flip_task()
    plain, chosen = training_examples(engine, task, ArcSelfEdit(basic=False), SETTINGS)
    assert len(plain) == 8 and all(skip == 0 for _, skip in plain)  # 9 leave-out episodes, capped at 8
    assert all(ep.transform == "identity" for ep in chosen)
    out_only, chosen = training_examples(engine, task, ArcSelfEdit(strategy="train_using_output_tokens"), SETTINGS)
    assert {ep.transform != "identity" for ep in chosen} == {True, False}  # plain and augmented interleaved
    for (ids, skip), ep in zip(out_only, chosen):
        answer = len(
            engine.tokenizer("\n".join("".join(map(str, r)) for r in ep.query.output), add_special_tokens=False)[
                "input_ids"
            ]
        )
        assert len(ids) - skip == answer + 1  # the loss falls on the answer and EOS only
    short = training_examples(engine, task, ArcSelfEdit(), FewShotConfig(max_seq_len=10))[0]
    assert short == []


def test_answer_budget():
    same = (Pair(g("12"), g("3")), Pair(g("45", "67"), g("8")))
    assert answer_budget(same, g("1234")) == 1 * 2 + 2
    square = (Pair(g("12", "34"), g("21", "43")), Pair(g("1"), g("1")))
    assert answer_budget(square, g("123", "456")) == 2 * 4 + 2
    mixed = (Pair(g("12"), g("1", "2")), Pair(g("1"), g("111")))
    assert answer_budget(mixed, g("1")) == int(4 * 1.5) + 4


def test_training_teaches_the_task_and_prediction_uses_the_adapter(engine):
    seen = []
    task = constant_task()
    icl = solve(engine, task, SETTINGS, None, "icl", seen.append)
    assert icl.solved is False and icl.train is None and icl.config is None
    trained = solve(engine, task, SETTINGS, LEARNS, "ttt", seen.append)
    assert trained.solved is True and trained.predictions == [g("3")] and trained.episodes == 8
    assert trained.train.final_loss < trained.train.first_loss
    steps = [e for e in seen if isinstance(e, TrainStep)]
    assert steps and steps[-1].step == steps[-1].total_steps == 8 * 3
    scored = [e for e in seen if isinstance(e, ArcTaskScored)]
    assert [(e.condition, e.solved, e.valid) for e in scored] == [("icl", False, True), ("ttt", True, True)]
    assert scored[1].config == LEARNS.text() and scored[1].predictions == (g("3"),)
    weak = solve(engine, task, SETTINGS, ArcSelfEdit(learning_rate=1e-7, epochs=1), "ttt")
    assert weak.solved is False  # a fresh adapter each time: the last one's learning is gone


def test_invalid_self_edit_scores_zero_without_training(engine):
    seen = []
    result = solve(engine, constant_task(), SETTINGS, parse_config("rotate it twice"), "ttt", seen.append)
    assert result.valid is False and result.solved is False and result.train is None
    assert result.self_edit == "rotate it twice" and result.error == "no JSON object"
    assert not [e for e in seen if isinstance(e, TrainStep)]
    assert [e.valid for e in seen if isinstance(e, ArcTaskScored)] == [False]


def test_unknown_outputs_are_not_graded_and_voting_maps_back(engine):
    task = constant_task()
    unknown = task.__class__(task.id, task.train, (Pair(task.test[0].input),))
    solve(engine, task, SETTINGS, LEARNS)
    from dataclasses import replace

    predictions, _ = predict(engine, unknown, replace(SETTINGS, vote=True), "default")
    assert predictions == [g("3")]  # 8 views, each inverted back; a 1×1 answer survives every transform
    assert solve(engine, unknown, SETTINGS, None, "icl").solved is None


def test_cancel_stops_training(engine):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        solve(engine, constant_task(), SETTINGS, LEARNS, cancel=cancel)
