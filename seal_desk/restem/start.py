"""Starting the outer loop: the one entry point behind `seal-desk rl`, `seal-desk arc rl` and the TUI's RL tab.

`training_passages` picks what may be trained on, `model_copier` gives the loop fresh model copies,
`run_outer_loop` opens (or resumes) the run's records in the workspace, runs ReST-EM and returns
the reward summary (`loop.summary`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional

from seal_desk.config import OuterLoopConfig
from seal_desk.engine import Engine
from seal_desk.errors import InputError
from seal_desk.events import CancelToken, EventSink, Message, ignore
from seal_desk.knowledge.documents import Passage
from seal_desk.model.loader import LoadedModel, load
from seal_desk.restem.cluster import Cluster, ClusterOptions, opened, requested
from seal_desk.restem.loop import LoadCopy, RestEM, summary, without
from seal_desk.restem.records import RlRecords
from seal_desk.workspace.database import Workspace


def training_passages(
    passages: Sequence[Passage],
    held_out: Sequence[Passage],
    source: str,
    held_out_label: Optional[str] = None,
    on_event: EventSink = ignore,
) -> list[Passage]:
    """The passages with questions that do not appear in `held_out` (named `held_out_label` in messages,
    e.g. "--exclude"); says how many were left out."""
    with_questions = [p for p in passages if p.questions]
    usable = without(with_questions, held_out)
    if len(usable) < len(with_questions):
        on_event(
            Message(
                f"left out {len(with_questions) - len(usable)} training passage(s) that also appear in "
                f"{held_out_label or 'the held-out data'}",
                "warning",
            )
        )
    if not usable:
        raise InputError(
            f"{source}: no training passages with questions" + (f" (after {held_out_label})" if held_out_label else "")
        )
    return usable


def check_run_folder(out: str | Path) -> str:
    """An outer-loop run folder (`--out`) as an absolute path; a one-line InputError when a file is in its place."""
    folder = Path(out).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    return str(folder)


@dataclass(frozen=True)
class ModelCopier:
    """The loop's `load_copy`: None → a fresh copy of the starting model (`base()` when given, else
    `model` with `learner` merged); a path → that checkpoint, which already holds its learner.

    A plain value (no closure) apart from `base`, so a cluster worker can load the same model from it
    (`portable`)."""

    model: str
    device: str
    quant: str = ""
    trust_remote_code: bool = False
    learner: Optional[str] = None
    base: Optional[Callable[[], LoadedModel]] = field(default=None, compare=False)

    def __call__(self, path: Optional[str] = None) -> LoadedModel:
        if path is None and self.base is not None:
            return self.base()
        return load(
            path or self.model,
            self.device,
            self.quant,
            trust_remote_code=self.trust_remote_code,
            learner=self.learner if path is None else "none",
        )

    def portable(self) -> ModelCopier:
        """The same model without `base` (a loader bound to this process): what a worker loads."""
        return replace(self, base=None)


def model_copier(
    model: str,
    device: str,
    quant: str = "",
    trust_remote_code: bool = False,
    learner: Optional[str] = None,
    base: Optional[Callable[[], LoadedModel]] = None,
) -> ModelCopier:
    """The loop's `load_copy` (see ModelCopier)."""
    return ModelCopier(model, device, quant, trust_remote_code, learner, base)


def copier_for(loaded: LoadedModel, device: str = "auto", quant: str = "", trust_remote_code: bool = False):
    """A ModelCopier that loads what `loaded` was loaded from (its learner merged, or none) on `device`."""
    source = loaded.source
    local = source.kind == "dir" or (source.kind == "gguf" and source.preset is None)
    model = source.location if local else source.name
    return ModelCopier(model, device, quant, trust_remote_code, loaded.learner or "none")


def knowledge_meta(engine: Engine, cfg: OuterLoopConfig) -> dict:
    """What a knowledge run records about its settings (a resumed run must match them)."""
    learner = engine.loaded.learner
    return {
        "outer": asdict(cfg),
        "inner": engine.config.to_dict(),
        "learner": str(Path(learner).resolve()) if learner else None,
    }


def run_outer_loop(
    engine: Engine,
    workspace: Workspace,
    items: Sequence,
    data: str,
    out: str | Path,
    cfg: OuterLoopConfig,
    load_copy: LoadCopy,
    *,
    loop: Callable[..., RestEM] = RestEM,
    meta: Optional[dict] = None,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
    cluster: Optional[ClusterOptions | Cluster] = None,
) -> dict:
    """Run (or resume) ReST-EM over `items` with its records under `out`; returns the reward summary.

    Knowledge mode (the default `loop`): self-edits are sampled k at a time, so the engine's
    self-edit k is set to `cfg.k`. Other modes pass their own `loop` (e.g. ARC's) and `meta`.
    `cluster` (default: the one the command asked for, `cluster.requested()`): score each round's
    passages on Ray workers; records, selection and the generator SFT stay here.
    """
    if loop is RestEM:
        engine.config = replace(engine.config, self_edit=replace(engine.config.self_edit, k=cfg.k))
    folder = check_run_folder(out)
    wanted = cluster or requested()
    spec = load_copy
    if wanted is not None and isinstance(load_copy, ModelCopier) and load_copy.learner is None:
        # "the preset's learner" is whatever this machine found and merged: the workers merge that folder
        # (sent to them when they cannot see it), or none, never a different one of their own
        spec = replace(load_copy, learner=engine.loaded.learner or "none")
    with opened(wanted, spec, on_event) as pool:  # joined first: a bad address records nothing
        records = RlRecords(
            workspace, folder, engine.loaded.name, data, meta if meta is not None else knowledge_meta(engine, cfg)
        )
        runner = loop(engine, records, cfg, folder, load_copy)
        runner.cluster = pool
        runner.run(items, on_event, cancel)
    return summary(records, cfg)


__all__ = [
    "ModelCopier",
    "check_run_folder",
    "copier_for",
    "knowledge_meta",
    "model_copier",
    "run_outer_loop",
    "training_passages",
]
