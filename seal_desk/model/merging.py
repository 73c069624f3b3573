"""Merging a LoRA adapter into plain weights, from a full-precision or a 4-bit (QLoRA) base.

Merging into 4-bit NF4 weights would round the small low-rank update away (peft dequantises, adds
and re-quantises), so a 4-bit base is dequantised to bf16 first and the merged result is a plain
checkpoint that transformers loads without bitsandbytes.
"""

from __future__ import annotations

from pathlib import Path


def merged_weights(model, adapter: str | Path, quantized: bool):
    """`model` (a PeftModel or a bare model; consumed: pass a copy to keep yours) with the PEFT adapter
    folder `adapter` merged in, as plain weights (bf16 when the base was 4-bit)."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model = model.unload()  # drop every LoRA layer without merging; `adapter` is loaded fresh below
    if quantized:
        model = _dequantised_on_cpu(model)
    return PeftModel.from_pretrained(model, str(adapter), adapter_name="merge").merge_and_unload()


def _dequantised_on_cpu(model):
    """The bf16 model, built in CPU RAM: a 7B model's bf16 copy (15 GB) does not fit beside a consumer GPU's
    resident 4-bit model. Where bitsandbytes cannot move the 4-bit weights, it is dequantised where it is, and
    running out of memory there is one line."""
    import torch

    from seal_desk.errors import ModelError

    try:
        if next(model.parameters()).device.type != "cpu":
            model = model.to("cpu")
    except (ValueError, RuntimeError, TypeError):
        pass  # this bitsandbytes/transformers cannot move 4-bit weights: dequantise in place
    try:
        return model.dequantize()
    except RuntimeError as exc:  # CUDA's OutOfMemoryError, or the CPU allocator's "can't allocate memory"
        if not isinstance(exc, torch.OutOfMemoryError) and "allocate memory" not in str(exc):
            raise
        raise ModelError(
            "merging needs the model's bf16 copy (~2 bytes a parameter) and it does not fit: "
            "export the adapter without --merged, or merge on a machine with more memory"
        ) from None


__all__ = ["merged_weights"]
