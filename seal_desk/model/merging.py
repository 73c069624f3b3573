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
        model = model.dequantize()
    return PeftModel.from_pretrained(model, str(adapter), adapter_name="merge").merge_and_unload()


__all__ = ["merged_weights"]
