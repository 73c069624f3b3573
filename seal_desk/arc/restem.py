"""The few-shot outer loop: ReST-EM over self-edit configs on ARC training tasks.

The knowledge-mode loop (seal_desk/restem/loop.py) runs it: rounds, seeded task selection, one workspace
transaction per task (so a stopped run resumes at the next unscored task), generator SFT with LoRA,
merge and atomic checkpoint save, summary.json. What differs is `score` and the SFT set: per task,
sample k configs from the current generator, run each through test-time training (seal_desk/arc/ttt.py)
and reward 1 when it solves the task's test output(s), else 0 (invalid configs score 0 untrained).
The baseline is 0, so a task is kept when any config solved it, and — as SEAL does for ARC — every
solving config (not only the best) goes into the SFT set, as its canonical JSON after the generator's
prompt.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Sequence

from seal_desk.arc.self_edit import parse_config
from seal_desk.arc.task import ArcTask
from seal_desk.arc.ttt import config_prompt, sample_configs, solve
from seal_desk.config import FewShotConfig, OuterLoopConfig
from seal_desk.errors import InputError
from seal_desk.events import CancelToken, EventSink, ignore
from seal_desk.restem.loop import LoadCopy, RestEM
from seal_desk.restem.records import Candidate, PassageOutcome, RlRecords


class ArcRestEM(RestEM):
    def __init__(
        self, engine, records: RlRecords, cfg: OuterLoopConfig, out_dir, load_copy: LoadCopy, settings: FewShotConfig
    ) -> None:
        super().__init__(engine, records, cfg, out_dir, load_copy)
        self.settings = settings

    def run(self, tasks: Sequence[ArcTask], on_event: EventSink = ignore, cancel: CancelToken | None = None):
        unknown = [t.id for t in tasks if not t.solved_known]
        if unknown:
            raise InputError(
                f"the outer loop needs the test outputs of every task (no solutions for "
                f"{', '.join(unknown[:5])}); pass --solutions F"
            )
        return super().run(tasks, on_event, cancel)

    def score(
        self, task: ArcTask, r: int, on_event: EventSink = ignore, cancel: CancelToken | None = None, engine=None
    ) -> PassageOutcome:
        """k configs from the current generator, each trained and graded: reward 1 = solved."""
        started = time.perf_counter()
        engine = engine or self.engine
        seed = zlib.crc32(f"{self.cfg.seed}/{r}/{task.sha256}".encode())
        prompt = config_prompt(engine, task, self.settings)
        parsed = sample_configs(engine, task, self.settings, self.cfg.k, seed, on_event, cancel)
        candidates = []
        for i, config in enumerate(parsed):
            result = solve(engine, task, self.settings, config, f"round {r}", on_event, cancel, i, len(parsed))
            candidates.append(Candidate(config.text, [1.0 if result.solved else 0.0]))
        return PassageOutcome(
            r, task.sha256, task.id, json.dumps(prompt), 0.0, candidates, time.perf_counter() - started
        )

    def sft_pairs(self, kept: list[PassageOutcome]) -> list[tuple[str, str, dict]]:
        """Every solving config of every kept task, as canonical JSON."""
        pairs = []
        for o in kept:
            for i, c in enumerate(o.candidates):
                parsed = parse_config(c.self_edit)
                if c.reward > o.baseline and parsed.valid:
                    target = parsed.config.text()
                    pairs.append(
                        (
                            o.prompt,
                            target,
                            {
                                "task": o.title,
                                "task_sha": o.passage_sha,
                                "candidate": i,
                                "self_edit": c.self_edit,
                                "config": target,
                                "reward": c.reward,
                            },
                        )
                    )
        return pairs

    def sft_max_len(self) -> int:
        return self.engine.loaded.context_limit


__all__ = ["ArcRestEM"]
