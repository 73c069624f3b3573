"""Issue #18: one outer-loop round scored here, then on Ray workers (`--ray`); what Ray costs per passage.

Usage (the figures in docs/results.md, "#18"):

    python benchmarks/ray_overhead.py --model tiny-random --reward answer-logprob --workers 2      # minutes
    python benchmarks/ray_overhead.py --passages 8 --k 3 --workers 2 --json bench-out/ray.json     # default model

Both runs use the same seeds, threads per process (`--cpus-per-worker`, also here) and a fresh workspace
each; the script checks that they recorded the same candidates and rewards. It prints, per passage:
the local scoring time; the time inside a worker; Ray's round trip beyond it (hand-over, result, the
driver noticing: `round_trip − seconds − setup` per item); and the worker time the round spent on
anything but scoring (loading a round's scorer, waiting on the driver, idle at the end of the round).
The workers' model load (once per run) and the driver's generator SFT (once per round) are reported
apart: they are the fixed costs of the scaling model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a preset, hub id or folder (default: the default preset)")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=str(REPO.parent / "shared/data/squad/train_passages.json"))
    p.add_argument("--passages", type=int, default=8)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--eval-times", type=int, default=1)
    p.add_argument("--reward", default=None, help="recall (default) or answer-logprob")
    p.add_argument("--ray", default="local", help="local (a cluster started here), auto, or the head's host:port")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cpus-per-worker", type=float, default=1.0, help="also the torch threads of the local run")
    p.add_argument("--gpus-per-worker", type=float, default=None)
    p.add_argument("--epochs", type=int, default=None, help="inner-loop epochs (default: the preset's, 10)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="self-edit length (default: the preset's)")
    p.add_argument("--json", dest="json_out", default=None)
    return p.parse_args(argv)


class Clock:
    """When scoring ended (last RewardScored) and the round did (RoundFinished)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.scored = self.finished = self.started

    def __call__(self, event) -> None:
        from seal_desk.events import RewardScored, RoundFinished

        if isinstance(event, RewardScored):
            self.scored = time.perf_counter()
        elif isinstance(event, RoundFinished):
            self.finished = time.perf_counter()


def _round(engine, passages, cfg, copier, cluster=None) -> tuple[dict, Clock, list[float]]:
    from seal_desk.restem.records import RlRecords
    from seal_desk.restem.start import run_outer_loop
    from seal_desk.workspace.database import Workspace

    with tempfile.TemporaryDirectory(prefix="seal-desk-ray-bench-") as folder:
        ws = Workspace(Path(folder) / "ws")
        clock = Clock()
        run_outer_loop(
            engine, ws, passages, "bench", Path(folder) / "out", cfg, copier, on_event=clock, cluster=cluster
        )
        recorded = RlRecords.latest_run(ws).outcomes()
        outcomes = {o.passage_sha: (o.baseline, [(c.self_edit, c.rewards) for c in o.candidates]) for o in recorded}
        ws.close()
    return outcomes, clock, sorted(o.seconds for o in recorded)  # RestEM.score's own clock, here or on a worker


def main(argv=None) -> int:
    args = _args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from seal_desk.config import OuterLoopConfig
    from seal_desk.engine import Engine
    from seal_desk.knowledge.data import load_data
    from seal_desk.model.loader import load
    from seal_desk.restem.cluster import Cluster, ClusterOptions
    from seal_desk.restem.start import model_copier, training_passages

    threads = max(1, int(args.cpus_per_worker))
    torch.set_num_threads(threads)  # as in each worker: the same reductions, the same floats
    passages = training_passages(load_data(args.data), [], args.data)
    loaded = load(args.model, args.device)
    flags = {"inner": {"epochs": args.epochs} if args.epochs else {}}
    flags["self_edit"] = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}
    engine = Engine.open(loaded, None, flags)
    over = {"reward": args.reward} if args.reward else {}
    cfg = OuterLoopConfig(rounds=1, passages=args.passages, k=args.k, eval_times=args.eval_times, **over)
    copier = model_copier(args.model or loaded.name, args.device)
    n = min(cfg.passages, len(passages))
    print(f"{loaded.name} on {loaded.placement.label}, {n} passages, k={cfg.k}, eval_times={cfg.eval_times}")

    local, lclock, lseconds = _round(engine, passages, cfg, copier)
    local_scoring = lclock.scored - lclock.started
    print(
        f"local: scoring {local_scoring:.1f} s ({local_scoring / n:.2f} s/passage), SFT {lclock.finished - lclock.scored:.1f} s"
    )

    options = ClusterOptions(args.ray, args.workers, args.gpus_per_worker, args.cpus_per_worker)
    started = time.perf_counter()
    cluster = Cluster(options, replace(copier, learner=loaded.learner or "none"))
    try:
        cluster.start(wait=True)
        load_s = time.perf_counter() - started
        remote, rclock, rseconds = _round(engine, passages, cfg, copier, cluster)
        workers = cluster.workers
    finally:
        cluster.close()
    ray_scoring = rclock.scored - rclock.started
    done = sum(w["done"] for w in workers)
    inside = sum(w["seconds"] for w in workers)
    setup = sum(w["setup"] for w in workers)
    trip = sum(w["round_trip"] - w["seconds"] - w["setup"] for w in workers)
    busy_elsewhere = len(workers) * ray_scoring - inside
    result = {
        "model": loaded.name,
        "device": loaded.placement.label,
        "passages": n,
        "k": cfg.k,
        "eval_times": cfg.eval_times,
        "epochs": engine.config.inner.epochs,
        "max_new_tokens": engine.config.self_edit.max_new_tokens,
        "workers": len(workers),
        "cpus_per_worker": args.cpus_per_worker,
        "same_results": remote == local,
        "local_s_per_passage": local_scoring / n,
        "local_score_s_median": lseconds[len(lseconds) // 2],
        "local_score_s_min_max": [lseconds[0], lseconds[-1]],
        "worker_score_s_median": rseconds[len(rseconds) // 2],
        "local_sft_s": lclock.finished - lclock.scored,
        "ray_start_s": load_s,
        "ray_scoring_s": ray_scoring,
        "ray_s_per_passage_wall": ray_scoring / n,
        "worker_s_per_passage": inside / max(done, 1),
        "setup_s_per_passage": setup / max(done, 1),
        "round_trip_overhead_s_per_passage": trip / max(done, 1),
        "worker_time_not_scoring_s_per_passage": busy_elsewhere / max(done, 1),
        "ray_sft_s": rclock.finished - rclock.scored,
        "speedup": local_scoring / ray_scoring if ray_scoring else None,
        "per_worker": workers,
    }
    for key, value in result.items():
        if key != "per_worker":
            print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return 0 if result["same_results"] else 1


if __name__ == "__main__":
    sys.exit(main())
