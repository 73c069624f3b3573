"""Few-shot mode: SEAL on ARC tasks (self-edit = augmentation and training config).

Light modules import here (no torch): tasks, grids as text, augmentations, the self-edit config.
The model side lives in `seal_desk.arc.ttt` (solve one task: `solve`, `sample_configs`, `predict`),
`seal_desk.arc.bench` (the four-condition table) and `seal_desk.arc.restem` (the outer loop).
"""

from seal_desk.arc.augment import Episode, Transform
from seal_desk.arc.grids import grid_text, parse_grid
from seal_desk.arc.self_edit import ArcSelfEdit, ParsedConfig, parse_config
from seal_desk.arc.task import ArcTask, Grid, Pair, load_tasks

__all__ = [
    "ArcSelfEdit",
    "ArcTask",
    "Episode",
    "Grid",
    "Pair",
    "ParsedConfig",
    "Transform",
    "grid_text",
    "load_tasks",
    "parse_config",
    "parse_grid",
]
