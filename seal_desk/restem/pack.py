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
share of the update's energy (squared Frobenius norm) each shrink kept.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from pathlib import Path

from seal_desk.errors import InputError
from seal_desk.files import write_folder_atomic
from seal_desk.model.learner_weights import CARD, learner_chain


def _round_adapter(run: Path, r: int) -> tuple[dict, dict]:
    """(adapter_config, tensors) of round r's update."""
    from safetensors.torch import load_file

    folder = run / f"round-{r}" / "adapter"
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise InputError(f"{folder}: no saved round update (a run from before updates were saved, or unfinished)")
    return json.loads((folder / "adapter_config.json").read_text()), load_file(str(weights))


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

    Returns (config, tensors, energy kept): the mean over modules of Σ kept σ² / Σ σ². At or above the
    adapter's rank, the update is the same (re-factored, scale 1)."""
    import torch

    if rank < 1:
        raise InputError("--rank must be at least 1")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise InputError("an adapter with per-module ranks or alphas cannot be shrunk to one rank")
    scale = (
        config["lora_alpha"] / config["r"]
        if not config.get("use_rslora")
        else config["lora_alpha"] / config["r"] ** 0.5
    )
    out, kept = {}, []
    for module in _modules(tensors):
        a_key = next(k for k in tensors if k.startswith(module + ".lora_A."))
        b_key = a_key.replace(".lora_A.", ".lora_B.")
        a, b = tensors[a_key].double(), tensors[b_key].double() * scale  # (r, in), (out, r)
        qb, rb = torch.linalg.qr(b)  # b = qb rb
        qa, ra = torch.linalg.qr(a.T)  # a = ra^T qa^T
        u, sigma, vh = torch.linalg.svd(rb @ ra.T)  # ΔW = qb u diag(σ) vh qa^T
        k = min(rank, sigma.numel())
        total = float((sigma**2).sum())
        kept.append(float((sigma[:k] ** 2).sum()) / total if total > 0 else 1.0)
        root = sigma[:k].sqrt()
        out[b_key] = (qb @ u[:, :k] * root).float().contiguous()
        out[a_key] = (root[:, None] * (vh[:k] @ qa.T)).float().contiguous()
    new_rank = max((t.shape[0] for k, t in out.items() if ".lora_A." in k), default=rank)
    return dict(config, r=new_rank, lora_alpha=new_rank, use_rslora=False), out, sum(kept) / max(len(kept), 1)


def shrink(src: str | Path, out: str | Path, rank: int) -> dict:
    """Write the learner folder `src` as `out` at LoRA rank `rank` (bf16, beside it); returns the new card."""
    import torch
    from safetensors.torch import load_file, save_file

    from seal_desk.model.learner_weights import learner_card

    src, target = Path(src), Path(out).expanduser().resolve()
    card = learner_card(src)  # an InputError when src is not a learner
    if target == src.resolve():
        raise InputError(f"{out}: that is the learner being shrunk; pick a new folder beside it")
    if target.parent != src.resolve().parent and card.get("on_top_of"):
        raise InputError(f"{out}: put it beside {src} (its card's on_top_of names a sibling folder)")
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / CARD).is_file())):
        raise InputError(f"{out}: exists and is not an earlier pack or learner (it would be replaced)")
    config = json.loads((src / "adapter_config.json").read_text())
    config, tensors, energy = truncate(config, load_file(str(src / "adapter_model.safetensors")), rank)
    new_card = dict(card)
    new_card["lora"] = dict(card.get("lora") or {}, r=config["r"], alpha=config["lora_alpha"])
    new_card["shrunk"] = list(card.get("shrunk", [])) + [
        {
            "from": src.name,
            "from_rank": card.get("lora", {}).get("r"),
            "rank": config["r"],
            "energy_kept": round(energy, 4),
        }
    ]
    new_card["stored"] = "bf16 (the best rank-r approximation of each module's update, by truncated SVD)"

    def write(tmp: Path) -> None:
        save_file(
            {k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()}, str(tmp / "adapter_model.safetensors")
        )
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2))
        (tmp / CARD).write_text(json.dumps(new_card, indent=2))

    write_folder_atomic(target, write)
    return new_card


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
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / CARD).is_file())):
        raise InputError(f"--pack {out}: exists and is not an earlier pack or learner (it would be replaced)")
    return target


def pack_generator(run: str | Path, out: str | Path, summary: dict, meta: dict) -> dict:
    """Write the rounds of `run` (an `rl --out` folder) as one learner folder `out`; returns its card.

    `summary` is the run's reward summary (loop.summary); `meta` what the card should say besides
    (base model, learner it started from, data, settings)."""
    import torch
    from safetensors.torch import save_file

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

    def write(tmp: Path) -> None:
        weights = {k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()}
        save_file(weights, str(tmp / "adapter_model.safetensors"))
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2))
        (tmp / CARD).write_text(json.dumps(card, indent=2))

    write_folder_atomic(out, write)
    return card


__all__ = ["check_target", "combine", "pack_generator", "shrink", "truncate"]
