"""Load a resolved model onto the chosen device: the base model is loaded once and stays resident."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from seal_desk.errors import ModelError, SealDeskError
from seal_desk.events import EventSink, Message, Progress, ignore
from seal_desk.model import allocator
from seal_desk.model import device as devices
from seal_desk.model.source import TINY, ModelSource, convert_gguf, resolve
from seal_desk.paths import presets_dir


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    source: ModelSource
    placement: devices.Placement
    load_seconds: float
    n_params: int
    learner: Optional[str] = None  # the learner folder merged into the weights at load (see learner.py)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def device(self) -> str:
        return self.placement.device

    @property
    def prompt_style(self) -> str:
        return self.source.prompt_style

    @property
    def context_limit(self) -> int:
        return self.source.context_limit

    @property
    def eos_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(eos if isinstance(eos, list) else [eos])
        return sorted(i for i in ids if i is not None)


def _count_params(config, source: ModelSource, trust_remote_code: bool) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            shell = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except (ValueError, KeyError, TypeError, ImportError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(f"{source.name}: not a causal language model this seal-desk can load ({first})") from None
    return sum(p.numel() for p in shell.parameters())


def load(
    name: Optional[str] = None,
    device: str = "auto",
    quant: str = "",
    on_event: EventSink = ignore,
    trust_remote_code: bool = False,
    learner: Optional[str] = None,
) -> LoadedModel:
    """Resolve `name`, convert it if needed, and load weights (safetensors only) and tokenizer.

    `learner`: a learner folder to merge into the weights, "none" for none; None takes the preset's
    (`learner = "..."` in its TOML, a folder beside it, when present).
    """
    source = resolve(name)
    if learner not in (None, "none") and not quant and source.kind != "tiny":
        if devices.default_quant(device, _quant_map(source)) == "nf4":  # a merge needs weights that can hold it
            quant = "bf16"
            on_event(Message(f"{source.name}: loading in bf16, not 4-bit, to merge the learner {Path(learner).name}"))
    loaded = _load(source, device, quant, on_event, trust_remote_code)
    path = learner_folder(source, learner)
    if path is not None and learner is None and loaded.placement.quantization == "nf4":
        on_event(
            Message(
                f"{source.name}: its learner is not merged into 4-bit weights (load with --quant bf16 to use it)",
                "warning",
            )
        )
        path = None
    if path is not None:
        from seal_desk.model.learner_weights import apply_learner

        card = apply_learner(loaded, path)
        loaded.learner = str(path)
        on_event(Message(f"Learner {path.name} merged ({learner_summary(card)})"))
    return loaded


def learner_summary(card: dict) -> str:
    """What a learner card says it is, in a few words (a learner, or a packed SEAL-trained generator)."""
    if card.get("packed_rounds"):
        below = f" over {card['on_top_of']}" if card.get("on_top_of") else ""
        return f"SEAL-trained generator, rounds {card['packed_rounds']}{below}"
    return f"{card.get('passages', '?')} passages, {card.get('questions', '?')} questions"


def holds_preset_learner(loaded: LoadedModel) -> bool:
    """Whether `loaded` has its preset's learner merged, or one under it (`--generator base`): what the preset's
    `[self_edit]` defaults were chosen for (see config.layered)."""
    return bool(loaded.learner) and _under_preset_learner(loaded.source, Path(loaded.learner))


def preset_learner_expected(name: Optional[str], device: str, quant: str, learner: Optional[str]) -> bool:
    """Before loading: whether `load(name, device, quant, learner=learner)` will merge the preset's learner (or
    one under it), by the same rules; False when the model cannot be resolved."""
    try:
        source = resolve(name)
    except SealDeskError:
        return False
    preset = source.preset
    if preset is None or not preset.learner or learner == "none" or source.kind in ("tiny", "random", "dir"):
        return False
    folder = learner_folder(source, learner)
    if folder is None or not _under_preset_learner(source, folder):
        return False
    return learner is not None or (quant or devices.default_quant(device, _quant_map(source))) != "nf4"


def _under_preset_learner(source: ModelSource, folder: Path) -> bool:
    """`folder` is the preset's learner or one it was trained on top of, or a shrunk copy of one of them
    (`seal-desk shrink`)."""
    preset = source.preset
    if preset is None or not preset.learner:
        return False
    from seal_desk.model.learner_weights import learner_chain, shrunk_origin

    chain = set(learner_chain(presets_dir() / preset.learner))
    chain |= {origin for origin in map(shrunk_origin, list(chain)) if origin is not None}
    here = folder.expanduser().resolve()
    return here in chain or shrunk_origin(here) in chain


def _quant_map(source: ModelSource) -> Optional[dict[str, str]]:
    return source.preset.quantization if source.preset is not None else None


def learner_folder(source: ModelSource, learner: Optional[str]) -> Optional[Path]:
    """The learner to merge: the given folder, none for "none", else the preset's when it is there."""
    if learner == "none":
        return None
    if learner:
        return Path(learner).expanduser()
    if source.kind == "dir":  # a local folder (e.g. an outer-loop checkpoint) already holds what it was trained from
        return None
    if source.kind in ("tiny", "random"):  # random weights: a learner trained on the real ones means nothing here
        return None
    name = source.preset.learner if source.preset is not None else ""
    folder = presets_dir() / name if name else None
    return folder if folder is not None and folder.is_dir() else None


def _load(source: ModelSource, device: str, quant: str, on_event: EventSink, trust_remote_code: bool) -> LoadedModel:
    started = time.perf_counter()
    allocator.keep_freed_memory()
    if source.kind == "tiny":
        return load_tiny(quant=quant, on_event=on_event)
    placement = devices.choose(device, _quant_map(source), quant)
    if source.kind == "random":
        return load_random(source, placement, on_event)
    folder = str(convert_gguf(source, on_event)) if source.kind == "gguf" else source.location
    on_event(Progress("load", 0, 3, f"reading {source.name} config"))

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise _hub_error(source, exc) from None
    n_params = _count_params(config, source, trust_remote_code)
    devices.check_fits(n_params, placement, source.name)
    on_event(Progress("load", 1, 3, f"loading {n_params / 1e6:.0f}M parameters ({placement.label})"))
    kwargs: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": trust_remote_code}
    if placement.quantization == "nf4":
        kwargs.update(nf4_kwargs(placement))
        if placement.device == "cpu":
            on_event(Message(devices.CPU_NF4_NOTE, "warning"))
    else:
        kwargs["dtype"] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[placement.quantization]
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except torch.OutOfMemoryError:
        raise ModelError(f"{source.name} does not fit in {placement.device} memory") from None
    except (OSError, ValueError) as exc:
        raise _hub_error(source, exc) from None
    if placement.device == "cuda" and placement.quantization != "nf4":
        model.to("cuda")
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    on_event(Progress("load", 3, 3, "ready"))
    seconds = time.perf_counter() - started
    on_event(Message(f"Loaded {source.name} on {placement.label} in {seconds:.1f}s"))
    return LoadedModel(model, tokenizer, source, placement, seconds, n_params)


def nf4_kwargs(placement: devices.Placement) -> dict[str, Any]:
    """`from_pretrained` arguments for QLoRA's base: 4-bit NF4 with double quantisation, bf16 compute."""
    import torch
    from transformers import BitsAndBytesConfig

    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        ),
        "device_map": devices.bnb_device_map(placement),
        "dtype": torch.bfloat16,
    }


def load_random(source: ModelSource, placement: devices.Placement, on_event: EventSink = ignore) -> LoadedModel:
    """`random:PRESET`: the preset's architecture with random weights on `placement` (see random_model.py)."""
    from seal_desk.model.random_model import build

    started = time.perf_counter()
    if placement.quantization == "nf4" and placement.device == "cpu":
        on_event(Message(devices.CPU_NF4_NOTE, "warning"))
    nf4 = nf4_kwargs(placement) if placement.quantization == "nf4" else None
    model, tokenizer, n_params = build(source.preset, placement, on_event, nf4)
    seconds = time.perf_counter() - started
    on_event(Message(f"Built {source.name} (random weights) on {placement.label} in {seconds:.1f}s"))
    return LoadedModel(model, tokenizer, source, placement, seconds, n_params)


def _hub_error(source: ModelSource, exc: Exception) -> ModelError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if source.kind == "hub":
        return ModelError(
            f"{source.location}: not in the local Hugging Face cache and the hub cannot be reached ({first})"
        )
    return ModelError(f"{source.location}: cannot load model ({first})")


def load_tiny(seed: int = 0, quant: str = "", on_event: EventSink = ignore) -> LoadedModel:
    """The tiny random model (tests, demos of the flow without real weights); `quant="nf4"`: its 4-bit
    QLoRA twin on the CPU (the same weights, quantised by bitsandbytes as a GPU user's model would be)."""
    from seal_desk.model.tiny import tiny_model, tiny_tokenizer

    started = time.perf_counter()
    tokenizer = tiny_tokenizer()
    model = tiny_model(tokenizer, seed=seed)
    n = sum(p.numel() for p in model.parameters())
    placement = devices.Placement("cpu", "fp32")
    if quant == "nf4":
        placement = devices.choose("cpu", quant="nf4")
        model = _quantised_copy(model, tokenizer, placement)
        on_event(Message(devices.CPU_NF4_NOTE, "warning"))
    return LoadedModel(model, tokenizer, ModelSource(TINY, "tiny", ""), placement, time.perf_counter() - started, n)


def _quantised_copy(model, tokenizer, placement: devices.Placement):
    """`model` reloaded in 4-bit NF4 through the normal `from_pretrained` path (via a temp folder)."""
    import tempfile

    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory(prefix="seal-desk-nf4-") as folder:
        model.save_pretrained(folder, safe_serialization=True)
        quantised = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, **nf4_kwargs(placement))
    quantised.eval()
    return quantised
