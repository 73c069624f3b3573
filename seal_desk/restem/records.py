"""What the outer loop keeps in the workspace: runs, every candidate and reward, finished rounds.

A passage's candidates are written in one transaction after they are all scored, and a round is
marked finished only after its generator checkpoint is in place, so a killed run resumes at the
first passage or round that has no record.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Optional

from seal_desk.errors import InputError
from seal_desk.workspace.database import Workspace


@dataclass(frozen=True)
class Candidate:
    self_edit: str
    rewards: list[float]  # recall after the inner loop, one per evaluation seed

    @property
    def reward(self) -> float:
        return sum(self.rewards) / len(self.rewards) if self.rewards else 0.0


@dataclass(frozen=True)
class PassageOutcome:
    round: int
    passage_sha: str
    title: str
    prompt: str  # the prompt the generator saw, kept for the SFT set
    baseline: float  # recall after training on the passage alone (mean over seeds)
    candidates: list[Candidate]
    seconds: float

    @property
    def best(self) -> Optional[int]:
        if not self.candidates:
            return None
        return max(range(len(self.candidates)), key=lambda i: (self.candidates[i].reward, -i))

    @property
    def kept(self) -> bool:
        """ReST-EM's filter: the best candidate is kept only when it beats the passage's baseline."""
        return self.best is not None and self.candidates[self.best].reward > self.baseline


@dataclass(frozen=True)
class RoundRecord:
    round: int
    generator: Optional[str]
    sft_examples: int
    sft_loss: Optional[float]


# Settings added since a run was recorded take the value such a run had: older runs trained the
# inner loop on the starting model, knew no learner, and new self-edit/inner-loop options were off.
def _old_runs() -> dict:
    from seal_desk.config import SealConfig

    return {"outer": {"inner_from": "base"}, "learner": None, "inner": SealConfig().to_dict()}


def _filled(saved, current, old=None):
    """`saved` settings with the keys added since (in `current`, not in `saved`) at what older runs did."""
    old = _old_runs() if old is None else old
    if not isinstance(saved, dict) or not isinstance(current, dict):
        return json.loads(json.dumps(saved))
    out = dict(saved)
    for key, value in current.items():
        before = old.get(key) if isinstance(old, dict) else None
        if isinstance(value, dict):
            out[key] = _filled(out.get(key, {}), value, before if isinstance(before, dict) else {})
        elif key not in out:
            out[key] = before if isinstance(old, dict) and key in old else value
    return json.loads(json.dumps(out))


class RlRecords:
    """Outer-loop records of one run (identified by its output folder) in a workspace."""

    def __init__(self, ws: Workspace, out_dir: str, model: str, data: str, config: dict) -> None:
        self.ws = ws
        row = ws._row("SELECT * FROM rl_runs WHERE out_dir=?", (out_dir,))
        if row is None:
            with ws.tx() as db:
                self.run_id = db.execute(
                    "INSERT INTO rl_runs(out_dir, model, data, config, status, started_at) VALUES (?,?,?,?,?,?)",
                    (out_dir, model, data, json.dumps(config, sort_keys=True), "running", time.time()),
                ).lastrowid
            return
        if row["model"] != model or _filled(json.loads(row["config"]), config) != json.loads(json.dumps(config)):
            raise InputError(
                f"{out_dir} belongs to an outer-loop run with other settings "
                f"(model {row['model']}); resume it with the same settings or pick a new --out"
            )
        self.run_id = row["id"]
        with ws.tx() as db:
            db.execute("UPDATE rl_runs SET status='running', finished_at=NULL WHERE id=?", (self.run_id,))

    @classmethod
    def latest_run(cls, ws: Workspace) -> Optional[RlRecords]:
        """The newest run's records, to read (nothing is written); None when there is no run."""
        row = ws._row("SELECT id FROM rl_runs ORDER BY id DESC LIMIT 1")
        if row is None:
            return None
        records = cls.__new__(cls)
        records.ws, records.run_id = ws, row["id"]
        return records

    def details(self) -> dict:
        """The run itself: out_dir, data, model, status, times, and `config` (parsed)."""
        row = self.ws._row("SELECT * FROM rl_runs WHERE id=?", (self.run_id,))
        return {**dict(row), "config": json.loads(row["config"])}

    def rounds(self) -> list[tuple[int, list[PassageOutcome], Optional[RoundRecord]]]:
        """Each round with scored passages, in order: its outcomes and its record once it finished."""
        by_round: dict[int, list[PassageOutcome]] = {}
        for outcome in self.outcomes():
            by_round.setdefault(outcome.round, []).append(outcome)
        return [(r, by_round[r], self.round_done(r)) for r in sorted(by_round)]

    def outcome(self, round_: int, passage_sha: str) -> Optional[PassageOutcome]:
        row = self.ws._row(
            "SELECT * FROM rl_passages WHERE rl_run_id=? AND round=? AND passage_sha=?",
            (self.run_id, round_, passage_sha),
        )
        return self._outcome(row) if row else None

    def outcomes(self, round_: Optional[int] = None) -> list[PassageOutcome]:
        sql, args = "SELECT * FROM rl_passages WHERE rl_run_id=?", (self.run_id,)
        if round_ is not None:
            sql, args = sql + " AND round=?", args + (round_,)
        return [self._outcome(r) for r in self.ws._rows(sql + " ORDER BY id", args)]

    def _outcome(self, row) -> PassageOutcome:
        cands = self.ws._rows("SELECT * FROM rl_candidates WHERE rl_passage_id=? ORDER BY idx", (row["id"],))
        return PassageOutcome(
            row["round"],
            row["passage_sha"],
            row["title"],
            row["prompt"],
            row["baseline"],
            [Candidate(c["self_edit"], json.loads(c["rewards"])) for c in cands],
            row["seconds"],
        )

    def record(self, outcome: PassageOutcome) -> None:
        """One passage's candidates and rewards, in one transaction."""
        with self.ws.tx() as db:
            pid = db.execute(
                "INSERT INTO rl_passages(rl_run_id, round, passage_sha, title, prompt, baseline, best, kept, seconds) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    self.run_id,
                    outcome.round,
                    outcome.passage_sha,
                    outcome.title,
                    outcome.prompt,
                    outcome.baseline,
                    outcome.best,
                    int(outcome.kept),
                    outcome.seconds,
                ),
            ).lastrowid
            db.executemany(
                "INSERT INTO rl_candidates(rl_passage_id, idx, self_edit, rewards, reward) VALUES (?,?,?,?,?)",
                [(pid, i, c.self_edit, json.dumps(c.rewards), c.reward) for i, c in enumerate(outcome.candidates)],
            )

    def round_done(self, round_: int) -> Optional[RoundRecord]:
        row = self.ws._row("SELECT * FROM rl_rounds WHERE rl_run_id=? AND round=?", (self.run_id, round_))
        return RoundRecord(row["round"], row["generator"], row["sft_examples"], row["sft_loss"]) if row else None

    def finish_round(self, record: RoundRecord) -> None:
        with self.ws.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO rl_rounds(rl_run_id, round, generator, sft_examples, sft_loss, finished_at) "
                "VALUES (?,?,?,?,?,?)",
                (self.run_id, record.round, record.generator, record.sft_examples, record.sft_loss, time.time()),
            )

    def finish(self, status: str) -> None:
        with self.ws.tx() as db:
            db.execute("UPDATE rl_runs SET status=?, finished_at=? WHERE id=?", (status, time.time(), self.run_id))
