"""A lean inference-only forward for Llama-family causal LMs (Llama, Mistral, Qwen2) on the CPU.

For a small model the HF forward spends most of a decode step on framework overhead (cache
objects, mask builders, module dispatch). Here a `Decoder` holds the weights as plain tensors, a
`Session` holds a static KV cache sized prompt + new tokens, and a step is ~30 tensor ops per
layer. RoPE comes from the model's own rotary module (rope_theta and static scalings respected);
attention is SDPA with left-padding masks; only the last position's logits are computed.

Two precisions (`decoder(model, exact=...)`):
  exact  the model's own tensors, no copies; active LoRA adapters applied as PEFT does
         (x@A.T@B.T·scale), so tokens match the HF forward (greedy decoding: recall, judge, ask).
  bf16   on CPUs with AVX512-BF16, for models of 20M-2B params (device.CPU_BF16_PARAMS): a bf16 copy of the
         layer weights (q|k|v and gate|up fused) in oneDNN's packed layout, LoRA folded in
         (W + scale·B·A). ~3x faster matmuls than fp32 here; norms, RoPE, attention, KV cache and
         the residual stream stay fp32. Used for sampling (self-edits), where token-exactness
         means nothing. Greedy bf16 decoding diverges from fp32 at near-ties (even with the top
         logits recomputed in fp32, which removes the ties bf16 rounding creates), so greedy
         decoding stays exact unless BF16 is True.
         Projections whose weights already lie on a 4-bit grid (groups of 32 along the input,
         min + scale·q: a Q4_0/Q4_1 GGUF such as the embedded model, no adapter folded in) also
         get an int4 copy (no requantization; scales and zeros in bf16), used for up to INT4_ROWS
         rows: decoding one stream is memory-bound and reads a quarter of the bytes (~3x faster
         matmuls here, bench speed: 72 tok/s sampling against 43 with bf16 alone).

Anything the lean forward does not reproduce (other architectures, forward hooks, quantized or
DoRA layers, dynamic RoPE, active dropout, CUDA) is refused by `unsupported_reason`, and
`generation.generate` falls back to the HF forward.

Decoders are cached per model (the last `KEEP` of each precision) and rebuilt when any source
tensor was replaced or modified in place (identity, data_ptr and autograd version counter, checked
on every lookup). In-place writes through `.data` bypass the version counter: call
`invalidate(model)` after them.
"""

from __future__ import annotations

import sys
import weakref
from typing import Optional

import torch
import torch.nn.functional as F

from seal_desk.model.device import cpu_bf16_pays, cpu_packed_bf16

ARCHS = ("llama", "mistral", "qwen2")
KEEP = {None: 4, torch.bfloat16: 1}  # decoders cached per model and precision (exact ones copy nothing)
BF16: Optional[bool] = None  # None: bf16 for sampling on CPUs with AVX512-BF16; True/False: always/never
REFINE = 16  # bf16 greedy decoding: the top logits recomputed in fp32
INT4: Optional[bool] = None  # None: int4 copies of projections that are on a 4-bit grid; False: never
INT4_GROUP = 32
INT4_ROWS = 4  # the int4 kernel beats packed bf16 up to ~4 rows, then falls behind (measured here)

_PROJ = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)


class Unsupported(Exception):
    pass


def unsupported_reason(model) -> Optional[str]:
    """Why the lean forward cannot run `model` as it is now, or None when it can."""
    try:
        _plan(model)
    except Unsupported as exc:
        return str(exc)
    return None


def supported(model) -> bool:
    return unsupported_reason(model) is None


def invalidate(model) -> None:
    """Drop the cached decoders of `model` (needed only after in-place writes through `.data`)."""
    _CACHE.pop(_core(model), None)


def _core(model):
    """The HF *ForCausalLM itself, or the one inside a PeftModel (PeftModel -> LoraModel -> model)."""
    peft = sys.modules.get("peft")
    return model.base_model.model if peft is not None and isinstance(model, peft.PeftModel) else model


def _check(ok: bool, why: str) -> None:
    if not ok:
        raise Unsupported(why)


def _linear(module) -> tuple[torch.nn.Linear, list[tuple[str, torch.Tensor, torch.Tensor, float]]]:
    """The base Linear of a projection and its active LoRA terms (name, A, B, scale)."""
    if not hasattr(module, "base_layer"):
        _check(type(module) is torch.nn.Linear, f"{type(module).__name__} is not a plain Linear")
        return module, []
    from peft.tuners.lora import Linear as LoraLinear

    _check(type(module) is LoraLinear, f"{type(module).__name__} adapter layers are not supported")
    base = module.base_layer
    _check(type(base) is torch.nn.Linear, f"{type(base).__name__} base layers are not supported")
    _check(not module.merged, "merged adapters are not supported")
    if module.disable_adapters:
        return base, []
    terms = []
    for name in module.active_adapters:
        if name not in module.lora_A:
            continue
        _check(name not in module.lora_variant and not module.use_dora.get(name, False), "DoRA/variant adapters")
        _check(not module.lora_bias.get(name, False) and not module.fan_in_fan_out, "LoRA bias/fan_in_fan_out")
        terms.append((name, module.lora_A[name].weight, module.lora_B[name].weight, float(module.scaling[name])))
    return base, terms


def _plan(model):
    """Check `model` and collect what a Decoder needs: (core, per-layer projections, meta key)."""
    core = _core(model)
    config = getattr(core, "config", None)
    _check(getattr(config, "model_type", None) in ARCHS, f"model type {getattr(config, 'model_type', None)!r}")
    inner = getattr(core, "model", None)
    _check(all(hasattr(inner, a) for a in ("embed_tokens", "layers", "norm", "rotary_emb")), "unexpected layout")
    _check(isinstance(getattr(core, "lm_head", None), torch.nn.Linear), "lm_head is not a Linear")
    _check(config.hidden_act == "silu", f"activation {config.hidden_act}")
    rope_type = getattr(inner.rotary_emb, "rope_type", "default")
    _check("dynamic" not in rope_type and rope_type != "longrope", f"{rope_type} RoPE")
    _check(inner.embed_tokens.weight.device.type == "cpu", "not on the CPU")
    hooks = torch.nn.modules.module
    _check(not (hooks._global_forward_hooks or hooks._global_forward_pre_hooks), "global forward hooks")
    _check(not (core.training and getattr(config, "attention_dropout", 0.0)), "attention dropout (training mode)")
    for name, module in model.named_modules():
        _check(not (module._forward_hooks or module._forward_pre_hooks), f"forward hooks on {name or 'model'}")
        _check("forward" not in module.__dict__, f"a patched forward on {name or 'model'} (accelerate?)")
        _check(not (module.training and isinstance(module, torch.nn.Dropout) and module.p), "dropout (training mode)")
    layers = []
    for layer in inner.layers:
        _check(
            set(n for n, _ in layer.named_children())
            == {"self_attn", "mlp", "input_layernorm", "post_attention_layernorm"},
            "unexpected layer",
        )
        _check(not any(n for n, _ in layer.self_attn.named_children() if n.endswith("_norm")), "q/k norms")
        layers.append([_linear(layer.get_submodule(p)) for p in _PROJ])
    meta = tuple((n, s) for projs in layers for _, terms in projs for n, _, _, s in terms)
    return core, layers, meta


def decoder(model, exact: bool = True) -> Decoder:
    """The cached Decoder for `model`'s current weights and adapters (built when missing or stale).
    exact=False allows bf16 matmuls (see the module docstring)."""
    core, layers, meta = _plan(model)
    dtype = None if exact and BF16 is not True else _fast_dtype(core)
    if exact and dtype is None and core.model.embed_tokens.weight.dtype != torch.float32:
        # the lean path keeps norms, residual and cache in fp32: with bf16/fp16 weights its tokens
        # would differ from the HF forward's, which rounds those to the weights' dtype
        raise Unsupported(f"{core.model.embed_tokens.weight.dtype} weights (exact decoding needs fp32)")
    sources = _sources(core, layers)
    entries = _CACHE.setdefault(core, [])
    for entry in entries:
        if entry.key == (meta, dtype, INT4) and entry.fresh(sources):
            entries.remove(entry)
            entries.insert(0, entry)
            return entry
    same = [entry for entry in entries if entry.key[1] == dtype]
    if len(same) >= KEEP[dtype]:
        entries.remove(same[-1])  # the least recently used of this precision
    entries.insert(0, Decoder(core, layers, dtype, (meta, dtype, INT4), sources))
    return entries[0]


_CACHE: weakref.WeakKeyDictionary[torch.nn.Module, list[Decoder]] = weakref.WeakKeyDictionary()


def _fast_dtype(core) -> Optional[torch.dtype]:
    """bf16 when allowed, possible (`device.cpu_packed_bf16`) and it pays (fp32 weights,
    `device.cpu_bf16_pays`), else None (exact)."""
    if BF16 is False or core.model.embed_tokens.weight.dtype != torch.float32 or not cpu_packed_bf16():
        return None
    if BF16 is None and not cpu_bf16_pays(sum(p.numel() for p in core.parameters())):
        return None
    return torch.bfloat16


def _sources(core, layers) -> list[torch.Tensor]:
    """Every tensor a Decoder reads or copies, in a fixed order."""
    out = [core.model.embed_tokens.weight, core.model.norm.weight, core.lm_head.weight, core.model.rotary_emb.inv_freq]
    for layer, projs in zip(core.model.layers, layers):
        out += [layer.input_layernorm.weight, layer.post_attention_layernorm.weight]
        for base, terms in projs:
            out += [t for t in (base.weight, base.bias) if t is not None]
            out += [t for _, a, b, _ in terms for t in (a, b)]
    return out


def _pack(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bf16 copy in oneDNN's blocked layout (plain bf16 F.linear is ~2x slower at decode sizes)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().to(dtype).contiguous(), 1)


def _packed_mm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x.to(torch.bfloat16), weight, None, "none", [], "")


def _int4(weight: torch.Tensor) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
    """(packed int4, bf16 scales and zeros) when `weight` (out, in) already lies on an asymmetric
    4-bit grid in groups of INT4_GROUP along the input, else None (requantizing would lose accuracy)."""
    if INT4 is False or weight.shape[1] % INT4_GROUP or weight.shape[0] % 16:
        return None

    def grid(rows: torch.Tensor) -> Optional[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        groups = rows.float().reshape(rows.shape[0], -1, INT4_GROUP)
        low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
        scale = ((high - low) / 15).clamp(min=1e-12)
        steps = (groups - low) / scale
        q = steps.round()
        return (q, scale, low) if float((steps - q).abs().amax()) <= 1e-3 else None

    if grid(weight[:16]) is None:  # most weights are not 4-bit: tell from a few rows
        return None
    found = grid(weight)
    if found is None:
        return None
    q, scale, low = found
    try:
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32).reshape(weight.shape), 1)
    except (RuntimeError, AttributeError):
        return None
    zeros = low + 8 * scale  # the kernel computes (q - 8)·scale + zero
    scales = torch.cat([scale, zeros], -1).transpose(0, 1).contiguous().to(torch.bfloat16)
    # The kernel's layout conventions have changed across torch releases: use it only if it computes
    # x @ W.T here (to bf16 accuracy) for a random row.
    x = torch.randn(1, weight.shape[1], generator=torch.Generator().manual_seed(0))
    try:
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(x.to(torch.bfloat16), packed, INT4_GROUP, scales).float()
    except RuntimeError:
        return None
    ref = x @ weight.float().T
    return (packed, scales) if float((y - ref).norm()) <= 0.02 * float(ref.norm()) + 1e-6 else None


class Linear:
    """Projections sharing one input (q|k|v, gate|up, o, down); their outputs concatenated.

    exact (dtype None): the model's tensors, LoRA terms applied after the base matmul like PEFT.
    bf16: one fused packed copy with LoRA folded in, plus an int4 copy when that is lossless (see
    `_int4`); returns bf16 (fp32 ops promote it back)."""

    def __init__(self, projs, dtype: Optional[torch.dtype]) -> None:
        self.parts = [
            (base.weight.detach(), _detach(base.bias), [(a.detach(), b.detach(), scale) for _, a, b, scale in terms])
            for base, terms in projs
        ]
        self.packed = self.bias = self.int4 = None
        if dtype is not None:
            weights = torch.cat(
                [w.float() + sum((s * (b.float() @ a.float()) for a, b, s in terms), 0.0) for w, _, terms in self.parts]
            )
            self.packed = _pack(weights, dtype)
            self.int4 = _int4(weights)
            if any(bias is not None for _, bias, _ in self.parts):
                self.bias = torch.cat(
                    [bias.float() if bias is not None else torch.zeros(len(w)) for w, bias, _ in self.parts]
                )
            self.parts = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.int4 is not None and x.shape[:-1].numel() <= INT4_ROWS:
            weight, scales = self.int4
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(
                x.reshape(-1, x.shape[-1]).to(torch.bfloat16).contiguous(), weight, INT4_GROUP, scales
            ).view(*x.shape[:-1], -1)
            return y if self.bias is None else y + self.bias
        if self.packed is not None:
            y = _packed_mm(x, self.packed)
            return y if self.bias is None else y + self.bias
        outs = []
        for weight, bias, terms in self.parts:
            y = F.linear(x.to(weight.dtype), weight, bias)
            for a, b, scale in terms:
                y = y + F.linear(F.linear(x.to(a.dtype), a), b) * scale
            outs.append(y)
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)


def _detach(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return t.detach() if t is not None else None


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return F.rms_norm(x, weight.shape, weight, eps)  # bit-identical to HF's LlamaRMSNorm in fp32


class Decoder:
    """The weights of one model state (exact or bf16), and the forward pass over them."""

    def __init__(self, core, layers, dtype: Optional[torch.dtype], key, sources) -> None:
        config, inner = core.config, core.model
        self.key = key
        self._refs = [(weakref.ref(t), t.data_ptr(), t._version) for t in sources]
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.inter = config.intermediate_size
        self.eps = inner.layers[0].input_layernorm.variance_epsilon
        self.window = getattr(config, "sliding_window", None)
        self.embed = inner.embed_tokens.weight.detach()
        self.norm = inner.norm.weight.detach().float()
        self.lm_head = core.lm_head.weight.detach()
        self.lm_bias = _detach(core.lm_head.bias)
        self.lm_rough = _pack(self.lm_head, dtype) if dtype is not None else None
        self.rotary = inner.rotary_emb
        self.layers = [
            (
                layer.input_layernorm.weight.detach().float(),
                Linear(projs[0:3], dtype),
                Linear(projs[3:4], dtype),
                layer.post_attention_layernorm.weight.detach().float(),
                Linear(projs[4:6], dtype),
                Linear(projs[6:7], dtype),
            )
            for layer, projs in zip(inner.layers, layers)
        ]

    def fresh(self, sources: list[torch.Tensor]) -> bool:
        return len(sources) == len(self._refs) and all(
            ref() is t and t.data_ptr() == ptr and t._version == version
            for (ref, ptr, version), t in zip(self._refs, sources)
        )

    def logits(self, h: torch.Tensor, refine: bool) -> torch.Tensor:
        """lm_head. bf16: a rough pass over the vocabulary; with `refine` (for greedy decoding: bf16
        rounding creates ties) its top REFINE logits are redone in fp32."""
        if self.lm_rough is None:
            return F.linear(h.to(self.lm_head.dtype), self.lm_head, self.lm_bias).float()
        logits = _packed_mm(h, self.lm_rough).float()
        logits = logits if self.lm_bias is None else logits + self.lm_bias
        if not refine:
            return logits
        top = logits.topk(min(REFINE, logits.shape[-1]), dim=-1).indices
        exact = (self.lm_head[top] @ h[:, :, None]).squeeze(-1)
        return logits.scatter_(-1, top, exact if self.lm_bias is None else exact + self.lm_bias[top])

    def forward(self, session: Session, ids: torch.Tensor) -> torch.Tensor:
        """Run `ids` (B, S) at the session's next positions; returns the last position's logits (B, V)."""
        rows, s = ids.shape
        assert s == 1 or session.length == 0, "the prompt comes first, then one token per step"
        if s > 1 and rows > 1 and session.mask is None and bool((ids == ids[:1]).all()):
            ids = ids[:1]  # k samples of one prompt: prefill it once, the cache writes broadcast to every row
        n = ids.shape[0]
        H, KV, D = self.heads, self.kv_heads, self.head_dim
        t = session.length
        end = t + s
        x = F.embedding(ids, self.embed).float()
        cos, sin = session.cos[:n, t:end, None], session.sin[:n, t:end, None]
        for i, (ln1, qkv_proj, o_proj, ln2, gate_up_proj, down_proj) in enumerate(self.layers):
            qkv = qkv_proj(_rms(x, ln1, self.eps)).float().view(n, s, H + 2 * KV, D)
            qk = qkv[:, :, : H + KV]
            qk = qk * cos + qk.roll(D // 2, -1) * sin  # == q·cos + rotate_half(q)·sin (sin pre-signed)
            k_cache, v_cache = session.k[i], session.v[i]
            k_cache[:, :, t:end] = qk[:, :, H:].transpose(1, 2)
            v_cache[:, :, t:end] = qkv[:, :, H + KV :].transpose(1, 2)
            keys, values = k_cache[:n, :, :end], v_cache[:n, :, :end]
            if s == 1:  # GQA as one batched attention: the query heads of a kv head act as its queries
                q = qk[:, 0, :H].reshape(n, KV, H // KV, D)
                mask = session.mask[..., :end] if session.mask is not None else None
                att = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
            else:
                q = qk[:, :, :H].transpose(1, 2)
                mask = session.prefill_mask(s)
                att = F.scaled_dot_product_attention(
                    q, keys, values, attn_mask=mask, is_causal=mask is None, enable_gqa=KV != H
                ).transpose(1, 2)
            x = x + o_proj(att.reshape(n, s, H * D))
            gu = gate_up_proj(_rms(x, ln2, self.eps)).float()
            x = x + down_proj(F.silu(gu[..., : self.inter]) * gu[..., self.inter :])
        session.length = end
        return self.logits(_rms(x[:, -1], self.norm, self.eps), session.greedy).expand(rows, -1)


class Session:
    """One batched generation: static KV cache, positions and key mask for `mask.shape[1] + new` tokens.
    `greedy`: the logits feed an argmax (see Decoder.logits)."""

    def __init__(self, dec: Decoder, mask: torch.Tensor, new_tokens: int, greedy: bool = True) -> None:
        n, width = mask.shape
        self.greedy = greedy
        total = width + new_tokens
        if dec.window is not None and total > dec.window:
            raise Unsupported("sequence longer than the sliding window")
        self.length = 0
        shape = (n, dec.kv_heads, total, dec.head_dim)
        self.k = [torch.empty(shape) for _ in dec.layers]
        self.v = [torch.empty(shape) for _ in dec.layers]
        valid = torch.ones(n, total, dtype=torch.bool)
        valid[:, :width] = mask.bool()
        self.mask = None if bool(mask.all()) else valid[:, None, None, :]  # decode: every real key so far
        prompt = (mask.cumsum(-1) - 1).clamp(min=0)  # the HF loop's position ids (pads at 0)
        positions = torch.cat([prompt, prompt[:, -1:] + torch.arange(1, new_tokens + 1)], -1)
        table = torch.arange(int(positions.max()) + 1)[None]
        cos, sin = dec.rotary(torch.zeros(1, dtype=torch.float32), table)
        half = dec.head_dim // 2
        sin = torch.cat([-sin[..., :half], sin[..., half:]], -1)
        self.cos, self.sin = cos[0][positions], sin[0][positions]

    def prefill_mask(self, s: int) -> Optional[torch.Tensor]:
        """Causal over the prompt, pad keys hidden; pad queries see themselves (no all-masked rows).
        None when nothing is padded (plain causal attention)."""
        if self.mask is None:
            return None
        causal = torch.ones(s, s, dtype=torch.bool).tril()
        return causal & (self.mask[:, :, :, :s] | torch.eye(s, dtype=torch.bool))
