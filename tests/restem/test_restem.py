"""The outer loop (ReST-EM): passage selection, scoring, keeping, generator SFT, resume after interruption."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace

import pytest

from seal_desk.config import LoraSettings, OuterLoopConfig
from seal_desk.errors import Cancelled, InputError
from seal_desk.events import CancelToken, RewardScored
from seal_desk.knowledge.documents import Passage, Question, load_data_file
from seal_desk.restem.loop import RestEM, generator_base, round_passages, summary, without
from seal_desk.restem.records import Candidate, PassageOutcome, RlRecords
from tests.helpers import shared

PASSAGES = [
    Passage(
        f"Place {i}",
        f"Place {i} was founded in {1800 + i} by {name}. It is known for its {thing}.",
        [Question(f"Who founded Place {i}?", name), Question(f"What is Place {i} known for?", thing)],
    )
    for i, (name, thing) in enumerate(
        [
            ("Ada Brin", "glass bells"),
            ("Tomas Vey", "salt caves"),
            ("Ilse Marr", "river boats"),
            ("Oren Lusk", "blue cheese"),
        ]
    )
]
CFG = OuterLoopConfig(
    rounds=2, passages=3, k=2, eval_times=1, sft_epochs=1, sft_lr=1e-2, sft_lora=LoraSettings(r=4, alpha=8)
)


@pytest.fixture
def graded_by_hash(monkeypatch):
    """A random model cannot learn; grade answers by a stable hash so rewards vary and some self-edits win."""
    from seal_desk.knowledge import recall
    from seal_desk.knowledge.grading import Grade

    def fake(text, gold, others=()):
        ok = zlib.crc32(text.encode()) % 3 == 0
        return Grade(ok, ok, float(ok), ok)

    monkeypatch.setattr(recall, "grade", fake)


def _engine(tiny_engine):
    engine = tiny_engine
    engine.config = replace(
        engine.config,
        self_edit=replace(engine.config.self_edit, max_new_tokens=10),
        recall=replace(engine.config.recall, max_new_tokens=4),
        inner=replace(engine.config.inner, epochs=3, lr=0.1),
    )  # adapters that change answers
    return engine


def _run(engine, ws, out, cancel=None, on_event=lambda e: None, cfg=CFG):
    from seal_desk.model.loader import load_tiny

    records = RlRecords(ws, str(out), engine.loaded.name, "test", {"outer": "x"})
    loop = RestEM(engine, records, cfg, out, lambda path: load_tiny() if path is None else _load_dir(path))
    return records, loop.run(PASSAGES, on_event, cancel)


def _load_dir(path):
    from seal_desk.model.loader import load

    return load(path, "cpu")


def test_training_passages_never_include_evaluation_passages():
    from seal_desk.bench.knowledge import select

    train = load_data_file(shared("squad/train_passages.json"))
    evaluation = select(load_data_file(shared("squad/dev_passages.json")), 200, 42)
    assert {p.sha256 for p in train}.isdisjoint({p.sha256 for p in evaluation})
    assert without(train[:5] + evaluation[:3], evaluation) == [p for p in train[:5] if p.questions]


def test_rounds_take_different_passages():
    cfg = OuterLoopConfig(passages=2)
    first, second = round_passages(PASSAGES, cfg, 1), round_passages(PASSAGES, cfg, 2)
    assert len(first) == 2 and not {p.title for p in first} & {p.title for p in second}
    assert round_passages(PASSAGES, cfg, 1) == first  # seeded


def test_best_candidate_is_kept_only_when_it_beats_the_baseline():
    def outcome(rewards, baseline):
        return PassageOutcome(1, "s", "t", "[]", baseline, [Candidate(str(i), r) for i, r in enumerate(rewards)], 0.0)

    assert outcome([[0.5], [0.75]], 0.5).best == 1 and outcome([[0.5], [0.75]], 0.5).kept
    assert not outcome([[0.5], [0.5]], 0.5).kept  # a tie with the baseline is not an improvement
    assert outcome([[0.25, 0.75], [0.5, 0.25]], 0.25).best == 0  # mean over evaluation seeds


def test_two_rounds_train_and_use_a_generator(tiny_engine, workspace, tmp_path, graded_by_hash):
    engine = _engine(tiny_engine)
    seen = []
    records, rounds = _run(engine, workspace, tmp_path / "run", on_event=seen.append)
    scored = [e for e in seen if isinstance(e, RewardScored)]
    assert len(scored) == 6 and all(len(e.rewards) == 2 for e in scored)
    assert any(e.kept for e in scored), "the hash grader should make some self-edit win"
    first = rounds[0]
    assert first.sft_examples == sum(e.kept for e in scored if e.round == 1) and first.generator
    gen = tmp_path / "run" / "round-1" / "generator"
    assert (gen / "model.safetensors").is_file() and generator_base(gen) == engine.loaded.name
    assert len((gen.parent / "sft.jsonl").read_text().splitlines()) == first.sft_examples
    assert (gen.parent / "adapter" / "adapter_model.safetensors").is_file(), "the round's update, PEFT format"
    stats = summary(records, CFG)
    assert [r["round"] for r in stats["rounds"]] == [1, 2] and stats["rounds"][0]["candidates"] == 6
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == json.loads(json.dumps(stats))
    # the merged generator differs from the base model it came from
    from seal_desk.model.loader import load, load_tiny

    merged, base = load(str(gen), "cpu").model.state_dict(), load_tiny().model.state_dict()
    assert set(merged) == set(base)
    changed = [k for k in merged if not (merged[k] == base[k]).all()]
    assert any("q_proj" in k for k in changed) and not any("norm" in k for k in changed)


def test_an_interrupted_round_resumes_to_the_same_sft_set(tiny, tmp_path, graded_by_hash, fast_config):
    from seal_desk.engine import Engine
    from seal_desk.model.loader import load_tiny
    from seal_desk.workspace.database import Workspace

    cfg = replace(CFG, rounds=1)
    ws_a = Workspace(tmp_path / "a")
    _run(_engine(Engine(load_tiny(), ws_a, fast_config)), ws_a, tmp_path / "out-a", cfg=cfg)

    ws_b = Workspace(tmp_path / "b")
    cancel = CancelToken()

    def stop_after_two(event):
        if isinstance(event, RewardScored) and event.index == 1:
            cancel.cancel()

    with pytest.raises(Cancelled):
        _run(_engine(Engine(load_tiny(), ws_b, fast_config)), ws_b, tmp_path / "out-b", cancel, stop_after_two, cfg)
    assert len(RlRecords(ws_b, str(tmp_path / "out-b"), "tiny-random", "test", {"outer": "x"}).outcomes(1)) == 2
    resumed = []
    _run(_engine(Engine(load_tiny(), ws_b, fast_config)), ws_b, tmp_path / "out-b", on_event=resumed.append, cfg=cfg)
    assert [e.resumed for e in resumed if isinstance(e, RewardScored)] == [True, True, False]
    sft_a = (tmp_path / "out-a" / "round-1" / "sft.jsonl").read_text()
    assert sft_a and sft_a == (tmp_path / "out-b" / "round-1" / "sft.jsonl").read_text()


def test_resuming_with_other_settings_is_refused(workspace, tmp_path):
    RlRecords(workspace, str(tmp_path), "m", "d", {"k": 5})
    with pytest.raises(InputError, match="other settings"):
        RlRecords(workspace, str(tmp_path), "m", "d", {"k": 3})


def test_rl_killed_with_sigkill_resumes_to_the_same_candidates(tmp_path):
    """kill -9 mid-round, run the same command again: the finished run equals an uninterrupted one."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    data = tmp_path / "d.json"
    data.write_text(
        json.dumps(
            [
                {
                    "title": p.title,
                    "context": p.text,
                    "questions": [{"question": q.question, "answer": q.answer} for q in p.questions],
                }
                for p in PASSAGES
            ]
        )
    )

    def command(name):
        return [
            sys.executable,
            "-m",
            "seal_desk",
            "-m",
            "tiny-random",
            "-w",
            str(tmp_path / f"ws-{name}"),
            "rl",
            "--data",
            str(data),
            "--out",
            str(tmp_path / f"out-{name}"),
            "--rounds",
            "1",
            "--passages",
            "4",
            "--k",
            "2",
            "--eval-times",
            "1",
            "--max-new-tokens",
            "24",
            "--epochs",
            "6",
            "--rank",
            "4",
            "--alpha",
            "8",
        ]

    def candidates(name):
        with sqlite3.connect(tmp_path / f"ws-{name}" / "workspace.db") as db:
            return db.execute(
                "SELECT p.passage_sha, c.idx, c.self_edit, c.rewards FROM rl_candidates c JOIN "
                "rl_passages p ON p.id = c.rl_passage_id ORDER BY p.passage_sha, c.idx"
            ).fetchall()

    assert subprocess.run(command("a"), capture_output=True, timeout=300).returncode == 0
    proc = subprocess.Popen(command("b"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db_path = tmp_path / "ws-b" / "workspace.db"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if db_path.exists():
            with sqlite3.connect(db_path, timeout=30) as db:
                try:
                    if db.execute("SELECT count(*) FROM rl_passages").fetchone()[0] >= 1:
                        break
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len({row[0] for row in candidates("b")})
    assert 1 <= done_before < 4
    assert subprocess.run(command("b"), capture_output=True, timeout=300).returncode == 0
    assert candidates("b") == candidates("a") and len(candidates("a")) == 8


def test_the_inner_loop_learns_on_the_generator_after_a_round_unless_told_base(tiny_engine, tmp_path):
    """SEAL's reference serves one checkpoint to vLLM and to the inner loop: the model that writes is the one that learns."""
    from seal_desk.model.loader import load_tiny
    from seal_desk.restem.loop import _save_generator

    gen = tmp_path / "gen"
    tiny = load_tiny()
    _save_generator(tiny.model, tiny.tokenizer, gen, {"base": "tiny-random", "round": 1})
    records = RlRecords(tiny_engine.workspace, str(tmp_path / "run"), "tiny-random", "test", {"outer": "x"})
    loop = RestEM(
        tiny_engine, records, CFG, tmp_path / "run", lambda path: load_tiny() if path is None else _load_dir(path)
    )
    assert loop.scorer(None) is tiny_engine and tiny_engine.generator is None
    faithful = loop.scorer(str(gen))
    assert faithful is not tiny_engine and faithful.generator is None and faithful.config == tiny_engine.config
    assert tiny_engine.generator is None
    loop.cfg = replace(CFG, inner_from="base")
    assert loop.scorer(str(gen)) is tiny_engine and tiny_engine.generator is not None
    assert loop.scorer(None) is tiny_engine and tiny_engine.generator is None


def test_a_run_recorded_before_new_settings_resumes_only_as_it_ran(workspace):
    from dataclasses import asdict

    from seal_desk.config import SealConfig
    from seal_desk.errors import InputError

    now = {"outer": asdict(OuterLoopConfig()), "inner": SealConfig().to_dict(), "learner": None}
    older = json.loads(json.dumps(now))
    del older["outer"]["inner_from"], older["learner"], older["inner"]["self_edit"]["qa_prompt"]
    RlRecords(workspace, "/runs/old", "m", "d", older)
    as_it_ran = json.loads(json.dumps(now))
    as_it_ran["outer"]["inner_from"] = "base"  # older runs trained the starting model
    RlRecords(workspace, "/runs/old", "m", "d", as_it_ran)
    with pytest.raises(InputError, match="other settings"):
        RlRecords(workspace, "/runs/old", "m", "d", now)


def test_answer_logprob_reward_scores_without_generating_answers(tiny_engine, workspace, tmp_path, monkeypatch):
    from seal_desk.knowledge import recall

    def no_generation(*a, **k):
        raise AssertionError("the answer-logprob reward must not generate answers")

    monkeypatch.setattr(recall, "evaluate_groups", no_generation)
    engine = _engine(tiny_engine)
    cfg = replace(CFG, rounds=1, reward="answer-logprob")
    seen = []
    records, rounds = _run(engine, workspace, tmp_path / "run", on_event=seen.append, cfg=cfg)
    scored = [e for e in seen if isinstance(e, RewardScored)]
    assert len(scored) == 3
    for e in scored:  # mean log-probabilities: negative, and candidates trained on other text differ
        assert e.baseline < 0 and all(r < 0 for r in e.rewards) and e.rewards[0] != e.rewards[1]
        assert e.kept == (max(e.rewards) > e.baseline)
    assert summary(records, cfg)["config"]["reward"] == "answer-logprob"
