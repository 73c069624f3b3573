"""ARC episodes as prompts: the demonstrations, then the query input; the answer is the output grid.

Instruct models get the text as a chat user turn and answer as the assistant; base models get the
text followed by a newline. The same format serves in-context prediction, test-time training (where
an episode's query output is the completion) and the self-edit generator's prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from seal_desk.arc.augment import Episode
from seal_desk.arc.grids import grid_text, shape
from seal_desk.arc.self_edit import config_prompt_text
from seal_desk.arc.task import ArcTask, Grid, Pair
from seal_desk.knowledge import self_edit as se

INSTRUCTION = (
    "Find the rule that turns each input grid into its output grid, then apply it to the test "
    "input. Grids are rows of digits 0-9, one digit per cell, one row per line."
)


def pair_text(number: int, pair: Pair) -> str:
    return f"Example {number}\nInput:\n{grid_text(pair.input)}\nOutput:\n{grid_text(pair.output)}"


def episode_text(demos: Sequence[Pair], query_input: Grid) -> str:
    shown = "\n\n".join(pair_text(i, p) for i, p in enumerate(demos, 1))
    return f"{INSTRUCTION}\n\n{shown}\n\nTest input:\n{grid_text(query_input)}\nTest output:"


def prompt_ids(tokenizer, prompt_style: str, demos: Sequence[Pair], query_input: Grid) -> list[int]:
    text = episode_text(demos, query_input)
    return se.user_prompt_ids(tokenizer, prompt_style, text, text + "\n")


def answer_ids(tokenizer, grid: Grid) -> list[int]:
    return tokenizer(grid_text(grid), add_special_tokens=False)["input_ids"]


def training_example(tokenizer, prompt_style: str, episode: Episode, output_only: bool) -> tuple[list[int], int]:
    """(ids, n): prompt + answer + EOS; the loss skips the first n tokens (the prompt when `output_only`)."""
    prompt = prompt_ids(tokenizer, prompt_style, episode.demos, episode.query.input)
    ids = prompt + answer_ids(tokenizer, episode.query.output)
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return ids, (len(prompt) if output_only else 0)


def fitting_demos(
    tokenizer, prompt_style: str, demos: Sequence[Pair], query_input: Grid, budget: int
) -> Optional[tuple[Pair, ...]]:
    """The demonstrations, the longest dropped first until the prompt fits `budget` tokens; None when
    not even one fits."""
    kept = list(demos)
    while kept:
        if len(prompt_ids(tokenizer, prompt_style, kept, query_input)) <= budget:
            return tuple(kept)
        kept.remove(max(kept, key=lambda p: len(p.input) * len(p.input[0]) + len(p.output) * len(p.output[0])))
    return None


def config_prompt_ids(tokenizer, prompt_style: str, task: ArcTask, budget: int) -> list[int]:
    """The self-edit generator's prompt: the instruction and as many demonstrations as fit `budget`
    tokens (the rest summarised by their sizes)."""

    def build(n: int) -> list[int]:
        parts = [pair_text(i, p) for i, p in enumerate(task.train[:n], 1)]
        parts += [
            f"Example {i}: a {_size(p.input)} input grid and a {_size(p.output)} output grid (not shown)"
            for i, p in enumerate(task.train[n:], n + 1)
        ]
        text = config_prompt_text("\n\n".join(parts))
        return se.user_prompt_ids(tokenizer, prompt_style, text, text + "\n")

    for n in range(len(task.train), -1, -1):
        ids = build(n)
        if len(ids) <= budget or n == 0:
            return ids
    return build(0)  # pragma: no cover - the loop returns at n == 0


def _size(grid: Grid) -> str:
    rows, cols = shape(grid)
    return f"{rows}x{cols}"


__all__ = [
    "INSTRUCTION",
    "answer_ids",
    "config_prompt_ids",
    "episode_text",
    "fitting_demos",
    "pair_text",
    "prompt_ids",
    "training_example",
]
