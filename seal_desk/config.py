"""Visible configuration with defaults from the SEAL paper (Zweiger et al., 2025).

Knowledge incorporation, Qwen2.5-7B: LoRA r=32, alpha=64, lr 1e-3, 10 epochs,
self-edits sampled at temperature 1.0; closed-book recall is greedy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraSettings:
    r: int = 32
    alpha: int = 64
    dropout: float = 0.0
    target_modules: tuple[str, ...] = DEFAULT_TARGETS


PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class InnerLoopConfig:
    """How one self-edit becomes weights: a small LoRA fine-tune."""

    lora: LoraSettings = field(default_factory=LoraSettings)
    lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 1
    group_by_length: bool = False  # batches of similar lengths (for large batches of mixed lengths: the learner)
    max_seq_len: int = 1024
    weight_decay: float = 0.0
    schedule: str = "linear"  # "linear" decay (HF Trainer's default, as SEAL used) or "constant"
    precision: str = "fp32"  # training matmuls: "fp32", or "bf16" autocast (SEAL trained in bf16 on GPUs;
    # on a 2-core AVX512-BF16 CPU it measured slower for bs 1, see docs/results.md)
    gradient_checkpointing: str = "auto"  # "on", "off", or "auto": on when the VRAM planner says the run is short
    # of GPU memory (seal_desk/model/vram_plan.py); recomputes activations in the backward pass, ~30% slower
    optimizer: str = "adamw"  # "adamw" (fp32 moments), or "paged-adamw-8bit" (bitsandbytes: 8-bit moments, paged
    # to CPU RAM under memory pressure; one adapter at a time, k candidates side by side keep fp32 moments)
    stop_loss: float = 0.0  # convergence stop: end a candidate's training after an epoch whose mean loss is under
    # this (per token; 0 = the paper's fixed epoch count). Epochs still set the learning-rate schedule.
    seed: int = 42


@dataclass(frozen=True)
class SelfEditConfig:
    """How self-edits are sampled from the model."""

    format: str = "implications"
    k: int = 1
    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 384
    include_passage: bool = True  # SEAL trains on the self-edit plus the passage itself
    min_grounding: float = (
        0.3  # drop self-edit lines sharing under 30% of content words with the passage (0 = keep all)
    )
    qa_prompt: bool = False  # train question-answer items as recall asks them (prompt, then the answer)
    sentences: bool = False  # also train on each sentence of the passage alone (a deterministic augmentation that
    # measured +12.5 points on reworded questions; the model-written self-edit is trained on top of it)
    select: str = "pool"  # k samples: "pool" trains on all of them (SEAL), "best" on the one covering most of the
    # passage's names, dates and numbers with grounded lines (a score that needs no questions)
    seed: int = 42


@dataclass(frozen=True)
class RecallConfig:
    """Closed-book question answering used to measure what was learned."""

    max_new_tokens: int = 32
    batch_size: int = 16
    judge: bool = False  # also ask the base model for a yes/no verdict on each answer


@dataclass(frozen=True)
class OuterLoopConfig:
    """ReST-EM over self-edits (paper: 2 rounds, 50 passages per round, k=5, each candidate evaluated 3 times)."""

    rounds: int = 2
    passages: int = 50
    k: int = 5
    eval_times: int = 3  # inner-loop runs per candidate with different seeds; reward = their mean
    reward: str = "recall"  # paper: closed-book recall after the inner loop; "answer-logprob": the gold answers'
    # mean log-probability per token after it (teacher forced: no generation, continuous, cheap on a CPU)
    parallel: int = 24  # most candidate adapters trained side by side (memory bound on big models)
    min_grounding: float = 0.0  # reward the self-edit as written: no filtering of its lines
    sft_lr: float = 3e-4  # generator SFT on kept (prompt -> self-edit) pairs, loss on completions
    sft_epochs: int = 2
    sft_lora: LoraSettings = field(default_factory=LoraSettings)
    inner_from: str = "generator"  # after a round, the inner loop trains the new generator (SEAL's reference: the
    # model that writes self-edits is the one that learns from them); "base": always the starting model
    seed: int = 42


@dataclass(frozen=True)
class FewShotConfig:
    """Few-shot mode (ARC): test-time training on a task's demonstrations, sized for a small model.

    SEAL's values (Llama-3.2-1B-Instruct on a GPU) are in the comments; the defaults are what a 135M
    model on a CPU can afford per task. The self-edit config itself (augmentations, strategy, learning
    rate, epochs) is chosen by the model, see seal_desk/arc/self_edit.py.
    """

    lora: LoraSettings = field(default_factory=lambda: LoraSettings(r=16, alpha=32))  # paper: r=128, alpha=16
    leave_out: tuple[int, ...] = (1, 2)  # leave-one-out and leave-two-out episodes (paper, after MARC: both)
    permute_colours: bool = True  # each augmented copy gets its own colour permutation (paper: yes)
    max_examples: int = 16  # training episodes per task after augmentation (paper: every augmented episode)
    max_epochs: int = 3  # the config's num_train_epochs is capped here (paper: as chosen)
    batch_size: int = 1
    max_seq_len: int = 2048  # longer episodes are left out; also capped by the model's context
    vote: bool = False  # also predict on the 7 basic transforms of the test input, invert, majority vote
    config_temperature: float = 1.0  # self-edit configs are sampled, several per task
    config_top_p: float = 0.95
    config_max_new_tokens: int = 160  # a config is ~100 tokens of JSON
    config_prompt_tokens: int = 800  # demonstrations shown to the generator, most that fit this budget
    seed: int = 42


SELECT = ("pool", "best")  # SelfEditConfig.select
INNER_FROM = ("generator", "base")  # OuterLoopConfig.inner_from
REWARDS = ("recall", "answer-logprob")  # OuterLoopConfig.reward
CHECKPOINTING = ("auto", "on", "off")  # InnerLoopConfig.gradient_checkpointing
OPTIMIZERS = ("adamw", "paged-adamw-8bit")  # InnerLoopConfig.optimizer
MIN_SEQ_LEN = 32  # the shortest training sequence limit (InnerLoopConfig / FewShotConfig.max_seq_len) allowed
STRATEGIES = ("merge", "adapters", "replay")  # continual learning, see continual/strategies.py
RETRIEVAL_MODES = ("auto", "bm25", "hybrid")  # see knowledge/retrieval.py


@dataclass(frozen=True)
class ContinualConfig:
    """Learning many documents one after another (`bench continual`, `update`)."""

    strategy: str = "adapters"  # chosen by `bench continual` (docs/results.md): no drop, least probe loss
    replay_budget: int = 64  # most earlier sequences replayed per update (replay strategy)
    retrieval: str = "auto"  # routing index: hybrid when the embedding model is installed, else BM25
    top_k: int = 3  # passages retrieved per question for RAG answers
    min_similarity: float = 0.33  # adapters routing, hybrid index: a question whose best passage is less
    # similar (MiniLM cosine) goes to the base model. Measured on SQuAD dev (8 and 50 documents): their
    # questions' best passage 0.40-0.85, general-knowledge probe questions 0.04-0.30 (docs/results.md)


@dataclass(frozen=True)
class SealConfig:
    inner: InnerLoopConfig = field(default_factory=InnerLoopConfig)
    self_edit: SelfEditConfig = field(default_factory=SelfEditConfig)
    recall: RecallConfig = field(default_factory=RecallConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SealConfig:
        """Build from a (possibly partial) dict; unknown keys are ignored."""
        data = data or {}
        inner = data.get("inner", {}) or {}
        lora = _pick(LoraSettings, inner.get("lora", {}) or {})
        if "target_modules" in lora:
            lora["target_modules"] = tuple(lora["target_modules"])
        inner_kw = _pick(InnerLoopConfig, inner)
        inner_kw["lora"] = LoraSettings(**lora)
        return cls(
            inner=InnerLoopConfig(**inner_kw),
            self_edit=SelfEditConfig(**_pick(SelfEditConfig, data.get("self_edit", {}) or {})),
            recall=RecallConfig(**_pick(RecallConfig, data.get("recall", {}) or {})),
        )


# Interactive learning (the TUI, `seal-desk learn`) stops a candidate once an epoch's mean loss is under 0.15.
# With the default pipeline that trained about half of the 10 epochs' tokens, and recall held: the paraphrased
# dev half 43.1% vs 40.3% at 10 epochs (paired difference +2.8, 95% CI +0.0 to +6.9); SQuAD dev, 50 passages,
# 13.4% vs 13.4% (+0.0, −2.2 to +2.4). A threshold of 0.3 trained ~40% and lost 5.6 points on dev
# (docs/results.md, "Learn a passage in seconds, second pass").
# Benchmarks and the outer loop keep the paper's fixed 10 epochs.
INTERACTIVE: dict[str, Any] = {"inner": {"stop_loss": 0.15}}


def layered(
    preset: Any = None,
    saved: dict[str, Any] | None = None,
    flags: dict[str, Any] | None = None,
    learner_merged: bool = True,
    interactive: bool = False,
) -> SealConfig:
    """The one merge of the config layers, each laid over the one before it:

    1. SEAL's paper defaults (the dataclasses above);
    2. the model's preset: `[lora]`, `[inner_loop]` and `[self_edit]` in models/NAME.toml (a
       `presets.Preset`, or None for a model without one). A preset that names a learner sets its
       `[self_edit]` for that learner: without it merged (`learner_merged` False: `--learner none`, another
       learner, or 4-bit weights that cannot hold it) the model keeps the paper's self-edit defaults;
    3. with `interactive` (a person waiting on one passage: the TUI, `learn`), INTERACTIVE above;
    4. the settings saved in the workspace for that model (the TUI's Settings tab), as `to_dict` writes them;
    5. this run's flags (the command line), a partial dict of the same shape, e.g. {"inner": {"epochs": 3}}.

    Keys a layer leaves out keep the value below; unknown keys are ignored.
    """
    cfg = SealConfig()
    if preset is not None:
        own_edits = learner_merged or not getattr(preset, "learner", "")
        edit = preset.self_edit_config(cfg.self_edit) if own_edits else cfg.self_edit
        cfg = replace(cfg, inner=preset.inner_config(cfg.inner), self_edit=edit)
    data = cfg.to_dict()
    for layer in (INTERACTIVE if interactive else None, _saved_layer(saved), flags):
        data = _merged(data, layer or {})
    return SealConfig.from_dict(data)


SAVED_VERSION = 2  # saved settings hold what the user changed (to_saved); version 1 was a whole to_dict


def to_saved(cfg: SealConfig, defaults: SealConfig) -> dict[str, Any]:
    """What the Settings tab saves: only where `cfg` differs from the `defaults` the form started from (the
    layers below saved settings, interactive ones included), so a default nobody touched is not frozen in, and
    commands that measure (`rl`, benchmarks) do not inherit the app's interactive defaults."""
    return {"version": SAVED_VERSION, **_changed(cfg.to_dict(), defaults.to_dict())}


def _changed(ours: dict[str, Any], below: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in ours.items():
        if isinstance(value, dict) and isinstance(below.get(key), dict):
            inner = _changed(value, below[key])
            if inner:
                out[key] = inner
        elif below.get(key, object()) != value:
            out[key] = value
    return out


def _saved_layer(saved: dict[str, Any] | None) -> dict[str, Any] | None:
    """Saved settings as a layer. A version-1 save (a whole to_dict, before the Settings tab had a stop-rule
    field) wrote stop_loss 0.0 without anyone choosing it: that value is left out, so the default applies."""
    if not saved or saved.get("version", 1) >= SAVED_VERSION:
        return saved
    inner = saved.get("inner")
    if isinstance(inner, dict) and inner.get("stop_loss") == 0.0:
        saved = {**saved, "inner": {k: v for k, v in inner.items() if k != "stop_loss"}}
    return saved


def laid_over(cfg: SealConfig, layer: dict[str, Any]) -> SealConfig:
    """`cfg` with a partial layer (the shape of `flags` in `layered`) laid over it."""
    return SealConfig.from_dict(_merged(cfg.to_dict(), layer))


def _merged(below: dict[str, Any], above: dict[str, Any]) -> dict[str, Any]:
    out = dict(below)
    for key, value in above.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _pick(kind, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)} - {"lora"}
    return {k: v for k, v in data.items() if k in names}


__all__ = [
    "FewShotConfig",
    "DEFAULT_TARGETS",
    "INTERACTIVE",
    "INNER_FROM",
    "REWARDS",
    "CHECKPOINTING",
    "OPTIMIZERS",
    "SELECT",
    "RETRIEVAL_MODES",
    "STRATEGIES",
    "ContinualConfig",
    "InnerLoopConfig",
    "LoraSettings",
    "OuterLoopConfig",
    "RecallConfig",
    "SealConfig",
    "SelfEditConfig",
    "SAVED_VERSION",
    "laid_over",
    "layered",
    "to_saved",
    "replace",
]
