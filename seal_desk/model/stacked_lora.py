"""k LoRA adapters side by side: stacked A/B tensors, one batched matmul per layer for all of them.

Two layouts route inputs to candidates: equal row groups (group g belongs to candidate
`route[g]`; used for batched generation), or one packed row of contiguous token `segments`
(segment g belongs to `route[g]`; used for training without padding). Every LoRA-targeted layer
adds scale · (x_g @ A_route[g]) @ B_route[g] to the frozen base output of its part (a forward hook
on PEFT's LoRA layer, while PEFT's own adapters are disabled). This trains or evaluates k
candidates in one pass where SEAL's reference runs them one after another.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch

from seal_desk.model.adapters import TRAINING_SLOT, AdapterHost

PAD_LIMIT = 2.0  # packed layout: pad groups into one block while that holds ≤ this × the real tokens


@dataclass
class _Layer:
    module: torch.nn.Module
    a: torch.Tensor  # (k, in, r)
    b: torch.Tensor  # (k, r, out)
    scale: float
    dropout: float


class StackedLora:
    """k copies of the host's freshly initialised training slot, stacked for batched use."""

    def __init__(self, host: AdapterHost, k: int) -> None:
        from peft.tuners.lora import LoraLayer

        self.host, self.k = host, k
        self.layers: list[_Layer] = []
        for module in host.peft.modules():
            if isinstance(module, LoraLayer) and TRAINING_SLOT in module.lora_A:
                a = module.lora_A[TRAINING_SLOT].weight.detach().t()
                b = module.lora_B[TRAINING_SLOT].weight.detach().t()
                dropout = module.lora_dropout[TRAINING_SLOT]
                self.layers.append(
                    _Layer(
                        module,
                        a.unsqueeze(0).repeat(k, 1, 1).contiguous().requires_grad_(True),
                        b.unsqueeze(0).repeat(k, 1, 1).contiguous().requires_grad_(True),
                        float(module.scaling[TRAINING_SLOT]),
                        float(getattr(dropout, "p", 0.0)),
                    )
                )
        self.route = torch.arange(k)
        self._segments: list[tuple[int, int]] | None = None
        self._gather = self._scatter = None

    @classmethod
    def joined(cls, stacks: Sequence[StackedLora]) -> StackedLora:
        """One stack of the candidates of `stacks`, in order (trained in groups, e.g. to fit in memory)."""
        if len(stacks) == 1:
            return stacks[0]
        out = copy.copy(stacks[0])
        out.k = sum(s.k for s in stacks)
        with torch.no_grad():
            out.layers = [
                replace(
                    layer,
                    a=torch.cat([s.layers[i].a for s in stacks]).requires_grad_(True),
                    b=torch.cat([s.layers[i].b for s in stacks]).requires_grad_(True),
                )
                for i, layer in enumerate(stacks[0].layers)
            ]
        out.route, out.segments = torch.arange(out.k), None
        return out

    @property
    def segments(self) -> list[tuple[int, int]] | None:
        """Token range of each group in the packed layout; None: equal row groups."""
        return self._segments

    @segments.setter
    def segments(self, segments: list[tuple[int, int]] | None) -> None:
        # Groups padded to the longest for batched matmuls: `_gather` picks each group's tokens (pad
        # slots repeat its first token), `_scatter` finds every packed token's slot back. The padded
        # copy is kept for backward, so very uneven groups go one segment at a time instead.
        self._segments = segments
        self._gather = self._scatter = None
        if not segments:
            return
        width = max(end - start for start, end in segments)
        if len(segments) * width > PAD_LIMIT * sum(end - start for start, end in segments):
            return
        self._gather = torch.tensor([start + min(i, end - start - 1) for start, end in segments for i in range(width)])
        self._scatter = torch.tensor(
            [g * width + i for g, (start, end) in enumerate(segments) for i in range(end - start)]
        )

    def parameters(self) -> list[torch.Tensor]:
        return [t for layer in self.layers for t in (layer.a, layer.b)]

    @contextlib.contextmanager
    def applied(self, route: Sequence[int] | None = None) -> Iterator:
        """Run the PEFT model with the stacked adapters; rows are `len(route)` equal groups."""
        self.route = torch.tensor(list(route) if route is not None else range(self.k))
        self.segments = None
        handles = [layer.module.register_forward_hook(self._hook(layer)) for layer in self.layers]
        try:
            with self.host.peft.disable_adapter():
                yield self.host.peft
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, layer: _Layer):
        def hook(module, args, output):
            x = args[0]
            if self._segments is not None and self._gather is None:
                return output + self._segment_delta(layer, module, x).to(output.dtype)
            groups = len(self.route)
            whole = groups == self.k and bool((self.route == torch.arange(self.k)).all())
            a = layer.a if whole else layer.a[self.route]
            b = layer.b if whole else layer.b[self.route]
            if self._gather is not None:  # packed row -> (groups, longest, in) -> back to the packed row
                xs = x[0].index_select(0, self._gather.to(x.device)).view(groups, -1, x.shape[-1])
            else:
                xs = x.reshape(groups, -1, x.shape[-1])
            xs = xs.to(a.dtype)
            if layer.dropout and module.training:
                xs = torch.nn.functional.dropout(xs, layer.dropout, training=True)
            delta = torch.bmm(torch.bmm(xs, a) * layer.scale, b)
            if self._scatter is not None:
                delta = delta.view(-1, delta.shape[-1]).index_select(0, self._scatter.to(x.device))
            return output + delta.reshape(output.shape).to(output.dtype)

        return hook

    def _segment_delta(self, layer: _Layer, module, x: torch.Tensor) -> torch.Tensor:
        pieces = []
        for (start, end), i in zip(self._segments, self.route.tolist()):
            xs = x[:, start:end].to(layer.a.dtype)
            if layer.dropout and module.training:
                xs = torch.nn.functional.dropout(xs, layer.dropout, training=True)
            pieces.append((xs @ layer.a[i]) * layer.scale @ layer.b[i])
        return torch.cat(pieces, dim=1)

    @torch.no_grad()
    def copy_slot(self, rows: Sequence[int]) -> None:
        """Set candidates `rows` to the host's current training-slot weights (e.g. another seed's init)."""
        for layer in self.layers:
            for i in rows:
                layer.a[i].copy_(layer.module.lora_A[TRAINING_SLOT].weight.t())
                layer.b[i].copy_(layer.module.lora_B[TRAINING_SLOT].weight.t())

    @torch.no_grad()
    def export(self, index: int) -> None:
        """Copy candidate `index` into the host's training slot (to save it or use it alone)."""
        for layer in self.layers:
            layer.module.lora_A[TRAINING_SLOT].weight.copy_(layer.a[index].t())
            layer.module.lora_B[TRAINING_SLOT].weight.copy_(layer.b[index].t())


class BatchedAdamW:
    """AdamW over stacked tensors whose first dimension is the candidate; one lr and one on/off per candidate.

    Same update as torch.optim.AdamW for each candidate; candidates switched off (finished) keep
    their weights and moments untouched.
    """

    def __init__(self, params: list[torch.Tensor], betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.params, self.betas, self.eps, self.weight_decay = params, betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.steps = torch.zeros(params[0].shape[0]) if params else torch.zeros(0)

    @torch.no_grad()
    def step(self, lr: torch.Tensor, active: torch.Tensor) -> None:
        """`lr` (k,) learning rates; `active` (k,) bool: which candidates take this step."""
        b1, b2 = self.betas
        self.steps += active.float()
        t = self.steps.clamp(min=1)
        on = active.float()
        shape = lambda v, p: v.to(p.device, p.dtype).view(-1, *([1] * (p.dim() - 1)))  # noqa: E731
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            keep = shape(on, p)
            m.mul_(1 - keep * (1 - b1)).add_(keep * (1 - b1) * g)
            v.mul_(1 - keep * (1 - b2)).add_(keep * (1 - b2) * g * g)
            step_size = shape(lr / (1 - b1**t), p) * keep
            denom = (v / shape(1 - b2**t, p)).sqrt_().add_(self.eps)
            if self.weight_decay:
                p.mul_(1 - shape(lr, p) * keep * self.weight_decay)
            p.sub_(step_size * m / denom)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None
