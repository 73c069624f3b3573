"""Model presets: one small TOML file per supported model under `models/`."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seal_desk.config import InnerLoopConfig, LoraSettings, SelfEditConfig
from seal_desk.errors import ModelError
from seal_desk.paths import presets_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_PRESET = "smollm2-135m"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    hf_id: str
    prompt_style: str = "instruct"  # "instruct" (chat template) or "base" (completion prompts)
    context_limit: int = 2048
    params: str = ""
    gguf_package: str = ""  # a Python package that ships the weights as GGUF
    gguf_file: str = ""
    quantization: dict[str, str] = field(default_factory=lambda: {"cuda": "nf4", "cpu": "fp32"})
    lora: LoraSettings = field(default_factory=LoraSettings)
    inner_loop: dict[str, Any] = field(default_factory=dict)
    learner: str = ""  # a learner folder beside the presets, merged at load by default (see learner.py)
    self_edit: dict[str, Any] = field(default_factory=dict)  # the pipeline that measured best for this model
    # The model's HF config fields (`[architecture]`, from its public config.json): `random:NAME` builds it with
    # random weights (random_model.py), and the VRAM planner (vram_plan.py) sizes it. Empty: not known.
    architecture: dict[str, Any] = field(default_factory=dict)

    def inner_config(self, base: InnerLoopConfig | None = None) -> InnerLoopConfig:
        """The preset's inner-loop defaults laid over `base` (paper defaults)."""
        from dataclasses import replace

        base = base or InnerLoopConfig()
        keep = {k: v for k, v in self.inner_loop.items() if k in InnerLoopConfig.__dataclass_fields__}
        return replace(base, lora=self.lora, **keep)

    def self_edit_config(self, base: SelfEditConfig | None = None) -> SelfEditConfig:
        """The preset's self-edit defaults (format, k, selection, QA as recall prompts...) laid over `base`."""
        from dataclasses import replace

        base = base or SelfEditConfig()
        keep = {k: v for k, v in self.self_edit.items() if k in SelfEditConfig.__dataclass_fields__}
        return replace(base, **keep)


def _parse(path: Path) -> Preset:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{path}: unreadable preset ({exc})") from None
    try:
        lora = dict(data.pop("lora", {}))
        if "target_modules" in lora:
            lora["target_modules"] = tuple(lora["target_modules"])
        return Preset(lora=LoraSettings(**lora), **data)
    except TypeError as exc:
        raise ModelError(f"{path}: invalid preset ({exc})") from None


def all_presets() -> dict[str, Preset]:
    folder = presets_dir()
    found = {}
    for path in sorted(folder.glob("*.toml")):
        preset = _parse(path)
        found[preset.name] = preset
    return found


def get_preset(name: str) -> Preset | None:
    return all_presets().get(name)
