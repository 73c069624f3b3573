"""`--model random:PRESET`: a preset's architecture with random weights and the embedded tokenizer.

Measures the speed and memory of a 1.5B or 7B inner loop with no hub access. The architecture is
the preset's `[architecture]` table (its public config.json), built with a fixed seed. The vocabulary
stays the preset's, so embeddings and lm_head weigh what they will with the real weights; the
tokenizer is the embedded SmolLM2 one, whose ids (< 49152) all fall inside every preset's vocabulary.

fp32/bf16/fp16 are built directly on the chosen device. 4-bit NF4 goes through the normal
`from_pretrained` path: the bf16 weights are written once to the model cache (`random-NAME/`,
~2 bytes a parameter: 15 GB for 7B) and quantised by bitsandbytes while loading, as a hub model is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

from seal_desk.errors import ModelError
from seal_desk.events import EventSink, Message, Progress, ignore
from seal_desk.model import device as devices
from seal_desk.model.presets import DEFAULT_PRESET, Preset
from seal_desk.model.source import cached_dir, resolve
from seal_desk.paths import model_cache_dir

SEED = 0
_DONE = ".seal-desk-complete"
_TOKENIZER = "embedded-tokenizer"  # the default preset's tokenizer alone, read once from its GGUF


def model_config(preset: Preset, tokenizer=None, **overrides: Any):
    """The HF config of `preset`'s architecture (`overrides` replace fields, e.g. fewer layers in tests)."""
    from transformers import AutoConfig

    fields = dict(preset.architecture) | overrides
    model_type = fields.pop("model_type", "")
    if not model_type:
        raise ModelError(f"preset {preset.name} has no [architecture] table (model_type and sizes)")
    if tokenizer is not None:  # generation stops on the tokenizer's end token
        fields |= {
            "eos_token_id": tokenizer.eos_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        }
    try:
        return AutoConfig.for_model(model_type, **fields)
    except (ValueError, KeyError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(
            f"preset {preset.name}: its [architecture] is not a config transformers knows ({first})"
        ) from None


def count_params(config) -> int:
    """Parameters of the model `config` describes (built on the meta device: no memory, no time)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        shell = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in shell.parameters())


def embedded_tokenizer(on_event: EventSink = ignore):
    """The default preset's tokenizer: from its converted folder, else from its GGUF (cached alone once)."""
    from transformers import AutoTokenizer

    try:
        source = resolve(DEFAULT_PRESET)
    except ModelError as exc:
        raise ModelError(f"random models use the tokenizer of {DEFAULT_PRESET}, not available here ({exc})") from None
    folder = cached_dir(source)
    if folder is None:
        folder = model_cache_dir() / _TOKENIZER
        if not (folder / _DONE).exists():
            gguf = Path(source.location)
            on_event(Progress("load", 0, 3, f"reading the embedded tokenizer from {gguf.name}"))
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            _write_once(folder, lambda tmp: tokenizer.save_pretrained(tmp), "tokenizer of the embedded model\n")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def weights_dir(preset: Preset) -> Path:
    """Where the random bf16 weights of `preset` are kept for 4-bit loading."""
    return model_cache_dir() / f"random-{preset.name}"


def _fingerprint(config) -> str:
    """What the cached weights were built from (the config and the seed): another one means rebuild."""
    text = json.dumps(config.to_dict(), sort_keys=True, default=str) + f"|seed={SEED}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_once(target: Path, write, note: str) -> None:
    """Write a folder through `write(tmp)` into a temp folder beside `target`, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        write(tmp)
        (tmp / _DONE).write_text(note)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def random_model(config, dtype, device: str = "cpu", seed: int = SEED):
    """`config`'s model with random weights (seeded; the global RNG is left as it was)."""
    import torch
    from transformers import AutoModelForCausalLM

    devices_to_fork = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices_to_fork), torch.device(device):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.eval()


def _bf16_folder(preset: Preset, config, n_params: int, on_event: EventSink, device: str = "cpu") -> Path:
    """The cached bf16 weights of `preset`'s random model, written once."""
    import torch

    folder, stamp = weights_dir(preset), _fingerprint(config)
    done = folder / _DONE
    if done.exists() and done.read_text().split("\n", 1)[0] == stamp:
        return folder
    on_event(
        Message(f"random:{preset.name}: writing its random bf16 weights once ({n_params * 2 / 1e9:.1f} GB) to {folder}")
    )
    on_event(Progress("load", 1, 3, f"building {n_params / 1e6:.0f}M random parameters"))
    build_on = "cpu"  # the same seed gives other numbers on a GPU; any random weights measure the same speed
    if device == "cuda" and torch.cuda.is_available() and torch.cuda.mem_get_info()[0] > 2.4 * n_params:
        build_on = "cuda"  # a GPU fills 7B random weights in seconds, where 16 CPU cores take minutes
    try:
        built = [random_model(config, torch.bfloat16, build_on)]
    except torch.OutOfMemoryError:
        built, build_on = [random_model(config, torch.bfloat16, "cpu")], "cpu"
    _write_once(folder, lambda tmp: built[0].save_pretrained(tmp, safe_serialization=True), f"{stamp}\n")
    built.clear()
    if build_on == "cuda":
        torch.cuda.empty_cache()
    return folder


def build(
    preset: Preset,
    placement: devices.Placement,
    on_event: EventSink = ignore,
    nf4_kwargs: Optional[dict] = None,
) -> tuple[Any, Any, int]:
    """(model, tokenizer, parameter count) of `random:PRESET` on `placement`.

    `nf4_kwargs`: the `from_pretrained` arguments of a 4-bit load (the loader's `nf4_kwargs`), needed
    when `placement.quantization` is "nf4".
    """
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = embedded_tokenizer(on_event)
    config = model_config(preset, tokenizer)
    n_params = count_params(config)
    devices.check_fits(n_params, placement, f"random:{preset.name}")
    if placement.quantization == "nf4":
        if nf4_kwargs is None:
            raise ModelError("a 4-bit random model needs the loader's 4-bit arguments")
        folder = _bf16_folder(preset, config, n_params, on_event, placement.device)
        on_event(Progress("load", 2, 3, f"loading {n_params / 1e6:.0f}M parameters ({placement.label})"))
        try:
            model = AutoModelForCausalLM.from_pretrained(str(folder), use_safetensors=True, **nf4_kwargs)
        except torch.OutOfMemoryError:
            raise ModelError(f"random:{preset.name} does not fit in {placement.device} memory") from None
        model.eval()
    else:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[placement.quantization]
        on_event(Progress("load", 1, 3, f"building {n_params / 1e6:.0f}M random parameters ({placement.label})"))
        try:
            model = random_model(config, dtype, placement.device)
        except torch.OutOfMemoryError:
            raise ModelError(f"random:{preset.name} does not fit in {placement.device} memory") from None
    on_event(Progress("load", 3, 3, "ready"))
    return model, tokenizer, n_params
