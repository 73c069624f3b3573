"""Where seal-desk keeps presets, the converted-model cache and the workspace."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir

_REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


def presets_dir() -> Path:
    """The folder of model preset TOML files (`models/` beside the package)."""
    return Path(os.environ.get("SEAL_DESK_PRESETS", _REPO_MODELS))


def model_cache_dir() -> Path:
    """Converted models (safetensors) live here: `models/cache/`, git-ignored."""
    env = os.environ.get("SEAL_DESK_MODEL_CACHE")
    if env:
        return Path(env)
    if _REPO_MODELS.is_dir() and os.access(_REPO_MODELS, os.W_OK):
        return _REPO_MODELS / "cache"
    return Path(user_cache_dir("seal-desk")) / "models"


def data_home() -> Path:
    """The default workspace folder (SQLite database and adapters)."""
    return Path(os.environ.get("SEAL_DESK_HOME", user_data_dir("seal-desk")))


SAMPLES = Path(__file__).resolve().parent / "samples"


def sample_files() -> tuple[Path, Path]:
    """The bundled sample: a short document of invented facts and its questions file (package data)."""
    return SAMPLES / "tide-clock.md", SAMPLES / "tide-clock-questions.txt"
