"""The few-shot self-edit: a JSON config choosing augmentations and how to train (SEAL §4.2).

SEAL's format (also what `ArcSelfEdit.to_json` writes):

    {"data_generation": {"use_basic_augmentations": true, "use_size_augmentations": false,
                         "use_chain_augmentations": false, "use_repeat_augmentations": false},
     "training": {"strategy": "train_using_all_tokens", "learning_rate": 1e-4, "num_train_epochs": 2}}

`parse_config` reads a model's reply robustly: code fences and text around the object are ignored,
the first balanced `{...}` is taken, Python-style literals (single quotes, True/False, trailing
commas) are accepted, and the flat form (the same keys without the two sections) works too.
Missing keys take SEAL's example values (basic augmentations on, all tokens, lr 1e-4, 2 epochs), but
a reply is *invalid* — scored 0 and counted as such — when it holds no object, has none of the known
keys, or a known key has a value of the wrong kind or out of range (strategy not one of the two,
learning rate not in (0, 1), epochs not a whole number ≥ 1).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Optional

STRATEGIES = ("train_using_all_tokens", "train_using_output_tokens")
AUGMENTATION_KEYS = {
    "use_basic_augmentations": "basic",
    "use_size_augmentations": "size",
    "use_chain_augmentations": "chain",
    "use_repeat_augmentations": "repeat",
}
TRAINING_KEYS = ("strategy", "learning_rate", "num_train_epochs")


@dataclass(frozen=True)
class ArcSelfEdit:
    basic: bool = True
    size: bool = False
    chain: bool = False
    repeat: bool = False
    strategy: str = "train_using_all_tokens"
    learning_rate: float = 1e-4
    epochs: int = 2

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(g for g in ("basic", "size", "chain", "repeat") if getattr(self, g))

    @property
    def output_only(self) -> bool:
        return self.strategy == "train_using_output_tokens"

    def to_json(self) -> dict[str, Any]:
        return {
            "data_generation": {key: getattr(self, group) for key, group in AUGMENTATION_KEYS.items()},
            "training": {
                "strategy": self.strategy,
                "learning_rate": self.learning_rate,
                "num_train_epochs": self.epochs,
            },
        }

    def text(self) -> str:
        """Canonical one-line JSON (the SFT target in the outer loop)."""
        return json.dumps(self.to_json())

    def label(self) -> str:
        """Short human summary: `basic+size, output tokens, lr 1e-04, 2 ep`."""
        augs = "+".join(self.groups) or "no augmentation"
        how = "output tokens" if self.output_only else "all tokens"
        return f"{augs}, {how}, lr {self.learning_rate:.0e}, {self.epochs} ep"


@dataclass(frozen=True)
class ParsedConfig:
    text: str  # what the model wrote
    config: Optional[ArcSelfEdit]  # None: invalid
    error: str = ""  # why it is invalid

    @property
    def valid(self) -> bool:
        return self.config is not None


def parse_config(text: str) -> ParsedConfig:
    """Read a self-edit config from model text; invalid ones carry the reason."""
    body = _first_object(_unfenced(text or ""))
    if body is None:
        return ParsedConfig(text, None, "no JSON object")
    data = _loads(body)
    if not isinstance(data, dict):
        return ParsedConfig(text, None, "not a JSON object")
    try:
        return ParsedConfig(text, from_dict(data))
    except ValueError as exc:
        return ParsedConfig(text, None, str(exc))


def from_dict(data: dict) -> ArcSelfEdit:
    """An ArcSelfEdit from SEAL's nested dict or the flat form; ValueError says what is wrong."""
    gen = data.get("data_generation", data)
    train = data.get("training", data)
    if not isinstance(gen, dict) or not isinstance(train, dict):
        raise ValueError("'data_generation' and 'training' must be objects")
    known = [k for k in AUGMENTATION_KEYS if k in gen] + [k for k in TRAINING_KEYS if k in train]
    if not known:
        raise ValueError("none of the config keys")
    kw: dict[str, Any] = {}
    for key, group in AUGMENTATION_KEYS.items():
        if key in gen:
            kw[group] = _bool(gen[key], key)
    if "strategy" in train:
        kw["strategy"] = _strategy(train["strategy"])
    if "learning_rate" in train:
        kw["learning_rate"] = _lr(train["learning_rate"])
    if "num_train_epochs" in train:
        kw["epochs"] = _epochs(train["num_train_epochs"])
    return ArcSelfEdit(**kw)


def _bool(value, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    raise ValueError(f"{key} is not true or false ({value!r})")


def _strategy(value) -> str:
    if isinstance(value, str):
        v = value.strip().lower().replace("-", "_").replace(" ", "_")
        if v in STRATEGIES:
            return v
        if v in ("all_tokens", "all"):
            return STRATEGIES[0]
        if v in ("output_tokens", "output", "outputs"):
            return STRATEGIES[1]
    raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)} ({value!r})")


def _number(value, field: str) -> float:
    """A JSON number or numeric string; ValueError naming `field` otherwise."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
    except ValueError:
        pass
    raise ValueError(f"{field} is not a number ({value!r})")


def _lr(value) -> float:
    lr = _number(value, "learning_rate")
    if not 0 < lr < 1:
        raise ValueError(f"learning_rate {lr} is outside (0, 1)")
    return lr


def _epochs(value) -> int:
    n = _number(value, "num_train_epochs")
    if n != int(n) or n < 1:
        raise ValueError(f"num_train_epochs must be a whole number ≥ 1 ({value!r})")
    return int(n)


def _unfenced(text: str) -> str:
    fence = re.search(r"```(?:json|JSON|python)?\s*\n?(.*?)```", text, re.S)
    return fence.group(1) if fence and "{" in fence.group(1) else text


def _first_object(text: str) -> Optional[str]:
    """The first balanced {...} (braces inside strings are skipped); an unclosed one is closed."""
    start = text.find("{")
    if start < 0:
        return None
    depth, quote, escaped = 0, None, False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None if quote else text[start:] + "}" * depth  # the reply ran out of tokens mid-object


def _loads(body: str):
    for attempt in (body, re.sub(r",\s*([}\]])", r"\1", body)):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            pass
    py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", body)))
    try:
        return ast.literal_eval(py)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None


# the generator prompt ------------------------------------------------------------------------------
INSTRUCTION = (
    "You are configuring how a model trains itself to solve the puzzle below. Each example maps an "
    "input grid to an output grid (one digit 0-9 per cell, one row per line). Choose data augmentations "
    "(basic: rotations, flips, transposes; size: upscaled grids; chain: both combined; repeat: tiled "
    "grids), the training strategy (train_using_all_tokens or train_using_output_tokens), the learning "
    "rate and the number of epochs. Answer with one JSON object in this form:\n"
    '{"data_generation": {"use_basic_augmentations": true, "use_size_augmentations": false, '
    '"use_chain_augmentations": false, "use_repeat_augmentations": false}, '
    '"training": {"strategy": "train_using_output_tokens", "learning_rate": 0.0001, "num_train_epochs": 2}}'
)


def config_prompt_text(examples_text: str) -> str:
    return f"{INSTRUCTION}\n\n{examples_text}\n\nConfiguration:"


__all__ = [
    "ArcSelfEdit",
    "INSTRUCTION",
    "ParsedConfig",
    "STRATEGIES",
    "config_prompt_text",
    "from_dict",
    "parse_config",
]
