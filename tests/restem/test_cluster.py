"""The outer loop on a local Ray cluster (`--ray`): 2 CPU workers with the tiny model give the same
candidates and rewards as the local path, and a worker killed mid-round has its passage re-queued.

One Ray runtime and one pair of warm workers serve the module (Ray's start-up dominates); the local
reference runs while the workers load their models.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace

import pytest

from seal_desk.config import InnerLoopConfig, LoraSettings, OuterLoopConfig, SealConfig, SelfEditConfig
from seal_desk.events import Message, RewardScored, WorkerProgress
from seal_desk.restem.cluster import ClusterOptions
from tests.restem.test_restem import PASSAGES

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

# answer-logprob: continuous rewards (a random model's recall is all zeros), no grader to patch in workers
CFG = OuterLoopConfig(
    rounds=2,
    passages=4,
    k=2,
    eval_times=2,
    reward="answer-logprob",
    sft_epochs=1,
    sft_lr=1e-2,
    sft_lora=LoraSettings(r=4, alpha=8),
)
SETTINGS = SealConfig(
    inner=InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=2, lr=1e-2),
    self_edit=SelfEditConfig(max_new_tokens=12),
)


def _copier():
    from seal_desk.restem.start import model_copier

    return model_copier("tiny-random", "cpu")


def _run(root, name, cluster=None, cfg=CFG, on_event=lambda e: None):
    """One outer-loop run on a fresh workspace; returns {(round, passage sha): (baseline, candidates)} and its folder."""
    from seal_desk.engine import Engine
    from seal_desk.model.loader import load_tiny
    from seal_desk.restem.records import RlRecords
    from seal_desk.restem.start import run_outer_loop
    from seal_desk.workspace.database import Workspace

    ws = Workspace(root / f"ws-{name}")
    try:
        engine = Engine(load_tiny(), ws, SETTINGS)
        out = root / f"out-{name}"
        run_outer_loop(engine, ws, PASSAGES, "test", out, cfg, _copier(), cluster=cluster, on_event=on_event)
        records = RlRecords.latest_run(ws)
        outcomes = {
            (o.round, o.passage_sha): (o.baseline, [(c.self_edit, c.rewards) for c in o.candidates])
            for o in records.outcomes()
        }
        return outcomes, out
    finally:
        ws.close()


@pytest.fixture(scope="module")
def threads():
    """One torch thread here, as in each worker: the same reductions, the same floats."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cluster(threads):
    from seal_desk.restem.cluster import Cluster

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    pool = Cluster(ClusterOptions("local", workers=2, cpus_per_worker=1), _copier())
    pool.start()  # the workers load their models while the local reference runs
    yield pool
    pool.close()
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def local(cluster, tmp_path_factory):
    reference = _run(tmp_path_factory.mktemp("local"), "local")
    cluster.start(wait=True)
    return reference


def test_two_ray_workers_give_the_local_candidates_and_rewards(cluster, local, tmp_path):
    seen = []
    remote, out = _run(tmp_path, "ray", cluster, on_event=seen.append)
    reference, local_out = local
    assert len(reference) == 8 and remote == reference  # both rounds: self-edits, rewards per seed, baselines
    for r in (1, 2):  # the driver's generator SFT saw the same set in the same order
        sft = (out / f"round-{r}" / "sft.jsonl").read_text()
        assert sft == (local_out / f"round-{r}" / "sft.jsonl").read_text()
    assert json.loads((out / "summary.json").read_text())["rounds"][1]["generator"].endswith("round-2/generator")
    progress = [e for e in seen if isinstance(e, WorkerProgress)]
    done = {e.worker: e.passages_done for e in progress}
    assert len(done) == 2 and sum(done.values()) == 8, "both workers scored, each passage once"
    assert all(e.seconds_per_passage > 0 for e in progress if e.passages_done)
    scored = [e for e in seen if isinstance(e, RewardScored)]
    assert sorted((e.round, e.index) for e in scored) == [(r, i) for r in (1, 2) for i in range(4)]


def test_a_killed_worker_has_its_passage_requeued(cluster, local, tmp_path):
    killed, seen = [], []

    def kill_one(event):
        seen.append(event)
        if isinstance(event, RewardScored) and not killed:  # the next passage is in flight on a worker now
            busy = [w for w in cluster.workers if w["busy"]]
            killed.append(busy[0]["name"])
            os.kill(busy[0]["pid"], signal.SIGKILL)

    remote, _ = _run(tmp_path, "killed", cluster, replace(CFG, rounds=1), kill_one)
    assert remote == {key: value for key, value in local[0].items() if key[0] == 1}, "every passage, once"
    assert [e.worker for e in seen if isinstance(e, WorkerProgress) and e.state == "died"] == killed
    assert any(isinstance(e, Message) and "re-queued" in e.text for e in seen)
    names = {w["name"] for w in cluster.workers}
    assert killed[0] not in names and len(names) == 2, "a fresh worker took the dead one's place"


def test_a_driver_stopped_mid_round_resumes_from_the_workspace(cluster, local, tmp_path):
    from seal_desk.engine import Engine
    from seal_desk.errors import Cancelled
    from seal_desk.events import CancelToken
    from seal_desk.model.loader import load_tiny
    from seal_desk.restem.start import run_outer_loop
    from seal_desk.workspace.database import Workspace

    cfg, cancel, seen = replace(CFG, rounds=1), CancelToken(), []

    def stop(event):  # the driver stops once a passage is recorded, as a kill would
        if isinstance(event, RewardScored):
            cancel.cancel()

    ws = Workspace(tmp_path / "ws-resumed")
    engine = Engine(load_tiny(), ws, SETTINGS)
    with pytest.raises(Cancelled):
        run_outer_loop(
            engine,
            ws,
            PASSAGES,
            "test",
            tmp_path / "out-resumed",
            cfg,
            _copier(),
            cluster=cluster,
            on_event=stop,
            cancel=cancel,
        )
    ws.close()
    resumed, _ = _run(tmp_path, "resumed", cluster, cfg, seen.append)
    flags = [e.resumed for e in seen if isinstance(e, RewardScored)]
    assert 1 <= sum(flags) < 4 and len(flags) == 4, "some passages came from the workspace, the rest were scored"
    assert resumed == {key: value for key, value in local[0].items() if key[0] == 1}


def test_bench_knowledge_rows_on_the_workers_equal_the_local_rows(cluster, local, tmp_path):
    from seal_desk.bench.knowledge import KnowledgeBench, KnowledgeBenchOptions
    from seal_desk.engine import Engine
    from seal_desk.model.loader import load_tiny

    data = tmp_path / "d.json"
    data.write_text(
        json.dumps(
            [
                {"title": p.title, "context": p.text, "questions": [{"question": q.question, "answer": q.answer}]}
                for p in PASSAGES
                for q in p.questions[:1]
            ]
        )
    )
    options = KnowledgeBenchOptions(str(data), n=3, conditions=("base", "passage", "self-edit"))

    def rows(cluster=None):
        result = KnowledgeBench(Engine(load_tiny(), None, SETTINGS), options).run(cluster=cluster)
        assert result.get("ray_workers") == (2 if cluster else None)
        return {
            c: [{k: v for k, v in r.items() if k != "seconds"} for r in rs] for c, rs in result["per_passage"].items()
        }

    assert rows(cluster) == rows()


def test_arc_rl_on_the_workers_equals_the_local_run(cluster, local, tmp_path):
    """`arc rl --ray`: ArcRestEM travels to the workers and scores there, with the cluster taken from the
    command's request (cluster.requesting, as cli/main.dispatch sets it) rather than an argument."""
    from functools import partial

    from seal_desk.arc.restem import ArcRestEM
    from seal_desk.config import FewShotConfig
    from seal_desk.engine import Engine
    from seal_desk.model.loader import load_tiny
    from seal_desk.restem.cluster import requesting
    from seal_desk.restem.records import RlRecords
    from seal_desk.restem.start import run_outer_loop
    from seal_desk.workspace.database import Workspace
    from tests.arc.arc_helpers import constant_task, flip_task

    settings = FewShotConfig(lora=LoraSettings(r=4, alpha=8), max_examples=4, max_epochs=1, config_max_new_tokens=12)
    cfg = replace(CFG, rounds=1, passages=2, k=2, eval_times=1, reward="recall")

    def run(name, pool=None):
        seen, ws = [], Workspace(tmp_path / f"ws-{name}")
        try:
            with requesting(pool):
                run_outer_loop(
                    Engine(load_tiny(), ws, SETTINGS),
                    ws,
                    [constant_task(), flip_task()],
                    "arc-test",
                    tmp_path / f"out-{name}",
                    cfg,
                    _copier(),
                    loop=partial(ArcRestEM, settings=settings),
                    meta={"mode": "arc"},
                    on_event=seen.append,
                )
            outcomes = RlRecords.latest_run(ws).outcomes()
            return {o.title: (o.prompt, [(c.self_edit, c.rewards) for c in o.candidates]) for o in outcomes}, seen
        finally:
            ws.close()

    here, _ = run("arc-local")
    there, seen = run("arc-ray", cluster)
    assert set(here) == {"const3", "flip"} and there == here  # the same configs sampled, the same grades
    assert sum(isinstance(e, WorkerProgress) and e.passages_done > 0 for e in seen) >= 2, "scored on the workers"
