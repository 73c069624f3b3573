"""Export an adapter: the PEFT folder as is, or the base model with the adapter merged in."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from seal_desk.errors import InputError


def export_adapter(record, target: Path, engine=None) -> Path:
    """Copy a PEFT adapter folder to `target`, or (engine given) save merged safetensors weights."""
    source = Path(record.path)
    if not (source / "adapter_model.safetensors").is_file():
        raise InputError(f"adapter #{record.id}: its folder {source} is missing")
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder")
    if target.exists() and any(target.iterdir()):
        raise InputError(f"{target}: folder exists and is not empty")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        if engine is None:
            shutil.copytree(source, tmp, dirs_exist_ok=True)
        else:
            _merged(engine, record, tmp)
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _merged(engine, record, folder: Path) -> None:
    """Deep-copy the resident model, load the adapter into the copy, merge it alone and save."""
    import copy

    from seal_desk.model.merging import merged_weights

    if record.model != engine.loaded.name:
        raise InputError(f"adapter #{record.id} was trained on {record.model}; merge it with --model {record.model}")
    quantized = engine.loaded.placement.quantization == "nf4"
    merged = merged_weights(copy.deepcopy(engine.host.model), record.path, quantized)  # a 4-bit base: dequantised
    merged.save_pretrained(str(folder), safe_serialization=True)
    engine.tokenizer.save_pretrained(str(folder))
