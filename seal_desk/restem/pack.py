"""Shipping a SEAL-trained generator: an outer-loop run's round updates packed into one PEFT adapter.

Each round's generator is the previous one plus that round's merged LoRA update (loop.py saves each
update alone under `round-N/adapter`). Merging is additive, so the rounds' updates sum exactly into one
LoRA of rank Σ r_i: A = [A_1; A_2; …] stacked along the rank, B = [s_1·B_1, s_2·B_2, …] with each
round's scale s_i = alpha_i / r_i folded in, and alpha = rank (scale 1).

The pack is a learner folder (PEFT adapter + `seal_desk_learner.json`), merged at load like any
learner; its card names the learner the run started from (`on_top_of`, a sibling folder), which is
merged first. So `--learner` on the pack gives the SEAL-trained model, and on `on_top_of` the
untrained one it came from.

`shrink` makes a pack (or any learner) smaller: per module, the best rank-R approximation of its update
ΔW = s·B·A (truncated SVD, computed on the thin factors, never the full matrix); the card records the
share of the update's energy (squared Frobenius norm, over all modules) each shrink kept.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from pathlib import Path

from seal_desk.errors import InputError
from seal_desk.files import write_folder_atomic
from seal_desk.model.learner_weights import CARD, learner_chain, shrunk_origin


def _round_adapter(run: Path, r: int) -> tuple[dict, dict]:
    """(adapter_config, tensors) of round r's update."""
    folder = run / f"round-{r}" / "adapter"
    if not (folder / "adapter_model.safetensors").is_file():
        raise InputError(f"{folder}: no saved round update (a run from before updates were saved, or unfinished)")
    return _read_adapter(folder)


def combine(adapters: Sequence[tuple[dict, dict]]) -> tuple[dict, dict]:
    """One LoRA whose update is the sum of `adapters`' updates (configs and tensors as PEFT saves them)."""
    import torch

    configs = [c for c, _ in adapters]
    targets = {tuple(sorted(c["target_modules"])) for c in configs}
    if len(targets) != 1:
        raise InputError("rounds trained different LoRA target modules: they cannot be packed into one adapter")
    scales = [c["lora_alpha"] / c["r"] for c in configs]
    keys = sorted(adapters[0][1])
    combined = {}
    for key in keys:
        parts = [tensors[key].float() for _, tensors in adapters]
        if ".lora_A." in key:
            combined[key] = torch.cat(parts, dim=0)  # (Σr, in)
        elif ".lora_B." in key:
            combined[key] = torch.cat([p * s for p, s in zip(parts, scales)], dim=1)  # (out, Σr)
        else:
            raise InputError(f"unexpected tensor {key} in a round update")
    rank = sum(c["r"] for c in configs)
    config = dict(configs[0], r=rank, lora_alpha=rank, use_rslora=False)
    return config, combined


def _modules(tensors: dict) -> list[str]:
    """The LoRA modules of a PEFT state dict: the key prefixes before `.lora_A.`."""
    return sorted({k.split(".lora_A.")[0] for k in tensors if ".lora_A." in k})


def truncate(config: dict, tensors: dict, rank: int) -> tuple[dict, dict, float]:
    """The adapter at LoRA rank `rank`: each module's update replaced by its best rank-`rank` approximation.

    Returns (config, tensors, energy kept): Σ kept σ² / Σ σ² over all modules, the share of the whole
    update's squared Frobenius norm. A module whose update has a lower rank keeps all of it, its factors
    padded with zeros, so that every module has the adapter's one rank (PEFT loads one `r`)."""
    import torch

    if rank < 1:
        raise InputError("--rank must be at least 1")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise InputError("an adapter with per-module ranks or alphas cannot be shrunk to one rank")
    if config.get("use_dora"):
        raise InputError("a DoRA adapter cannot be shrunk (its magnitude vectors are not a low-rank update)")
    unknown = [k for k in tensors if ".lora_A." not in k and ".lora_B." not in k]
    if unknown:
        raise InputError(f"unexpected tensor {unknown[0]} in the adapter: only LoRA A/B pairs can be shrunk")
    r = config["r"]
    scale = config["lora_alpha"] / (r**0.5 if config.get("use_rslora") else r)
    factors, kept, total = {}, 0.0, 0.0
    for module in _modules(tensors):
        a_key = next(k for k in tensors if k.startswith(module + ".lora_A."))
        b_key = a_key.replace(".lora_A.", ".lora_B.")
        if b_key not in tensors:
            raise InputError(f"{module}: the adapter has lora_A without lora_B")
        a, b = tensors[a_key].double(), tensors[b_key].double() * scale  # (r, in), (out, r)
        qb, rb = torch.linalg.qr(b)  # b = qb rb
        qa, ra = torch.linalg.qr(a.T)  # a = ra^T qa^T
        u, sigma, vh = torch.linalg.svd(rb @ ra.T)  # ΔW = qb u diag(σ) vh qa^T
        k = min(rank, sigma.numel())
        kept += float((sigma[:k] ** 2).sum())
        total += float((sigma**2).sum())
        root = sigma[:k].sqrt()
        factors[module] = (a_key, b_key, root[:, None] * (vh[:k] @ qa.T), qb @ u[:, :k] * root)
    new_rank = max((a.shape[0] for _, _, a, _ in factors.values()), default=min(rank, r))
    out = {}
    for a_key, b_key, a, b in factors.values():
        pad = new_rank - a.shape[0]  # zero directions: no change to the update
        out[a_key] = torch.nn.functional.pad(a, (0, 0, 0, pad)).float().contiguous()
        out[b_key] = torch.nn.functional.pad(b, (0, pad)).float().contiguous()
    config = dict(config, r=new_rank, lora_alpha=new_rank, use_rslora=False)
    return config, out, kept / total if total > 0 else 1.0


def _read_adapter(src: Path) -> tuple[dict, dict]:
    """(adapter_config, tensors) of a learner folder, or a one-line InputError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        config = json.loads((src / "adapter_config.json").read_text())
        tensors = load_file(str(src / "adapter_model.safetensors"))
    except (OSError, ValueError, SafetensorError) as exc:
        raise InputError(
            f"{src}: unreadable adapter ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("r"), int) or "lora_alpha" not in config:
        raise InputError(f"{src}/adapter_config.json: not a LoRA adapter config (no r and lora_alpha)")
    return config, tensors


def shrink(src: str | Path, out: str | Path, rank: int) -> tuple[Path, dict]:
    """Write the learner folder `src` as `out` at LoRA rank `rank` (bf16, beside it); returns (where, card).

    Never over the learner itself or one it builds on, never over a folder of other things, nor over
    another learner than an earlier shrink of the same one."""
    from seal_desk.model.learner_weights import learner_card

    src = Path(src).expanduser()
    target = Path(out).expanduser().resolve()
    card = learner_card(src)  # an InputError when src is not a learner
    if target in learner_chain(src):
        raise InputError(f"{out}: that is the learner being shrunk or one it builds on; pick a new folder beside it")
    if target.parent != src.resolve().parent and card.get("on_top_of"):
        raise InputError(f"{out}: put it beside {src} (its card's on_top_of names a sibling folder)")
    _check_replaceable(target, str(out))
    if (target / CARD).is_file() and shrunk_origin(target) != (shrunk_origin(src) or src.resolve()):
        raise InputError(f"{out}: is another learner, not an earlier shrink of {src.name} (it would be replaced)")
    config, tensors = _read_adapter(src)
    from_rank = config["r"]
    config, tensors, energy = truncate(config, tensors, rank)
    new_card = dict(card)
    new_card["lora"] = dict(card.get("lora") or {}, r=config["r"], alpha=config["lora_alpha"])
    new_card["shrunk"] = list(card.get("shrunk") or []) + [
        {"from": src.resolve().name, "from_rank": from_rank, "rank": config["r"], "energy_kept": round(energy, 4)}
    ]
    new_card["stored"] = "bf16 (the best rank-r approximation of each module's update, by truncated SVD)"

    _write_learner(target, config, tensors, new_card)
    return target, new_card


def _check_replaceable(target: Path, name: str) -> None:
    """A one-line InputError when `target` exists and is not an empty folder, a pack or a learner: what a
    learner folder may replace whole."""
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / CARD).is_file())):
        raise InputError(f"{name}: exists and is not an earlier pack or learner (it would be replaced)")


def _write_learner(target: Path, config: dict, tensors: dict, card: dict) -> None:
    """A learner folder (PEFT adapter in bf16, its config, the card), written atomically."""
    import torch
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        save_file(
            {k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()}, str(tmp / "adapter_model.safetensors")
        )
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2))
        (tmp / CARD).write_text(json.dumps(card, indent=2))

    write_folder_atomic(target, write)


def check_target(out: str | Path, run: str | Path, learner: str | Path | None) -> Path:
    """Where a pack may go, or a one-line InputError: never the run folder or inside it, never the learner
    itself, never a folder of other things (it is replaced whole); beside the learner it builds on."""
    target, run = Path(out).expanduser().resolve(), Path(run).expanduser().resolve()
    if target == run or run in target.parents or target in run.parents:
        raise InputError(f"--pack {out}: not the run folder, inside it, or above it")
    if learner is not None:
        below = Path(learner).expanduser().resolve()
        if target in learner_chain(below):
            raise InputError(
                f"--pack {out}: that is the learner the run starts from (or one it builds on); pick a new folder beside it"
            )
        if target.parent != below.parent:
            raise InputError(f"--pack {out}: put it beside the learner it builds on ({below.parent})")
    _check_replaceable(target, f"--pack {out}")
    return target


def pack_generator(run: str | Path, out: str | Path, summary: dict, meta: dict) -> dict:
    """Write the rounds of `run` (an `rl --out` folder) as one learner folder `out`; returns its card.

    `summary` is the run's reward summary (loop.summary); `meta` what the card should say besides
    (base model, learner it started from, data, settings)."""
    run, out = Path(run), Path(out)
    rounds = [r["round"] for r in summary["rounds"] if r.get("finished") and r.get("sft_examples")]
    if not rounds:
        raise InputError(f"{run}: no finished round kept any self-edit: nothing to pack")
    config, tensors = combine([_round_adapter(run, r) for r in rounds])
    card = {
        "kind": "seal-desk learner",
        "role": "SEAL-trained self-edit generator (ReST-EM)",
        "date": _dt.date.today().isoformat(),
        **meta,
        "rounds": summary["rounds"],
        "packed_rounds": rounds,
        "lora": {"r": config["r"], "alpha": config["lora_alpha"], "targets": sorted(config["target_modules"])},
        "stored": "bf16 (each round trained in fp32; the sum of the rounds' updates, exact up to bf16 rounding)",
    }

    _write_learner(out, config, tensors, card)
    return card


__all__ = ["check_target", "combine", "pack_generator", "shrink", "truncate"]
