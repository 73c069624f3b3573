"""Model sources, loading, decoding and LoRA adapters."""
