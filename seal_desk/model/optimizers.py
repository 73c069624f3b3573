"""The inner loop's optimizer: AdamW with fp32 moments, or bitsandbytes' paged 8-bit AdamW.

Paged 8-bit AdamW keeps both moments in 8 bits (a quarter of fp32's 8 bytes per parameter) and pages
them to CPU RAM when the GPU runs short, as QLoRA does; it also runs, slowly, on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from seal_desk.errors import ModelError


def make_optimizer(params: Iterable[torch.Tensor], name: str, lr: float, weight_decay: float = 0.0):
    """The optimizer called `name` (InnerLoopConfig.optimizer) over `params`."""
    if name == "paged-adamw-8bit":
        try:
            import bitsandbytes as bnb
        except Exception as exc:  # pragma: no cover - depends on the machine
            raise ModelError(f"--optimizer paged-adamw-8bit needs bitsandbytes ({exc}); use adamw") from None
        return bnb.optim.PagedAdamW8bit(list(params), lr=lr, weight_decay=weight_decay)
    if name != "adamw":
        raise ModelError(f"unknown optimizer '{name}': adamw or paged-adamw-8bit")
    params = list(params)
    # one fused kernel for all tensors: ~3× faster steps on a CPU than the per-tensor loop, the same update;
    # torch checks the device and dtype only at the first step, so they are checked here
    fused = FUSED and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)


FUSED = True  # AdamW as one fused kernel where torch has one (False: the per-tensor loop; benchmarks/inner_loop_ab.py)


__all__ = ["make_optimizer"]
