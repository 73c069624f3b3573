"""The resident base model wrapped once with PEFT, and LoRA adapters on it.

The trainable slot `default` is re-initialised for each candidate (fresh A, zero B), so no model
reload and no disk round trip happen between candidates. Saved adapters are plain PEFT folders
(adapter_config.json + adapter_model.safetensors), written to a temp folder and renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import torch

from seal_desk.config import LoraSettings
from seal_desk.errors import InputError, SealDeskError

TRAINING_SLOT = "default"


def _lora_config(settings: LoraSettings, model):
    from peft import LoraConfig

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in settings.target_modules if t in names]
    if not targets:
        raise InputError(f"none of the LoRA target modules {list(settings.target_modules)} exist in this model")
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )


class AdapterHost:
    """Owns the PEFT wrapper around a loaded base model."""

    def __init__(self, base_model, quantized: bool = False) -> None:
        self.base = base_model
        self.quantized = quantized
        self.peft = None
        self.settings: Optional[LoraSettings] = None
        self.loaded: dict[str, str] = {}  # adapter name -> folder
        self.active: Optional[str] = None  # name of an adapter in use for inference, or None
        self.packing: Optional[bool] = None  # whether packed training sequences stay apart (probed once)
        self.checkpointing = False

    @property
    def model(self):
        """The model to run: the PEFT wrapper once one exists, else the bare base model."""
        return self.peft if self.peft is not None else self.base

    def prepare(self, settings: LoraSettings, seed: int) -> None:
        """Make the training slot a fresh adapter with `settings` (seeded)."""
        from peft import get_peft_model

        if self.peft is not None and self.settings is not None and settings != self.settings:
            self.base = self.peft.unload()  # new rank or targets: rebuild the wrapper
            self.peft, self.loaded, self.active = None, {}, None
        if self.peft is None:
            if self.quantized:  # QLoRA: the 4-bit base stays frozen as loaded. Unlike peft's
                # prepare_model_for_kbit_training, no fp32 up-cast of embeddings, lm_head and norms
                # (~4.4 GB on Qwen2.5-7B): with bf16 compute the LoRA weights alone are fp32.
                for param in self.base.parameters():
                    param.requires_grad_(False)
            self.peft = get_peft_model(self.base, _lora_config(settings, self.base), adapter_name=TRAINING_SLOT)
        elif TRAINING_SLOT not in self.peft.peft_config:
            self.peft.add_adapter(TRAINING_SLOT, _lora_config(settings, self.base))
        torch.manual_seed(seed)  # the same seed gives the same initial adapter, however it was made
        self._reinit(TRAINING_SLOT)
        self.settings = settings
        self._train_slot()

    def use_checkpointing(self, on: bool) -> None:
        """Gradient checkpointing (recompute activations in the backward pass: less memory, ~30% slower)."""
        if on == self.checkpointing:
            return
        base = self.base
        if on:
            if hasattr(base, "activation_checkpointing_enable"):  # transformers 5 (the old name is deprecated)
                base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if not getattr(base, "_require_grads_hooks", None):  # the frozen embeddings' output must carry grad
                base.enable_input_require_grads()
        else:
            if hasattr(base, "activation_checkpointing_disable"):
                base.activation_checkpointing_disable()
            else:
                base.gradient_checkpointing_disable()
            base.disable_input_require_grads()
        self.checkpointing = on

    def resume(self, settings: LoraSettings) -> None:
        """Make the training slot's adapter trainable as it is, to train it further."""
        if self.peft is None or TRAINING_SLOT not in self.peft.peft_config or settings != self.settings:
            raise InputError("no adapter with these LoRA settings in the training slot to continue training")
        self._train_slot()

    def _train_slot(self) -> None:
        self.peft.set_adapter(TRAINING_SLOT)
        for name, param in self.peft.named_parameters():
            param.requires_grad = f".{TRAINING_SLOT}." in name and "lora_" in name

    def load_slot(self, folder: str | Path, settings: LoraSettings, seed: int = 0) -> None:
        """Put a saved adapter's weights into the training slot (to train it further, or merge it)."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        path = Path(folder) / "adapter_model.safetensors"
        if not path.is_file():
            raise InputError(f"{folder}: not a PEFT adapter folder with adapter_model.safetensors")
        self.prepare(settings, seed)
        device = next(self.peft.parameters()).device
        try:
            result = set_peft_model_state_dict(
                self.peft, load_file(str(path), device=str(device)), adapter_name=TRAINING_SLOT
            )
        except RuntimeError as exc:  # shapes differ: another rank or model
            raise InputError(
                f"{folder}: adapter does not fit this model with r={settings.r} ({str(exc)[:120]})"
            ) from None
        if result.unexpected_keys:
            raise InputError(f"{folder}: adapter has weights this model lacks (trained on another model?)")

    def merge_slot(self, originals: dict[str, torch.Tensor]) -> None:
        """Add the training slot's low-rank update to the base weights for good.

        Each base weight touched for the first time is copied to the CPU into `originals` (by module
        name), so `restore_weights(originals)` can put the resident model back as it was.
        """
        from peft.tuners.lora import LoraLayer

        if self.quantized:
            raise InputError("merging into the weights needs unquantized weights: run with --quant bf16 or fp32")
        for name, module in self.peft.named_modules():
            if isinstance(module, LoraLayer) and TRAINING_SLOT in module.lora_A:
                weight = module.get_base_layer().weight
                if name not in originals:
                    originals[name] = weight.detach().to("cpu", copy=True)
                with torch.no_grad():
                    weight += module.get_delta_weight(TRAINING_SLOT).to(weight.dtype)

    def restore_weights(self, originals: dict[str, torch.Tensor]) -> None:
        """Undo `merge_slot`: copy the saved base weights back."""
        modules = dict(self.peft.named_modules()) if self.peft is not None else {}
        with torch.no_grad():
            for name, saved in originals.items():
                modules[name].get_base_layer().weight.copy_(saved)
        originals.clear()

    def _reinit(self, name: str) -> None:
        from peft.tuners.lora import LoraLayer

        for module in self.peft.modules():
            if isinstance(module, LoraLayer) and name in module.lora_A:
                module.reset_lora_parameters(name, True)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.peft.parameters() if p.requires_grad]

    @contextlib.contextmanager
    def using(self, adapter: Optional[str]) -> Iterator:
        """Run inference with `adapter` (a loaded name or TRAINING_SLOT), or with the bare base when None."""
        if self.peft is None:
            if adapter is not None:
                raise InputError(f"adapter '{adapter}' is not loaded")
            yield self.base
            return
        if adapter is None:
            with self.peft.disable_adapter():
                yield self.peft
            return
        previous = self.peft.active_adapter
        self.peft.set_adapter(adapter)
        try:
            yield self.peft
        finally:
            self.peft.set_adapter(previous)

    def save(self, folder: str | Path, adapter: str = TRAINING_SLOT) -> str:
        """Save an adapter as a PEFT folder atomically; returns the sha256 of its weights."""
        from safetensors import SafetensorError

        folder = Path(folder)
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".saving-", dir=folder.parent))
            try:
                self.peft.save_pretrained(str(tmp), selected_adapters=[adapter], safe_serialization=True)
                written = tmp / adapter if adapter != TRAINING_SLOT else tmp
                if folder.exists() and any(folder.iterdir()):  # an empty one (Workspace.new_adapter_path) stays
                    shutil.rmtree(folder)  # reserved until the rename takes its place
                os.replace(written, folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        except (OSError, SafetensorError) as exc:  # a full disk, a quota, a read-only folder: nothing half-written
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).split(": ", 1)[-1]
            raise SealDeskError(f"cannot save the adapter to {folder} ({why})") from None
        return weights_hash(folder)

    def load(self, folder: str | Path, name: str) -> str:
        """Load a saved PEFT adapter folder under `name` (safetensors only)."""
        from peft import PeftModel

        folder = Path(folder)
        if not (folder / "adapter_model.safetensors").is_file():
            raise InputError(f"{folder}: not a PEFT adapter folder with adapter_model.safetensors")
        if name in self.loaded:
            return name
        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.base, str(folder), adapter_name=name, is_trainable=False)
        else:
            self.peft.load_adapter(str(folder), adapter_name=name, is_trainable=False)
        self.loaded[name] = str(folder)
        return name

    def unload(self, name: str) -> None:
        if self.peft is not None and name in self.loaded:
            if len(self.peft.peft_config) > 1:
                if self.peft.active_adapter == name:
                    self.peft.set_adapter(next(n for n in self.peft.peft_config if n != name))
                self.peft.delete_adapter(name)
            else:  # the only adapter: drop the wrapper altogether
                self.base = self.peft.unload()
                self.peft, self.settings = None, None
        self.loaded.pop(name, None)
        if self.active == name:
            self.active = None


def weights_hash(folder: str | Path) -> str:
    digest = hashlib.sha256()
    with open(Path(folder) / "adapter_model.safetensors", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
