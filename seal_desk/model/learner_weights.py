"""A learner's weights: its folder (PEFT adapter + card) and merging it into a loaded model.

The learner itself (what it is trained on, and how) is seal_desk/knowledge/learner.py; loading
merges a learner here, below the knowledge layer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from seal_desk.errors import InputError

CARD = "seal_desk_learner.json"


def learner_card(path: str | Path) -> dict:
    """The card of a learner folder, or an InputError saying why it is not one."""
    folder = Path(path)
    try:
        card = json.loads((folder / CARD).read_text())
    except (OSError, ValueError):
        raise InputError(f"{folder}: not a seal-desk learner (no readable {CARD})") from None
    if not isinstance(card, dict):
        raise InputError(f"{folder}: not a seal-desk learner ({CARD} is not an object)")
    if not (folder / "adapter_model.safetensors").is_file():
        raise InputError(f"{folder}: learner folder has no adapter_model.safetensors")
    return card


def learner_chain(path: str | Path) -> list[Path]:
    """`path` and the learners under it (each card's `on_top_of`, a sibling folder), resolved; it stops at a
    folder without a readable card."""
    chain = [Path(path).expanduser().resolve()]
    while True:
        try:
            card = json.loads((chain[-1] / CARD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return chain
        below = card.get("on_top_of") if isinstance(card, dict) else None
        if not below or (chain[-1].parent / below).resolve() in chain:
            return chain
        chain.append((chain[-1].parent / below).resolve())


def shrunk_origin(path: str | Path) -> Optional[Path]:
    """The learner folder a shrunk learner was made from (its card's first `shrunk` step, a sibling), or None."""
    try:
        card = json.loads((Path(path) / CARD).read_text(encoding="utf-8"))
        origin = card["shrunk"][0]["from"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return (Path(path).expanduser().resolve().parent / origin).resolve() if isinstance(origin, str) else None


def apply_learner(loaded, path: str | Path, _seen: frozenset = frozenset()):
    """Merge the learner at `path` into `loaded`'s weights (in place); returns its card.

    A learner trained on top of another (card `on_top_of`: a sibling folder, e.g. a SEAL-trained
    generator over the learner its outer loop started from) has that one merged first."""
    from peft import PeftModel

    card = learner_card(path)
    if card.get("base") != loaded.name:
        raise InputError(f"{path}: learner was trained on {card.get('base')}, not {loaded.name}")
    below = card.get("on_top_of")
    if below:
        here = Path(path).resolve()
        if here in _seen or (Path(path).parent / below).resolve() in _seen | {here}:
            raise InputError(f"{path}: learners stacked in a loop (on_top_of {below})")
        apply_learner(loaded, Path(path).parent / below, _seen | {here})
    if loaded.placement.quantization == "nf4":  # merging re-quantises: the learner's small update would be lost
        raise InputError(
            f"{path}: a learner is merged into the weights, which 4-bit NF4 cannot hold; "
            "load with --quant bf16 (or fp32), or --learner none"
        )
    peft = PeftModel.from_pretrained(loaded.model, str(path), is_trainable=False)
    loaded.model = peft.merge_and_unload()
    return card


__all__ = ["CARD", "apply_learner", "learner_card", "learner_chain", "shrunk_origin"]
