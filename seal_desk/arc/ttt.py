"""The few-shot inner loop: test-time training on a task's own demonstrations, then exact-match grading.

Episodes: leave-one-out (each demonstration in turn is the query, the others are the context) and
leave-two-out (two held out, each in turn the query); the self-edit config adds augmented copies
(seal_desk/arc/augment.py, each with a colour permutation) and picks the loss (all tokens, or the
query's output only), learning rate and epochs. A fresh LoRA adapter is trained on them with the
shared inner loop, then the test output is predicted greedily from all demonstrations (optionally
also from the 7 basic transforms of the task, inverted and voted) and compared cell for cell.

`solve` does one task end to end and reports through the engine's typed events (Progress, TrainStep,
TokenGenerated, Message, ArcTaskScored); a CancelToken stops it within one step or token.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Optional, Union

from seal_desk.arc import augment as aug
from seal_desk.arc import prompt as pr
from seal_desk.arc.augment import Episode
from seal_desk.arc.grids import parse_grid, text_tokens
from seal_desk.arc.self_edit import ArcSelfEdit, ParsedConfig
from seal_desk.arc.task import ArcTask, Grid, Pair
from seal_desk.config import FewShotConfig, InnerLoopConfig
from seal_desk.events import ArcTaskScored, CancelToken, EventSink, Message, Progress, TokenGenerated, ignore
from seal_desk.knowledge.inner_loop import TrainReport, train
from seal_desk.model.adapters import TRAINING_SLOT
from seal_desk.model.generation import generate


@dataclass
class TaskResult:
    """One attempt at one task: the config used (if any), what was trained, predicted and expected."""

    task_id: str
    condition: str
    config: Optional[ArcSelfEdit]  # None: in-context only, or an invalid self-edit
    self_edit: Optional[str] = None  # the model's raw config text, when it wrote one
    valid: bool = True
    error: str = ""  # why the self-edit was invalid
    predictions: list[Optional[Grid]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    expected: list[Optional[Grid]] = field(default_factory=list)
    episodes: int = 0  # training episodes after augmentation and the length limit
    train: Optional[TrainReport] = None
    seconds: float = 0.0

    @property
    def solved(self) -> Optional[bool]:
        """Every test output exactly right (False for an invalid config); None when outputs are unknown."""
        if not self.valid:
            return False
        if not self.expected or any(e is None for e in self.expected):
            return None
        return all(p == e for p, e in zip(self.predictions, self.expected))

    def to_json(self) -> dict:
        return {
            "task": self.task_id,
            "condition": self.condition,
            "valid": self.valid,
            "error": self.error,
            "solved": self.solved,
            "config": self.config.to_json() if self.config else None,
            "self_edit": self.self_edit,
            "episodes": self.episodes,
            "train": asdict(self.train) if self.train else None,
            "seconds": self.seconds,
            "predictions": [_rows(g) for g in self.predictions],
            "expected": [_rows(g) for g in self.expected],
            "replies": self.replies,
        }


def _rows(grid: Optional[Grid]):
    return None if grid is None else [list(r) for r in grid]


# episodes ----------------------------------------------------------------------------------------
def leave_out_episodes(demos: Sequence[Pair], leave_out: Sequence[int] = (1, 2)) -> list[Episode]:
    """Each n in `leave_out`: every set of n demonstrations held out, each of them in turn the query,
    the remaining ones (at least one) the context, in their original order."""
    out = []
    for n in leave_out:
        if n < 1 or len(demos) - n < 1:
            continue
        for held in itertools.combinations(range(len(demos)), n):
            context = tuple(p for i, p in enumerate(demos) if i not in held)
            out += [Episode(context, demos[q], "identity") for q in held]
    return out


def candidate_episodes(
    task: ArcTask, config: ArcSelfEdit, settings: FewShotConfig, seed: int
) -> tuple[list[Episode], list[Episode]]:
    """(plain leave-out episodes, augmented copies under the config's transform groups)."""
    rng = random.Random(seed)
    base = leave_out_episodes(task.train, settings.leave_out)
    extra = [copy for ep in base for copy in aug.augmented(ep, config.groups, rng, settings.permute_colours)]
    return base, extra


def training_examples(
    engine, task: ArcTask, config: ArcSelfEdit, settings: FewShotConfig, seed: Optional[int] = None
) -> tuple[list[tuple[list[int], int]], list[Episode]]:
    """Token examples for the inner loop: plain and augmented episodes interleaved (augmented ones
    shuffled), those longer than the length limit left out, at most `settings.max_examples`."""
    seed = settings.seed if seed is None else seed
    base, extra = candidate_episodes(task, config, settings, seed)
    random.Random(seed + 1).shuffle(extra)
    order = [ep for pair in itertools.zip_longest(base, extra) for ep in pair if ep is not None]
    limit = max_len(engine, settings)
    examples, chosen = [], []
    for ep in order:
        if len(chosen) >= settings.max_examples:
            break
        ex = pr.training_example(engine.tokenizer, engine.loaded.prompt_style, ep, config.output_only)
        if len(ex[0]) <= limit:
            examples.append(ex)
            chosen.append(ep)
    return examples, chosen


def max_len(engine, settings: FewShotConfig) -> int:
    return min(settings.max_seq_len, engine.loaded.context_limit)


def inner_config(config: ArcSelfEdit, settings: FewShotConfig, limit: int) -> InnerLoopConfig:
    return InnerLoopConfig(
        lora=settings.lora,
        lr=config.learning_rate,
        epochs=min(config.epochs, settings.max_epochs),
        batch_size=settings.batch_size,
        max_seq_len=limit,
        seed=settings.seed,
    )


def train_config(
    engine,
    task: ArcTask,
    config: ArcSelfEdit,
    settings: FewShotConfig,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> tuple[Optional[TrainReport], int]:
    """Train a fresh adapter in the engine's training slot on the config's episodes; (report, episodes).
    No episode fits the length limit: nothing is trained, (None, 0)."""
    import torch

    examples, chosen = training_examples(engine, task, config, settings)
    if not examples:
        on_event(
            Message(
                f"{task.id}: no training episode fits {max_len(engine, settings)} tokens; predicting without training",
                "warning",
            )
        )
        return None, 0
    tokens = sum(len(ids) for ids, _ in examples)
    on_event(Message(f"{task.id}: {len(examples)} episodes ({tokens} tokens), {config.label()}"))
    engine.trained = False
    with torch.enable_grad():
        report = train(
            engine.host,
            engine.tokenizer,
            [],
            inner_config(config, settings, max_len(engine, settings)),
            on_event,
            cancel,
            examples=examples,
        )
    return report, len(examples)


# prediction --------------------------------------------------------------------------------------
def answer_budget(demos: Sequence[Pair], query_input: Grid) -> int:
    """New tokens to allow for the answer: the demonstrations' output size when they agree, the query's
    own size when every output is its input's size, else half as much again as the largest output."""
    outs = {(len(p.output), len(p.output[0])) for p in demos}
    if len(outs) == 1:
        rows, cols = outs.pop()
        return rows * (cols + 1) + 2
    if all(len(p.output) == len(p.input) and len(p.output[0]) == len(p.input[0]) for p in demos):
        return text_tokens(query_input) + 2
    return min(int(max(text_tokens(p.output) for p in demos) * 1.5) + 4, 30 * 31 + 2)


def _views(vote: bool) -> list[aug.Transform]:
    return [aug.IDENTITY, *aug.BASIC] if vote else [aug.IDENTITY]


def predict(
    engine,
    task: ArcTask,
    settings: FewShotConfig,
    adapter: Optional[str] = None,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> tuple[list[Optional[Grid]], list[str]]:
    """Greedy predictions of every test output (with `adapter`, None = the base model), and the raw replies
    (of the untransformed view). With `settings.vote`, the 7 basic transforms are predicted too, mapped
    back, and the most frequent grid wins (ties: the untransformed view's)."""
    limit = engine.loaded.context_limit
    jobs = []  # (test index, transform, prompt ids, new tokens)
    for t_index, test in enumerate(task.test):
        for view in _views(settings.vote):
            demos = tuple(view.pair(p) for p in task.train)
            query = view.apply(test.input)
            budget = answer_budget(demos, query)
            kept = pr.fitting_demos(engine.tokenizer, engine.loaded.prompt_style, demos, query, limit - budget)
            if kept is None:
                on_event(Message(f"{task.id}: test input {t_index + 1} does not fit the context", "warning"))
                continue
            jobs.append(
                (t_index, view, pr.prompt_ids(engine.tokenizer, engine.loaded.prompt_style, kept, query), budget)
            )
    outs: list[list[int]] = []
    with engine.host.using(adapter) as model:
        for start in range(0, len(jobs), 8):  # rows of one batch share a length budget: keep batches small
            chunk = jobs[start : start + 8]
            outs += generate(
                model,
                engine.tokenizer,
                [j[2] for j in chunk],
                max_new_tokens=max(j[3] for j in chunk),
                stop_ids=engine.stop_ids,
                temperature=0.0,
                cancel=cancel,
                on_text=lambda row, text, s=start: on_event(TokenGenerated(s + row, text)),
            )
    votes: list[list[Grid]] = [[] for _ in task.test]
    replies = [""] * len(task.test)
    for (t_index, view, _, _), ids in zip(jobs, outs):
        text = engine.tokenizer.decode(ids, skip_special_tokens=True)
        if view is aug.IDENTITY:
            replies[t_index] = text
        grid = parse_grid(text)
        if grid is not None:
            try:
                votes[t_index].append(view.inverse(grid))
            except (IndexError, ValueError):  # a reply the transform's inverse cannot map back
                pass
    predictions = []
    for ballots in votes:
        if not ballots:
            predictions.append(None)
            continue
        counts = Counter(ballots)
        top = max(counts.values())
        predictions.append(next(g for g in ballots if counts[g] == top))  # ties: the earliest view
    return predictions, replies


# the whole task ----------------------------------------------------------------------------------
def solve(
    engine,
    task: ArcTask,
    settings: FewShotConfig,
    config: Union[ArcSelfEdit, ParsedConfig, None] = None,
    condition: str = "ttt",
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
    index: int = 0,
    total: int = 1,
) -> TaskResult:
    """One task: train on `config` (ArcSelfEdit, or a model's ParsedConfig; None = in-context only), predict,
    grade. An invalid ParsedConfig is scored 0 without training. Emits ArcTaskScored at the end."""
    started = time.perf_counter()
    self_edit = None
    if isinstance(config, ParsedConfig):
        self_edit = config.text
        if not config.valid:
            result = TaskResult(
                task.id, condition, None, self_edit, False, config.error, expected=[p.output for p in task.test]
            )
            return _scored(result, started, index, total, on_event)
        config = config.config
    report, episodes, adapter = None, 0, None
    if config is not None:
        on_event(Progress("arc task", 0, 2, f"{task.id} {condition}: training"))
        report, episodes = train_config(engine, task, config, settings, on_event, cancel)
        adapter = TRAINING_SLOT if report is not None else None
    on_event(Progress("arc task", 1, 2, f"{task.id} {condition}: predicting"))
    predictions, replies = predict(engine, task, settings, adapter, on_event, cancel)
    on_event(Progress("arc task", 2, 2, f"{task.id} {condition}: graded"))
    result = TaskResult(
        task.id,
        condition,
        config,
        self_edit,
        True,
        "",
        predictions,
        replies,
        [p.output for p in task.test],
        episodes,
        report,
    )
    return _scored(result, started, index, total, on_event)


def _scored(result: TaskResult, started: float, index: int, total: int, on_event: EventSink) -> TaskResult:
    result.seconds = time.perf_counter() - started
    on_event(
        ArcTaskScored(
            result.condition,
            result.task_id,
            index,
            total,
            result.config.text() if result.config else None,
            result.valid,
            result.solved,
            tuple(result.predictions),
            result.seconds,
        )
    )
    return result


# self-edits --------------------------------------------------------------------------------------
def sample_configs(
    engine,
    task: ArcTask,
    settings: FewShotConfig,
    k: int = 1,
    seed: Optional[int] = None,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> list[ParsedConfig]:
    """k self-edit configs for a task from the generator (engine.generator when set, else the base model),
    sampled at `settings.config_temperature`, streamed as TokenGenerated, parsed (invalid ones included)."""
    prompt = config_prompt(engine, task, settings)
    texts = engine.write(
        prompt,
        k,
        settings.config_max_new_tokens,
        settings.config_temperature,
        settings.config_top_p,
        settings.seed if seed is None else seed,
        on_event,
        cancel,
    )
    from seal_desk.arc.self_edit import parse_config

    return [parse_config(text) for text in texts]


def config_prompt(engine, task: ArcTask, settings: FewShotConfig) -> list[int]:
    budget = min(settings.config_prompt_tokens, engine.loaded.context_limit - settings.config_max_new_tokens)
    return pr.config_prompt_ids(engine.tokenizer, engine.loaded.prompt_style, task, budget)


__all__ = [
    "TaskResult",
    "answer_budget",
    "candidate_episodes",
    "config_prompt",
    "inner_config",
    "leave_out_episodes",
    "predict",
    "sample_configs",
    "solve",
    "train_config",
    "training_examples",
]
