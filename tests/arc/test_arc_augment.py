"""Augmentations: every transform undone by its inverse, the basic group is the square's symmetries."""

from __future__ import annotations

import random

from seal_desk.arc import augment as aug
from seal_desk.arc.augment import Episode
from seal_desk.arc.task import Pair
from tests.arc.arc_helpers import flip_task, g
from tests.arc.test_arc_grids import random_grid

ALL = [t for group in aug.GROUPS.values() for t in group]


def test_every_transform_is_undone_by_its_inverse():
    rng = random.Random(1)
    for _ in range(100):
        grid = random_grid(rng, 12)
        for t in ALL:
            out = t.apply(grid)
            assert t.inverse(out) == grid, t.name
            assert all(len(row) == len(out[0]) for row in out), t.name


def test_basic_transforms_are_the_seven_other_symmetries():
    grid = g("123", "456")  # no symmetry of its own
    images = {t.apply(grid) for t in aug.BASIC}
    assert len(images) == 7 and grid not in images
    assert aug.rot90(aug.rot90(aug.rot90(aug.rot90(grid)))) == grid
    assert aug.rot90(grid) == g("41", "52", "63")  # clockwise
    assert aug.flip_lr(grid) == g("321", "654") and aug.transpose(grid) == g("14", "25", "36")


def test_size_and_repeat_shapes():
    grid = g("12", "34")
    assert aug.upscale(grid, 2, 2) == g("1122", "1122", "3344", "3344")
    assert aug.tile(grid, 1, 2) == g("1212", "3434")
    assert aug.BY_NAME["rot90+upscale2x2"].apply(grid) == aug.upscale(aug.rot90(grid), 2, 2)


def test_colour_permutation_keeps_background_and_inverts():
    rng = random.Random(3)
    for _ in range(20):
        perm = aug.colour_permutation(rng)
        assert perm[0] == 0 and sorted(perm) == list(range(10))
        grid = random_grid(rng, 6)
        assert aug.recolour(aug.recolour(grid, perm), aug.inverse_permutation(perm)) == grid


def test_augmented_episodes_transform_every_grid_and_skip_oversized_ones():
    task = flip_task()
    ep = Episode(task.train[:2], task.train[2])
    copies = aug.augmented(ep, ["basic", "repeat"], random.Random(0), permute_colours=False)
    assert len(copies) == 10 and {c.transform for c in copies} == {t.name for t in aug.BASIC + aug.REPEAT}
    rot = next(c for c in copies if c.transform == "rot90")
    assert rot.demos[0] == Pair(aug.rot90(task.train[0].input), aug.rot90(task.train[0].output))
    assert rot.query.output == aug.rot90(task.train[2].output)
    big = Episode((Pair(g("1" * 20), g("2" * 20)),), Pair(g("3" * 20), g("4" * 20)))
    assert [c.transform for c in aug.augmented(big, ["repeat"], random.Random(0), False)] == ["repeat_down"]
    coloured = aug.augmented(ep, ["basic"], random.Random(0), permute_colours=True)
    assert all(c.colours and c.colours[0] == 0 for c in coloured)
