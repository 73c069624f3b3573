"""Data augmentations for test-time training, each with its inverse (SEAL's four tool groups).

basic  — the seven non-identity symmetries of the square: rotations by 90/180/270°, flips left-right
         and up-down, transpose and anti-transpose.
size   — upscaling: every cell becomes a 2×2 block, or 2×1 (double height), or 1×2 (double width).
chain  — compositions: a basic transform followed by the 2×2 upscale.
repeat — the grid repeated (tiled) twice down, twice across, or 2×2.

A transform applies to every grid of an episode (demonstrations, query input and output), so the
rule it hides stays consistent. Colour permutations keep 0 (the background) and shuffle 1–9.
Every transform has an exact inverse on the grids it produces (`inverse(apply(g)) == g`), which
lets predictions made on a transformed test input be mapped back and voted on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seal_desk.arc.task import MAX_SIDE, Grid, Pair


def rot90(g: Grid) -> Grid:  # clockwise
    return tuple(zip(*g[::-1]))


def rot180(g: Grid) -> Grid:
    return tuple(tuple(row[::-1]) for row in g[::-1])


def rot270(g: Grid) -> Grid:
    return tuple(zip(*g))[::-1]


def flip_lr(g: Grid) -> Grid:
    return tuple(tuple(row[::-1]) for row in g)


def flip_ud(g: Grid) -> Grid:
    return tuple(g[::-1])


def transpose(g: Grid) -> Grid:
    return tuple(zip(*g))


def anti_transpose(g: Grid) -> Grid:
    return rot180(transpose(g))


def upscale(g: Grid, fy: int, fx: int) -> Grid:
    return tuple(tuple(v for v in row for _ in range(fx)) for row in g for _ in range(fy))


def downscale(g: Grid, fy: int, fx: int) -> Grid:
    return tuple(tuple(row[::fx]) for row in g[::fy])


def tile(g: Grid, ny: int, nx: int) -> Grid:
    return tuple(tuple(row) * nx for row in g) * ny


def untile(g: Grid, ny: int, nx: int) -> Grid:
    rows, cols = max(1, len(g) // ny), max(1, len(g[0]) // nx)
    return tuple(tuple(row[:cols]) for row in g[:rows])


@dataclass(frozen=True)
class Transform:
    name: str
    apply: Callable[[Grid], Grid]
    inverse: Callable[[Grid], Grid]

    def pair(self, p: Pair) -> Pair:
        return Pair(self.apply(p.input), None if p.output is None else self.apply(p.output))


def chain(*parts: Transform) -> Transform:
    """`parts` applied left to right; the inverse undoes them right to left."""

    def forward(g: Grid) -> Grid:
        for t in parts:
            g = t.apply(g)
        return g

    def backward(g: Grid) -> Grid:
        for t in reversed(parts):
            g = t.inverse(g)
        return g

    return Transform("+".join(t.name for t in parts), forward, backward)


IDENTITY = Transform("identity", lambda g: g, lambda g: g)
BASIC = (
    Transform("rot90", rot90, rot270),
    Transform("rot180", rot180, rot180),
    Transform("rot270", rot270, rot90),
    Transform("flip_lr", flip_lr, flip_lr),
    Transform("flip_ud", flip_ud, flip_ud),
    Transform("transpose", transpose, transpose),
    Transform("anti_transpose", anti_transpose, anti_transpose),
)
_UP2 = Transform("upscale2x2", lambda g: upscale(g, 2, 2), lambda g: downscale(g, 2, 2))
SIZE = (
    _UP2,
    Transform("double_height", lambda g: upscale(g, 2, 1), lambda g: downscale(g, 2, 1)),
    Transform("double_width", lambda g: upscale(g, 1, 2), lambda g: downscale(g, 1, 2)),
)
CHAIN = tuple(chain(t, _UP2) for t in BASIC[:6])
REPEAT = (
    Transform("repeat_down", lambda g: tile(g, 2, 1), lambda g: untile(g, 2, 1)),
    Transform("repeat_across", lambda g: tile(g, 1, 2), lambda g: untile(g, 1, 2)),
    Transform("repeat_2x2", lambda g: tile(g, 2, 2), lambda g: untile(g, 2, 2)),
)
GROUPS = {"basic": BASIC, "size": SIZE, "chain": CHAIN, "repeat": REPEAT}
BY_NAME = {t.name: t for group in GROUPS.values() for t in group} | {"identity": IDENTITY}


def colour_permutation(rng: random.Random) -> tuple[int, ...]:
    """A mapping of colours 0–9 that keeps 0 (background) and shuffles 1–9."""
    rest = list(range(1, 10))
    rng.shuffle(rest)
    return (0, *rest)


def recolour(g: Grid, perm: Sequence[int]) -> Grid:
    return tuple(tuple(perm[c] for c in row) for row in g)


def inverse_permutation(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for src, dst in enumerate(perm):
        inv[dst] = src
    return tuple(inv)


def fits(g: Grid) -> bool:
    return len(g) <= MAX_SIDE and len(g[0]) <= MAX_SIDE


@dataclass(frozen=True)
class Episode:
    """A training or prediction example: demonstrations in context, then a query to answer."""

    demos: tuple[Pair, ...]
    query: Pair
    transform: str = "identity"  # what made it, for reports
    colours: tuple[int, ...] | None = None

    def grids(self) -> list[Grid]:
        return [g for p in (*self.demos, self.query) for g in (p.input, p.output) if g is not None]

    def map(self, t: Transform, name: str | None = None) -> Episode:
        return Episode(tuple(t.pair(p) for p in self.demos), t.pair(self.query), name or t.name, self.colours)

    def recoloured(self, perm: Sequence[int]) -> Episode:
        t = Transform("colours", lambda g: recolour(g, perm), lambda g: recolour(g, inverse_permutation(perm)))
        return Episode(tuple(t.pair(p) for p in self.demos), t.pair(self.query), self.transform, tuple(perm))


def transforms_for(groups: Sequence[str]) -> list[Transform]:
    return [t for name in groups for t in GROUPS[name]]


def augmented(episode: Episode, groups: Sequence[str], rng: random.Random, permute_colours: bool) -> list[Episode]:
    """The episode under every transform of the chosen groups (grids over 30×30 left out), each with its
    own colour permutation when `permute_colours`."""
    out = []
    for t in transforms_for(groups):
        copy = episode.map(t)
        if not all(fits(g) for g in copy.grids()):
            continue
        out.append(copy.recoloured(colour_permutation(rng)) if permute_colours else copy)
    return out


__all__ = [
    "BASIC",
    "BY_NAME",
    "CHAIN",
    "Episode",
    "GROUPS",
    "IDENTITY",
    "REPEAT",
    "SIZE",
    "Transform",
    "augmented",
    "chain",
    "colour_permutation",
    "fits",
    "inverse_permutation",
    "recolour",
    "transforms_for",
]
