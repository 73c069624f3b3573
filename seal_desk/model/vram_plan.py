"""How much GPU memory an inner loop needs: pure arithmetic over a preset's `[architecture]`.

The estimate is the peak of phases that never overlap, plus a fixed CUDA overhead:

    peak       = max(training, generation) + CUDA_OVERHEAD
    training   = weights + LoRA (weights, grads, optimizer) + dequant + activations
                 + max(logits, recompute + model-dtype logits)
    generation = weights + LoRA weights + max(self-edit sampling, recall)

Every term counts bytes. Symbols: h hidden size, I intermediate size, L layers, qd = heads·head_dim,
kvd = kv_heads·head_dim, V vocabulary, r LoRA rank, a the activation bytes (2 for nf4/bf16/fp16,
whose compute runs in 16 bits; 4 for fp32), T = seq_len · batch_size · k tokens per training step.

Weights. NF4 (QLoRA, double quantisation): every decoder Linear costs 0.5 byte a parameter (4-bit
codes) plus its absmax: one 8-bit absmax per block of 64 parameters and one fp32 absmax per 256 of
those blocks, 1/64 + 4/(64·256) byte (0.127 bit) a parameter. bitsandbytes leaves embeddings,
lm_head, norms and biases unquantised: they stay bf16. bf16/fp16/fp32: 2/2/4 bytes a parameter.

LoRA. Each targeted Linear (in → out) adds P = r·(in + out) parameters, in fp32 (peft's default).
Per trained candidate: weights 4 + grads 4 + AdamW moments 2·4 bytes a parameter (2·1 with the paged
8-bit AdamW, which trains one adapter at a time: k > 1 candidates keep fp32 moments); grads are counted as if all present at the peak (they fill in as backward runs).
k > 1 candidates train side by side (StackedLora): k stacked copies, plus the PEFT slot's own adapter
(weights only). bf16 autocast also keeps a bf16 copy of each trained LoRA weight (2 bytes a parameter).

Activations saved for backward, per token and decoder layer (frozen base, LoRA on the targets):
    norms       2·4h              each RMSNorm keeps its fp32 up-cast input
    attention   a·(2·qd + 2·kvd) + 4·heads
                                  SDPA keeps q, k, v and its output (+ fp32 logsumexp); flash or
                                  memory-efficient kernels: no seq² matrix (eager attention adds one)
    MLP         3·a·I             the gate and up outputs and SiLU(gate)
    LoRA        per target, its input and the output of A (r wide):
                precision "fp32" on a 16-bit model: each LoRA casts its input to fp32 and keeps that
                copy, 4·in + 4r per target;
                precision "bf16" (autocast) with k = 1 (peft's LoRA), or an fp32 model: the module's
                input itself, shared by q/k/v and by gate/up: a·in per distinct input, + a·r per target;
                precision "bf16" with k > 1 (StackedLora's hooks cast each input): a·in + a·r per target.
The frozen Linears, 4-bit or not, keep nothing: their weights need no gradient. (Measured on a small
Qwen2 on the CPU with saved-tensor hooks: within 5% of this count; tests/model/test_vram_plan.py.)
Without gradient checkpointing all L layers stay saved: activations = L·per_layer·T. With it (per
decoder layer) only each layer's input stays, activations = L·a·h·T, and backward recomputes one
layer at a time: recompute = per_layer·T. Both add the final norm's 4h·T.

Logits. lm_head's output over the vocabulary at the loss's backward, (a + 12)·V a token: the
model-dtype logits (a), the fp32 log-softmax cross-entropy keeps (4), then in backward its fp32
gradient and the fp32 gradient of the logits (4 + 4). At V = 152k that is 2 MB a token. With
checkpointing the recompute comes after these are freed, all but the model-dtype logits.

Dequant. A 4-bit Linear dequantises its weight to bf16 for each matmul: 2 bytes times the largest
Linear, transient.

Generation. Self-edit sampling (gen_batch sequences, default k, of gen_prompt + gen_new tokens) and
recall (recall_batch questions for each of the k candidates, recall_prompt + recall_new tokens):
each a KV cache 2·L·kvd·tokens·batch·a, plus its prefill's transients: the logits of every prompt
position (a·V: the HF forward computes them all) and one layer's MLP (3·a·I) per prompt token.

Not counted: optimizer-step transients (they come after the activations are freed), the gradients
flowing through one layer in backward (less than a layer's activations), allocator fragmentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Optional

from seal_desk.config import DEFAULT_TARGETS, InnerLoopConfig, RecallConfig, SelfEditConfig

GiB = 2**30
CUDA_OVERHEAD = 512 * 2**20  # CUDA context, cuBLAS workspace, allocator reserve: outside torch's own counters
NF4_BLOCK = 64  # parameters per 4-bit block (one 8-bit absmax each, with double quantisation)
NF4_ABSMAX_BLOCK = 256  # 8-bit absmaxes per fp32 second-level absmax
NF4_BYTES = 0.5 + 1 / NF4_BLOCK + 4 / (NF4_BLOCK * NF4_ABSMAX_BLOCK)  # ≈ 0.5159 byte a parameter
WEIGHT_BYTES = {"nf4": NF4_BYTES, "bf16": 2, "fp16": 2, "fp32": 4}
LORA_BYTES = 4  # fp32 LoRA weights (and their grads)
OPTIMIZER_STATE_BYTES = {"adamw": 2 * 4, "paged-adamw-8bit": 2 * 1}  # two moments a parameter (config.OPTIMIZERS)
LOGIT_EXTRA_BYTES = 4 + 4 + 4  # fp32 log-softmax kept, its gradient, the logits' fp32 gradient
RECALL_PROMPT = 128  # tokens of a closed-book question prompt (a generous bound)
_SAME_INPUT = {"q_proj": "x", "k_proj": "x", "v_proj": "x", "gate_proj": "y", "up_proj": "y"}


@dataclass(frozen=True)
class Architecture:
    """The sizes the planner needs, from a preset's `[architecture]` (HF config field names)."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    qkv_bias: bool = False

    @classmethod
    def from_config(cls, fields: Mapping[str, Any]) -> Architecture:
        hidden, heads = int(fields["hidden_size"]), int(fields["num_attention_heads"])
        return cls(
            hidden=hidden,
            intermediate=int(fields["intermediate_size"]),
            layers=int(fields["num_hidden_layers"]),
            heads=heads,
            kv_heads=int(fields.get("num_key_value_heads") or heads),
            head_dim=int(fields.get("head_dim") or hidden // heads),
            vocab=int(fields["vocab_size"]),
            tied=bool(fields.get("tie_word_embeddings", False)),
            # Qwen2 always biases q/k/v; Llama-likes say so in attention_bias
            qkv_bias=bool(fields.get("attention_bias", fields.get("model_type") == "qwen2")),
        )

    def linears(self) -> dict[str, tuple[int, int]]:
        """Each decoder layer's Linear modules: name -> (in, out)."""
        h, i = self.hidden, self.intermediate
        qd, kvd = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {
            "q_proj": (h, qd),
            "k_proj": (h, kvd),
            "v_proj": (h, kvd),
            "o_proj": (qd, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def linear_params(self) -> int:
        """Parameters of the decoder Linears (what bitsandbytes quantises)."""
        return self.layers * sum(i * o for i, o in self.linears().values())

    @property
    def other_params(self) -> int:
        """Parameters bitsandbytes leaves unquantised: embeddings, lm_head, norms, q/k/v biases."""
        embed = self.vocab * self.hidden * (1 if self.tied else 2)
        norms = self.layers * 2 * self.hidden + self.hidden
        bias = self.layers * (self.heads + 2 * self.kv_heads) * self.head_dim if self.qkv_bias else 0
        return embed + norms + bias

    @property
    def params(self) -> int:
        return self.linear_params + self.other_params


@dataclass(frozen=True)
class PlanSettings:
    quantization: str = "nf4"  # nf4 | bf16 | fp16 | fp32
    lora_r: int = 32
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    k: int = 1  # candidates trained side by side
    batch_size: int = 1
    seq_len: int = 1024  # the longest training sequence (InnerLoopConfig.max_seq_len)
    precision: str = "fp32"  # training matmuls (InnerLoopConfig.precision): "fp32", or "bf16" autocast
    checkpointing: bool = False
    optimizer: str = "adamw"  # "adamw" (fp32 moments) or "paged-adamw-8bit" (8-bit moments, one candidate only)
    gen_batch: int = 0  # self-edits sampled at once; 0: k
    gen_prompt: int = 0  # their prompt tokens; 0: seq_len
    gen_new: int = 384  # their new tokens (SelfEditConfig.max_new_tokens)
    recall_batch: int = 16  # questions per recall batch, for each candidate (RecallConfig.batch_size)
    recall_prompt: int = RECALL_PROMPT
    recall_new: int = 32  # RecallConfig.max_new_tokens

    @property
    def activation_bytes(self) -> int:
        return 4 if self.quantization == "fp32" else 2


def settings_for(
    inner: InnerLoopConfig,
    self_edit: Optional[SelfEditConfig] = None,
    quantization: str = "nf4",
    recall: Optional[RecallConfig] = None,
    **changes: Any,
) -> PlanSettings:
    """The planner's settings for these configs (`changes`: any PlanSettings field, e.g. k=5).

    Gradient checkpointing is on when the config says "on"; "auto" plans without it (the engine asks
    `needs_checkpointing` whether to turn it on)."""
    self_edit, recall = self_edit or SelfEditConfig(), recall or RecallConfig()
    base = PlanSettings(
        quantization=quantization,
        lora_r=inner.lora.r,
        target_modules=tuple(inner.lora.target_modules),
        batch_size=inner.batch_size,
        seq_len=inner.max_seq_len,
        precision=inner.precision,
        checkpointing=getattr(inner, "gradient_checkpointing", "auto") == "on",
        optimizer=getattr(inner, "optimizer", "adamw"),
        gen_new=self_edit.max_new_tokens,
        recall_batch=recall.batch_size,
        recall_new=recall.max_new_tokens,
    )
    return replace(base, **changes)


@dataclass(frozen=True)
class VramPlan:
    """Estimated peak GPU memory of an inner loop, term by term (bytes; see the module's docstring)."""

    arch: Architecture
    settings: PlanSettings
    weights: int
    lora_weights: int
    lora_grads: int
    optimizer: int
    dequant: int
    activations: int  # saved for backward (with checkpointing: the layers' inputs)
    recompute: int  # with checkpointing: one layer's activations, recomputed in backward
    logits: int  # at the loss's backward
    model_logits: int  # the model-dtype logits alone (alive until the step ends)
    sampling: int  # self-edit sampling: KV cache + prefill
    recall: int  # recall of k candidates: KV cache + prefill
    overhead: int = CUDA_OVERHEAD

    @property
    def training(self) -> int:
        fixed = self.weights + self.lora_weights + self.lora_grads + self.optimizer + self.dequant
        return fixed + self.activations + max(self.logits, self.recompute + self.model_logits)

    @property
    def generation(self) -> int:
        return self.weights + self.lora_weights + max(self.sampling, self.recall)

    @property
    def total(self) -> int:
        return max(self.training, self.generation) + self.overhead

    def breakdown(self) -> dict[str, int]:
        """Each term by name, then the two phases and the total."""
        return {
            "weights": self.weights,
            "LoRA weights": self.lora_weights,
            "LoRA grads": self.lora_grads,
            "optimizer": self.optimizer,
            "dequant": self.dequant,
            "activations": self.activations,
            "recompute": self.recompute,
            "logits": self.logits,
            "sampling": self.sampling,
            "recall": self.recall,
            "CUDA overhead": self.overhead,
            "training": self.training,
            "generation": self.generation,
            "total": self.total,
        }


def lora_params(arch: Architecture, settings: PlanSettings) -> int:
    """LoRA parameters of one adapter: r·(in + out) for every targeted Linear of every layer."""
    targets = [shape for name, shape in arch.linears().items() if name in settings.target_modules]
    return arch.layers * sum(settings.lora_r * (i + o) for i, o in targets)


def _autocast(settings: PlanSettings) -> bool:
    return settings.precision == "bf16" and settings.activation_bytes == 2


def layer_activation_bytes(arch: Architecture, settings: PlanSettings) -> int:
    """Bytes one decoder layer keeps for backward, per trained token (see the module's docstring)."""
    a, h, i, r = settings.activation_bytes, arch.hidden, arch.intermediate, settings.lora_r
    qd, kvd = arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim
    norms = 2 * 4 * h
    attention = a * (2 * qd + 2 * kvd) + 4 * arch.heads
    mlp = 3 * a * i
    inputs = [inp for name, (inp, _) in arch.linears().items() if name in settings.target_modules]
    if a == 2 and settings.precision == "fp32":  # each LoRA keeps its own fp32 copy of its input
        lora = sum(4 * inp + 4 * r for inp in inputs)
    elif _autocast(settings) and settings.k > 1:  # StackedLora's hooks: a 16-bit copy per target
        lora = sum(a * inp + a * r for inp in inputs)
    else:  # the module's input itself, shared by the LoRAs that read the same tensor
        shared = {
            _SAME_INPUT.get(name, name): inp
            for name, (inp, _) in arch.linears().items()
            if name in settings.target_modules
        }
        lora = sum(a * inp for inp in shared.values()) + len(inputs) * a * r
    return norms + attention + mlp + lora


def _generation(arch: Architecture, a: int, batch: int, prompt: int, new: int) -> int:
    kv_cache = 2 * arch.layers * arch.kv_heads * arch.head_dim * (prompt + new) * batch * a
    prefill = batch * prompt * a * (arch.vocab + 3 * arch.intermediate)
    return kv_cache + prefill


def estimate(arch: Architecture, settings: PlanSettings) -> VramPlan:
    """The peak GPU memory of training `settings.k` LoRA candidates (and generating) on `arch`."""
    s, a = settings, settings.activation_bytes
    k = max(1, s.k)
    s = replace(s, k=k)
    if s.quantization == "nf4":
        weights = arch.linear_params * NF4_BYTES + arch.other_params * 2
        dequant = 2 * max(i * o for i, o in arch.linears().values())
    else:
        weights = arch.params * WEIGHT_BYTES[s.quantization]
        dequant = 0
    p = lora_params(arch, s)
    copies = k + (1 if k > 1 else 0)  # stacked candidates + the PEFT slot's own adapter
    tokens = s.seq_len * s.batch_size * k
    per_layer = layer_activation_bytes(arch, s)
    saved = arch.layers * (a * arch.hidden if s.checkpointing else per_layer)
    activations = (saved + 4 * arch.hidden) * tokens + (2 * p * k if _autocast(s) else 0)
    return VramPlan(
        arch=arch,
        settings=s,
        weights=round(weights),
        lora_weights=LORA_BYTES * p * copies,
        lora_grads=LORA_BYTES * p * k,
        optimizer=OPTIMIZER_STATE_BYTES[s.optimizer if k == 1 else "adamw"] * p * k,
        dequant=dequant,
        activations=activations,
        recompute=per_layer * tokens if s.checkpointing else 0,
        logits=(a + LOGIT_EXTRA_BYTES) * arch.vocab * tokens,
        model_logits=a * arch.vocab * tokens,
        sampling=_generation(arch, a, s.gen_batch or k, s.gen_prompt or s.seq_len, s.gen_new),
        recall=_generation(arch, a, s.recall_batch * k, s.recall_prompt, s.recall_new),
    )


def largest_k(budget_bytes: int, arch: Architecture, settings: PlanSettings, limit: int = 64) -> int:
    """The most candidates whose peak fits in `budget_bytes` (0: not even one), up to `limit`."""
    best = 0
    for k in range(1, limit + 1):  # the peak grows with k
        if estimate(arch, replace(settings, k=k)).total > budget_bytes:
            break
        best = k
    return best


def needs_checkpointing(plan: VramPlan, budget: int) -> bool:
    """Whether gradient checkpointing should be on: `plan`'s settings without it exceed `budget` bytes."""
    return estimate(plan.arch, replace(plan.settings, checkpointing=False)).total > budget


def gib(n: float) -> str:
    return f"{n / GiB:.1f} GiB"


def architecture_of(preset) -> Optional[Architecture]:
    """The planner's view of a preset's `[architecture]`, or None when it has none."""
    fields = getattr(preset, "architecture", None) or {}
    return Architecture.from_config(fields) if fields.get("hidden_size") else None


def plan_line(preset, settings: PlanSettings, budget: Optional[int] = None) -> str:
    """One line for loading `preset` on a GPU: its estimated peak at k=1 and k=5 and the k that fits `budget`.

    "" when the preset has no `[architecture]` (nothing to plan from)."""
    arch = architecture_of(preset)
    if arch is None:
        return ""
    one, five = (estimate(arch, replace(settings, k=k)).total for k in (1, 5))
    how = f"{settings.quantization}, r={settings.lora_r}, seq {settings.seq_len}"
    how += ", checkpointing" if settings.checkpointing else ""
    line = f"VRAM plan for {preset.name} ({how}): k=1 ≈ {gib(one)}, k=5 ≈ {gib(five)}"
    if budget:
        fits = largest_k(budget, arch, settings)
        line += f"; {gib(budget)} here fits k ≤ {fits}" if fits else f"; k=1 does not fit {gib(budget)} here"
        with_ckpt = 0 if settings.checkpointing else largest_k(budget, arch, replace(settings, checkpointing=True))
        if with_ckpt > fits:
            line += f" (k ≤ {with_ckpt} with gradient checkpointing)"
    return line
