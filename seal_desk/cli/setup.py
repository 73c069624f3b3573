"""Shared by the subcommands: command-line overrides on a config, the workspace, the engine, model copies."""

from __future__ import annotations

from typing import Optional

from rich.console import Console

from seal_desk.cli.progress import RichReporter
from seal_desk.config import CHECKPOINTING, MIN_SEQ_LEN, OPTIMIZERS, SELECT, SealConfig
from seal_desk.errors import InputError
from seal_desk.knowledge.self_edit import check_format


def flags(args) -> dict:
    """This run's command-line settings as the top config layer (see config.layered); unset flags are left out."""
    lora = {"r": getattr(args, "rank", None) or None, "alpha": getattr(args, "alpha", None) or None}
    inner = {
        k: getattr(args, k, None)
        for k in (
            "epochs",
            "lr",
            "batch_size",
            "seed",
            "precision",
            "gradient_checkpointing",
            "optimizer",
            "stop_loss",
            "max_seq_len",
        )
    }
    edit = {
        k: getattr(args, k, None)
        for k in (
            "format",
            "k",
            "max_new_tokens",
            "temperature",
            "seed",
            "qa_prompt",
            "sentences",
            "min_grounding",
            "select",
        )
    }
    layer = {"inner": _set(inner) | ({"lora": _set(lora)} if _set(lora) else {}), "self_edit": _set(edit)}
    if getattr(args, "judge", False):
        layer["recall"] = {"judge": True}
    return layer


def check(cfg: SealConfig) -> SealConfig:
    """The merged config (flags over saved settings), or a one-line InputError naming the flag that is out of
    range or not a number."""
    edit, inner = cfg.self_edit, cfg.inner
    numbers = {
        "epochs": inner.epochs,
        "batch_size": inner.batch_size,
        "k": edit.k,
        "rank": inner.lora.r,
        "alpha": inner.lora.alpha,
        "max_new_tokens": edit.max_new_tokens,
        "lr": inner.lr,
        "temperature": edit.temperature,
        "min_grounding": edit.min_grounding,
        "stop_loss": inner.stop_loss,
    }
    if inner.max_seq_len is not None:
        numbers["max_seq_len"] = inner.max_seq_len
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
            raise InputError(f"--{name.replace('_', '-')} must be a number, not {value!r}")
    if not 0.0 <= edit.min_grounding <= 1.0:
        raise InputError("--min-grounding must be between 0 and 1")
    check_format(edit.format)
    if edit.select not in SELECT:
        raise InputError(f"self-edit selection '{edit.select}' is not one of {', '.join(SELECT)}")
    if inner.optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer '{inner.optimizer}' is not one of {', '.join(OPTIMIZERS)}")
    if inner.gradient_checkpointing not in CHECKPOINTING:
        raise InputError(
            f"gradient checkpointing '{inner.gradient_checkpointing}' is not one of {', '.join(CHECKPOINTING)}"
        )
    if inner.stop_loss < 0:
        raise InputError("--stop-loss must be 0 (train every epoch) or more")
    for name in ("epochs", "batch_size", "k", "rank", "alpha", "max_new_tokens"):
        if numbers[name] < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    if inner.lr <= 0:
        raise InputError("--lr must be above 0")
    if edit.temperature < 0:
        raise InputError("--temperature must be 0 or more")
    check_seq_len(inner.max_seq_len)
    return cfg


def check_seq_len(value: Optional[int]) -> None:
    """`--max-seq-len` (or a config's max_seq_len) is at least MIN_SEQ_LEN tokens: one line otherwise."""
    if value is not None and value < MIN_SEQ_LEN:
        raise InputError(f"--max-seq-len must be at least {MIN_SEQ_LEN} tokens (got {value})")


def _set(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def open_workspace(args):
    from seal_desk.workspace.database import Workspace

    ws = Workspace(args.workspace)
    ws.mark_stale_runs()
    return ws


def make_engine(args, err: Console, ws=None, interactive: bool = False):
    """Load the model (rich progress on `err`) and open the engine with every config layer, flags on top
    (`interactive`: with config.INTERACTIVE, for commands that learn for a person rather than measure)."""
    from seal_desk.engine import Engine
    from seal_desk.model.loader import load

    model = args.model or (ws.get_setting("model") if ws is not None else None)
    with RichReporter(err) as reporter:
        loaded = load(model, args.device, args.quant, reporter, args.trust_remote_code, learner_arg(args, model))
    engine = Engine.open(loaded, ws, flags(args), interactive)
    check(engine.config)
    if loaded.device == "cuda":
        _plan_message(engine, err)
    return engine


def _plan_message(engine, err: Console) -> None:
    """On a GPU: one line with the VRAM planner's estimate for this model and settings (model/vram_plan.py)."""
    import torch

    from seal_desk.events import Message
    from seal_desk.model.vram_plan import plan_line, settings_for

    loaded, cfg = engine.loaded, engine.config
    if loaded.source.preset is None:
        return
    quant = loaded.placement.quantization
    settings = settings_for(cfg.inner, cfg.self_edit, quant, cfg.recall)  # "auto" checkpointing: both are shown
    line = plan_line(loaded.source.preset, settings, torch.cuda.mem_get_info()[1])
    if line:
        RichReporter(err)(Message(line))  # printed as every load message is, no progress bars to start


def model_copier(args, model_name: str):
    """The outer loop's `load_copy` for this command line (see restem.start.model_copier)."""
    from seal_desk.restem.start import model_copier as copier

    model = args.model or model_name
    return copier(model, args.device, args.quant, args.trust_remote_code, learner_arg(args, model))


def learner_arg(args, model) -> Optional[str]:
    """`--learner`, or with `--generator base` the learner a SEAL-trained generator (a packed learner, see
    restem/pack.py) was trained on top of: the untrained generator, to compare with."""
    learner = getattr(args, "learner", None)
    if getattr(args, "generator_mode", "default") != "base" or learner == "none":
        return learner
    from seal_desk.model.learner_weights import learner_card
    from seal_desk.model.loader import learner_folder
    from seal_desk.model.source import resolve

    folder = learner_folder(resolve(model), learner)
    below = learner_card(folder).get("on_top_of") if folder is not None else None
    return str(folder.parent / below) if below else learner


def cluster_options(args):
    """`--ray` and its flags as ClusterOptions (None without --ray); a one-line error when Ray is missing."""
    if getattr(args, "ray", None) is None:
        return None
    from seal_desk.restem.cluster import ClusterOptions, require_ray

    require_ray()
    return ClusterOptions(
        args.ray,
        args.ray_workers,
        args.ray_gpus_per_worker,
        args.ray_cpus_per_worker,
        device=args.device,
        quant=args.quant,
        trust_remote_code=args.trust_remote_code,
    ).check()
