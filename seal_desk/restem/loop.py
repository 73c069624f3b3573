"""The outer loop, ReST-EM: learn to write self-edits that make the inner loop work.

Per round: sample k self-edits per training passage from the current generator (temperature from
the self-edit config, paper 1.0); train each on the base model with the inner loop, `eval_times`
seeds each, all candidates side by side (stacked LoRA); reward = mean closed-book recall. Keep a
passage's best candidate only when it beats the passage's baseline (training on the passage alone,
same seeds). Then fine-tune the generator with LoRA on (prompt -> kept self-edit), loss on the
completion only, merge, and save the new generator (safetensors) that the next round samples from.

Setup (passages, records) / score (one passage) / improve (SFT + merge + save) keep the steps
apart; every passage is recorded in one transaction, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import random
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from seal_desk.config import InnerLoopConfig, OuterLoopConfig, SealConfig
from seal_desk.engine import Engine, asked_for
from seal_desk.events import CancelToken, EventSink, Progress, RewardScored, RoundFinished, ignore
from seal_desk.files import write_atomic, write_folder_atomic
from seal_desk.knowledge import self_edit as se
from seal_desk.knowledge.documents import Passage
from seal_desk.knowledge.inner_loop import completion_example, train
from seal_desk.model.adapters import AdapterHost
from seal_desk.model.loader import LoadedModel
from seal_desk.model.merging import merged_weights
from seal_desk.model.source import GENERATOR_MARK, generator_mark
from seal_desk.restem.records import Candidate, PassageOutcome, RlRecords, RoundRecord

LoadCopy = Callable[[Optional[str]], LoadedModel]  # None -> a fresh copy of the base model; path -> a checkpoint


def without(passages: Sequence[Passage], held_out: Sequence[Passage]) -> list[Passage]:
    """Training passages minus any whose content also appears in `held_out` (never train on eval)."""
    banned = {p.sha256 for p in held_out}
    return [p for p in passages if p.sha256 not in banned and p.questions]


def round_passages(passages: Sequence[Passage], cfg: OuterLoopConfig, round_: int) -> list[Passage]:
    """This round's training passages: a seeded shuffle, consecutive slices per round (wrapping)."""
    order = list(passages)
    random.Random(cfg.seed).shuffle(order)
    n = min(cfg.passages, len(order))
    start = (round_ - 1) * n
    return [order[(start + i) % len(order)] for i in range(n)]


def generator_base(path: str | Path) -> Optional[str]:
    """The base model a saved generator checkpoint was trained from (None if not one of ours)."""
    mark = generator_mark(path)
    return mark["base"] if mark else None


class RestEM:
    def __init__(
        self, engine: Engine, records: RlRecords, cfg: OuterLoopConfig, out_dir: str | Path, load_copy: LoadCopy
    ) -> None:
        self.engine, self.records, self.cfg = engine, records, cfg
        self.out_dir = Path(out_dir)
        self.load_copy = load_copy
        self.cluster = None  # a restem.cluster.Cluster: score passages on its workers (run_outer_loop sets it)

    def __getstate__(self) -> dict:
        """What a cluster worker needs to score (see ScorePassages): the settings, not the engine or records."""
        return {**self.__dict__, "engine": None, "records": None, "load_copy": None, "cluster": None}

    # the loop ----------------------------------------------------------------------------------
    def run(
        self, passages: Sequence[Passage], on_event: EventSink = ignore, cancel: CancelToken | None = None
    ) -> list[RoundRecord]:
        rounds: list[RoundRecord] = []
        generator: Optional[str] = None
        try:
            for r in range(1, self.cfg.rounds + 1):
                done = self.records.round_done(r)
                if done is None:
                    done = self._round(r, generator, round_passages(passages, self.cfg, r), on_event, cancel)
                rounds.append(done)
                generator = done.generator
                self._write_summary()
            self.records.finish("done")
            return rounds
        except BaseException:
            self.records.finish("interrupted")
            raise
        finally:
            self.engine.generator = None

    def _round(
        self, r: int, generator: Optional[str], chosen: list[Passage], on_event: EventSink, cancel: CancelToken | None
    ) -> RoundRecord:
        if self.cluster is not None:
            self._score_on_cluster(r, generator, chosen, on_event, cancel)
        else:
            scorer = self.scorer(generator)
            for i, passage in enumerate(chosen):
                on_event(Progress(f"round {r}", i, len(chosen), passage.title))
                outcome = self.records.outcome(r, passage.sha256)
                resumed = outcome is not None
                if outcome is None:
                    outcome = self.score(passage, r, on_event, cancel, scorer)
                    self.records.record(outcome)
                on_event(_scored(r, i, len(chosen), outcome, resumed))
            del scorer
        on_event(Progress(f"round {r}", len(chosen), len(chosen), "generator SFT"))
        self.engine.generator = None
        order = {p.sha256: i for i, p in reversed(list(enumerate(chosen)))}
        outcomes = sorted(self.records.outcomes(r), key=lambda o: order.get(o.passage_sha, len(order)))  # SFT order
        kept = [o for o in outcomes if o.kept]
        record = self.improve(r, kept, generator, on_event, cancel)
        self.records.finish_round(record)
        rewards = [c.reward for o in outcomes for c in o.candidates]
        on_event(
            RoundFinished(
                r,
                len(kept),
                len(outcomes),
                _mean(rewards),
                _mean([o.baseline for o in outcomes]),
                record.generator,
                record.sft_loss,
            )
        )
        return record

    def _score_on_cluster(
        self, r: int, generator: Optional[str], chosen: list[Passage], on_event: EventSink, cancel: CancelToken | None
    ) -> None:
        """The round's unscored passages on the cluster's workers; each outcome is recorded as it arrives."""
        todo, seen, done = [], set(), 0
        for i, passage in enumerate(chosen):
            outcome = self.records.outcome(r, passage.sha256)
            if outcome is not None:
                done += 1
                on_event(_scored(r, i, len(chosen), outcome, True))
            elif passage.sha256 not in seen:  # the same passage twice in a round is scored once
                seen.add(passage.sha256)
                todo.append((i, passage))
        on_event(Progress(f"round {r}", done, len(chosen), f"{len(todo)} passage(s) on the cluster"))
        job = ScorePassages(self, self.engine.run_config, r, generator)
        for i, outcome in self.cluster.map(job, todo, on_event, cancel):
            self.records.record(outcome)
            done += 1
            on_event(Progress(f"round {r}", done, len(chosen), chosen[i].title))
            on_event(_scored(r, i, len(chosen), outcome, False))

    def scorer(self, generator: Optional[str]) -> Engine:
        """The engine that scores a round's candidates: it writes the self-edits and its inner loop learns them.

        Round 1 (no generator yet): the resident engine. Later rounds: with `inner_from="generator"`
        (SEAL's reference) an engine on the generator checkpoint, so the model that writes a
        self-edit is the model that learns from it; with "base", the resident engine, sampling
        from the generator but training the starting model.
        """
        self.engine.generator = None
        if generator is None:
            return self.engine
        loaded = self.load_copy(generator)
        if self.cfg.inner_from == "base":
            self.engine.generator = loaded
            return self.engine
        return Engine(loaded, None, self.engine.config)

    # one passage -------------------------------------------------------------------------------
    def score(
        self,
        passage: Passage,
        r: int,
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
        engine: Engine | None = None,
    ) -> PassageOutcome:
        """Sample k self-edits, train each `eval_times` times beside the passage-only baseline, reward = recall."""
        started = time.perf_counter()
        engine, cfg = engine or self.engine, self.cfg
        edit_cfg = engine.run_config.self_edit
        fmt = edit_cfg.format
        prompt = se.prompt_ids(engine.tokenizer, engine.loaded.prompt_style, fmt, passage.title, passage.text)
        seed = zlib.crc32(f"{cfg.seed}/{r}/{passage.sha256}".encode())
        edits = engine.sample_self_edits(passage, fmt, cfg.k, seed=seed, on_event=on_event, cancel=cancel)
        sets = [engine.sequences_for(passage, [e], fmt, cfg.min_grounding) for e in edits]
        baseline_set = engine.sequences_for(passage, [], "none", 0.0)  # the passage (+ its sentences, if set)
        questions = asked_for([passage])
        seeds = [engine.run_config.inner.seed + e for e in range(cfg.eval_times)]
        jobs = [(s, seed_) for s in [baseline_set] + sets for seed_ in seeds]
        untouched = not edit_cfg.include_passage and not edit_cfg.sentences  # then the baseline is the plain model
        if untouched:  # (with --sentences the baseline trains on them: the self-edit must add on top)
            jobs = jobs[len(seeds) :]
        scores: list[float] = []
        for start in range(0, len(jobs), cfg.parallel):
            chunk = jobs[start : start + cfg.parallel]
            engine.train_candidates([s for s, _ in chunk], on_event, cancel, seeds=[x for _, x in chunk])
            scores += self._rewards(engine, questions, r, cancel)
        engine.candidates = None
        if untouched:
            baseline = (
                engine.answer_scores(questions, candidates=False)[0]
                if cfg.reward == "answer-logprob"
                else engine.recall(questions, None, "baseline").accuracy
            )
        else:
            baseline, scores = _mean(scores[: len(seeds)]), scores[len(seeds) :]
        per = len(seeds)
        candidates = [Candidate(e, scores[i * per : (i + 1) * per]) for i, e in enumerate(edits)]
        return PassageOutcome(
            r, passage.sha256, passage.title, json.dumps(prompt), baseline, candidates, time.perf_counter() - started
        )

    def _rewards(self, engine: Engine, questions, r: int, cancel: CancelToken | None) -> list[float]:
        """One reward per trained candidate: recall (paper) or the gold answers' mean log-probability."""
        if self.cfg.reward == "answer-logprob":
            return engine.answer_scores(questions)
        return [rep.accuracy for rep in engine.recall_candidates(questions, f"round {r}", ignore, cancel)]

    # the generator -----------------------------------------------------------------------------
    def improve(
        self,
        r: int,
        kept: list[PassageOutcome],
        generator: Optional[str],
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> RoundRecord:
        """SFT the current generator on the kept self-edits, merge, save as round r's generator."""
        pairs = self.sft_pairs(kept)
        if not pairs:
            return RoundRecord(r, generator, 0, None)
        gen = self.load_copy(generator)
        examples = [
            completion_example(gen.tokenizer, json.loads(prompt), completion, self.sft_max_len())
            for prompt, completion, _ in pairs
        ]
        inner = self.engine.run_config.inner  # memory and precision settings as the inner loop has them
        sft = InnerLoopConfig(
            lora=self.cfg.sft_lora,
            lr=self.cfg.sft_lr,
            epochs=self.cfg.sft_epochs,
            batch_size=1,
            seed=self.cfg.seed,
            precision=inner.precision,
            optimizer=inner.optimizer,
            max_seq_len=inner.max_seq_len,
        )
        host = AdapterHost(gen.model, quantized=gen.placement.quantization == "nf4")
        host.use_checkpointing(self.engine.checkpointing(1))  # same model size: the planner's call for k=1
        import torch

        with torch.enable_grad():
            report = train(host, gen.tokenizer, [], sft, on_event, cancel, examples=examples)
        adapter = self.out_dir / f"round-{r}" / "adapter"
        host.save(adapter)  # the round's update alone, PEFT format (shippable)
        merged = merged_weights(host.peft, adapter, host.quantized)  # plain weights, also from a 4-bit base
        path = self.out_dir / f"round-{r}" / "generator"
        _save_generator(
            merged,
            gen.tokenizer,
            path,
            {
                "base": self.engine.loaded.name,
                "round": r,
                "from": generator,
                "examples": len(examples),
                "learner": self.engine.loaded.learner,
                "inner_from": self.cfg.inner_from,
                "sft": {
                    "lr": sft.lr,
                    "epochs": sft.epochs,
                    "r": sft.lora.r,
                    "alpha": sft.lora.alpha,
                    "final_loss": report.final_loss,
                },
            },
        )
        _write_jsonl(self.out_dir / f"round-{r}" / "sft.jsonl", [row for _, _, row in pairs])
        del merged, gen, host
        return RoundRecord(r, str(path), len(examples), report.final_loss)

    def sft_pairs(self, kept: list[PassageOutcome]) -> list[tuple[str, str, dict]]:
        """(prompt ids as JSON, completion, sft.jsonl row) per SFT example: each kept passage's best self-edit."""
        return [
            (
                o.prompt,
                o.candidates[o.best].self_edit,
                {
                    "title": o.title,
                    "passage_sha": o.passage_sha,
                    "self_edit": o.candidates[o.best].self_edit,
                    "reward": o.candidates[o.best].reward,
                    "baseline": o.baseline,
                },
            )
            for o in kept
        ]

    def sft_max_len(self) -> int:
        return self.engine.run_config.inner.max_seq_len

    def _write_summary(self) -> None:
        write_atomic(self.out_dir / "summary.json", json.dumps(summary(self.records, self.cfg), indent=2))


@dataclass(frozen=True)
class ScorePassages:
    """One round's scoring on a cluster worker (restem.cluster.WorkerJob): `RestEM.score` on the worker's
    own model. `loop` travels without its engine and records; the worker binds its resident engine
    (with the driver's run config) and its own `load_copy`, and builds the round's scorer once."""

    loop: RestEM
    config: SealConfig
    round: int
    generator: Optional[str]
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # one per round of one run: a worker's state

    def setup(self, worker) -> tuple[RestEM, Engine]:
        loop = self.loop
        loop.engine, loop.load_copy = worker.engine(self.config), worker.load_copy
        return loop, loop.scorer(self.generator)

    def run(self, state: tuple[RestEM, Engine], passage: Passage) -> PassageOutcome:
        loop, scorer = state
        return loop.score(passage, self.round, ignore, None, scorer)


def _scored(r: int, i: int, n: int, outcome: PassageOutcome, resumed: bool) -> RewardScored:
    return RewardScored(
        r, i, n, outcome.title, outcome.baseline, tuple(c.reward for c in outcome.candidates), outcome.kept, resumed
    )


def summary(records: RlRecords, cfg: OuterLoopConfig) -> dict:
    """Reward statistics per round, from the workspace."""
    rounds = []
    for r in range(1, cfg.rounds + 1):
        outcomes = records.outcomes(r)
        if not outcomes:
            continue
        rewards = [c.reward for o in outcomes for c in o.candidates]
        best = [o.candidates[o.best].reward for o in outcomes if o.best is not None]
        done = records.round_done(r)
        rounds.append(
            {
                "round": r,
                "passages": len(outcomes),
                "candidates": len(rewards),
                "mean_reward": _mean(rewards),
                "mean_best_reward": _mean(best),
                "mean_baseline": _mean([o.baseline for o in outcomes]),
                "kept": sum(o.kept for o in outcomes),
                "finished": done is not None,
                "generator": done.generator if done else None,
                "sft_examples": done.sft_examples if done else 0,
                "sft_loss": done.sft_loss if done else None,
                "seconds_per_passage": _mean([o.seconds for o in outcomes]),
            }
        )
    return {"config": _config_dict(cfg), "rounds": rounds}


def _config_dict(cfg: OuterLoopConfig) -> dict:
    from dataclasses import asdict

    return asdict(cfg)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _save_generator(model, tokenizer, path: Path, mark: dict) -> None:
    """Write a merged checkpoint (safetensors + tokenizer + mark) atomically."""

    def write(tmp: Path) -> None:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        (tmp / GENERATOR_MARK).write_text(json.dumps(mark, indent=2))

    write_folder_atomic(path, write)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))


__all__ = ["RestEM", "ScorePassages", "generator_base", "round_passages", "summary", "without"]
