"""The ARC outer loop on the tiny model: every candidate recorded, solving configs SFT the generator."""

from __future__ import annotations

import json

import pytest

from seal_desk.arc import restem as arc_restem
from seal_desk.arc.self_edit import ArcSelfEdit, parse_config
from seal_desk.config import FewShotConfig, LoraSettings, OuterLoopConfig
from seal_desk.errors import InputError
from seal_desk.events import RewardScored
from seal_desk.restem.loop import generator_base
from seal_desk.restem.records import RlRecords
from tests.arc.arc_helpers import constant_task, flip_task

SETTINGS = FewShotConfig(lora=LoraSettings(r=4, alpha=8), max_examples=8, max_epochs=3, config_max_new_tokens=10)
CFG = OuterLoopConfig(
    rounds=1, passages=2, k=3, eval_times=1, sft_epochs=1, sft_lr=1e-2, sft_lora=LoraSettings(r=4, alpha=8)
)
GOOD = "```json\n" + ArcSelfEdit(strategy="train_using_output_tokens", learning_rate=1e-2, epochs=3).text() + "\n```"
WEAK = "{'training': {'learning_rate': 1e-7, 'num_train_epochs': 1}}"
REPLIES = [GOOD, "I cannot decide.", WEAK]


@pytest.fixture
def scripted(monkeypatch):
    """A random model writes no JSON: let the 'generator' write a good, an invalid and a weak config."""
    real = arc_restem.sample_configs
    calls = []

    def fake(engine, task, settings, k, seed, on_event, cancel):
        calls.append((task.id, seed))
        real(engine, task, settings, 1, seed, on_event, cancel)  # the real sampling path runs too
        return [parse_config(REPLIES[i % len(REPLIES)]) for i in range(k)]

    monkeypatch.setattr(arc_restem, "sample_configs", fake)
    return calls


def _run(engine, ws, out, events=None):
    from seal_desk.model.loader import load, load_tiny

    records = RlRecords(ws, str(out), engine.loaded.name, "arc-test", {"mode": "arc"})
    loop = arc_restem.ArcRestEM(
        engine, records, CFG, out, lambda p: load_tiny() if p is None else load(p, "cpu"), SETTINGS
    )
    return records, loop.run([constant_task(), flip_task()], (events if events is not None else []).append)


def test_candidates_recorded_and_solving_configs_train_the_generator(tiny_engine, workspace, tmp_path, scripted):
    events = []
    records, rounds = _run(tiny_engine, workspace, tmp_path / "run", events)
    outcomes = {o.title: o for o in records.outcomes(1)}
    assert set(outcomes) == {"const3", "flip"}
    const = outcomes["const3"]
    assert [c.self_edit for c in const.candidates] == REPLIES  # raw text kept, invalid one included
    assert [c.reward for c in const.candidates] == [1.0, 0.0, 0.0] and const.kept and const.baseline == 0.0
    assert json.loads(const.prompt) and not outcomes["flip"].kept
    scored = [e for e in events if isinstance(e, RewardScored)]
    assert len(scored) == 2 and all(len(e.rewards) == 3 for e in scored)
    sft = [json.loads(line) for line in (tmp_path / "run" / "round-1" / "sft.jsonl").read_text().splitlines()]
    assert [(r["task"], r["candidate"]) for r in sft] == [("const3", 0)]
    assert parse_config(sft[0]["config"]).config == parse_config(GOOD).config and sft[0]["self_edit"] == GOOD
    gen = tmp_path / "run" / "round-1" / "generator"
    assert rounds[0].generator == str(gen) and rounds[0].sft_examples == 1
    assert generator_base(gen) == "tiny-random" and (gen / "model.safetensors").is_file()
    # the same command again resumes: nothing is sampled or trained twice
    calls = len(scripted)
    again = []
    _run(tiny_engine, workspace, tmp_path / "run", again)
    assert len(scripted) == calls
    assert all(e.resumed for e in again if isinstance(e, RewardScored))


def test_tasks_without_solutions_are_refused(tiny_engine, workspace, tmp_path):
    from seal_desk.model.loader import load_tiny

    task = flip_task()
    unknown = task.__class__(task.id, task.train, (task.test[0].__class__(task.test[0].input),))
    records = RlRecords(workspace, str(tmp_path), "tiny-random", "x", {})
    loop = arc_restem.ArcRestEM(tiny_engine, records, CFG, tmp_path, lambda p: load_tiny(), SETTINGS)
    with pytest.raises(InputError, match="needs the test outputs"):
        loop.run([unknown])
