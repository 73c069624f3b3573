"""The inner loop: fine-tune a fresh LoRA adapter on a self-edit's training sequences.

Setup (tokenise, batch with dynamic padding) / train (AdamW, linear decay) / report. The base model
stays resident; only the adapter's A/B matrices are trained. Cancellation is checked every step.
`train_candidates` trains k candidates at once (stacked adapters), each exactly as `train` would.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import weakref
from dataclasses import dataclass, replace
from functools import partial

import torch

from seal_desk.config import InnerLoopConfig
from seal_desk.events import CancelToken, EventSink, Message, TrainStep, ignore
from seal_desk.model.adapters import TRAINING_SLOT, AdapterHost
from seal_desk.model.oom import Halving
from seal_desk.model.optimizers import make_optimizer
from seal_desk.model.stacked_lora import BatchedAdamW, StackedLora


@dataclass(frozen=True)
class TrainReport:
    steps: int
    sequences: int
    tokens: int  # tokens trained on, all epochs
    first_loss: float
    final_loss: float
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def autocast(cfg: InnerLoopConfig, model):
    """The training forward's precision context: bf16 autocast, or a no-op for fp32 (see
    InnerLoopConfig.precision). Entered per step: autocast caches its casts of trainable weights
    for as long as it is entered, so one context around several optimizer steps trains stale copies."""
    if cfg.precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(next(model.parameters()).device.type, dtype=torch.bfloat16)


def encode(tokenizer, sequences: list[str], max_len: int) -> list[list[int]]:
    """Token ids of each sequence with EOS appended, truncated to `max_len`."""
    eos = tokenizer.eos_token_id
    out = []
    for text in sequences:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"][: max_len - 1]
        out.append(ids + ([eos] if eos is not None else []))
    return out


def completion_example(tokenizer, prompt_ids: list[int], completion: str, max_len: int) -> tuple[list[int], int]:
    """A (token ids, prompt length) example: the loss falls on the completion (and EOS) only."""
    eos = tokenizer.eos_token_id
    ids = list(prompt_ids) + tokenizer(completion, add_special_tokens=False)["input_ids"]
    return (ids[: max_len - 1] + ([eos] if eos is not None else []), len(prompt_ids))


def batches(examples: list, batch_size: int, pad_id: int, rng: random.Random, group_by_length: bool = False):
    """Shuffled batches padded to their own longest sequence (dynamic padding).

    An example is a list of token ids, or (ids, n) whose first n tokens carry no loss (a prompt).
    `group_by_length`: batches of similar lengths (sorted within shuffled windows of 16 batches,
    batch order shuffled), so large batches of mixed lengths waste little on padding.
    """
    order = list(range(len(examples)))
    rng.shuffle(order)
    starts = list(range(0, len(order), batch_size))
    if group_by_length and batch_size > 1:
        size = lambda i: len(examples[i][0] if isinstance(examples[i], tuple) else examples[i])  # noqa: E731
        window = batch_size * 16
        order = [i for w in range(0, len(order), window) for i in sorted(order[w : w + window], key=size)]
        rng.shuffle(starts)
    for start in starts:
        chunk = [
            examples[i] if isinstance(examples[i], tuple) else (examples[i], 0)
            for i in order[start : start + batch_size]
        ]
        width = max(len(x) for x, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (x, skip) in enumerate(chunk):
            ids[row, : len(x)] = torch.tensor(x)
            labels[row, skip : len(x)] = torch.tensor(x[skip:])
            mask[row, : len(x)] = 1
        yield ids, labels, mask


def train(
    host: AdapterHost,
    tokenizer,
    sequences: list[str],
    cfg: InnerLoopConfig,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
    examples: list | None = None,
    fresh: bool = True,
) -> TrainReport:
    """Train the host's fresh `default` adapter on `sequences` (or ready token `examples`); returns a report.

    `fresh=False` trains the adapter already in the slot further instead (a new optimizer and schedule).
    A batch that runs out of memory is redone in slices of half as many rows (gradients accumulated, so
    the same update), and later batches keep the smaller slices.
    """
    if fresh:
        host.prepare(cfg.lora, cfg.seed)
    else:
        host.resume(cfg.lora)
    model = host.peft
    device = next(model.parameters()).device
    examples = examples if examples is not None else encode(tokenizer, sequences, cfg.max_seq_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    params = host.trainable_parameters()
    optimizer = make_optimizer(params, cfg.optimizer, cfg.lr, cfg.weight_decay)
    rng = random.Random(cfg.seed)
    precision = autocast(cfg, model)
    rows = Halving(cfg.batch_size, "training sequence{s}", on_event)
    model.train()
    started, step, tokens = time.perf_counter(), 0, 0
    first = last = float("nan")
    try:
        for epoch in range(cfg.epochs):
            epoch_loss = []
            for ids, labels, mask in batches(examples, cfg.batch_size, pad_id, rng, cfg.group_by_length):
                if cancel is not None:
                    cancel.check()
                lr = cfg.lr * (1 - step / total) if cfg.schedule == "linear" else cfg.lr
                for group in optimizer.param_groups:
                    group["lr"] = lr
                last = rows.run(partial(_backward, model, precision, params, (ids, labels, mask), device))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                tokens += int((labels != -100).sum())
                first = last if step == 1 else first
                epoch_loss.append(last)
                on_event(TrainStep(step, total, epoch + 1, cfg.epochs, last, lr, tokens, time.perf_counter() - started))
            if converged(epoch_loss, cfg):
                if epoch + 1 < cfg.epochs:  # the loop ends here: its last step, with the total it turned out to have
                    elapsed = time.perf_counter() - started
                    on_event(TrainStep(step, step, epoch + 1, cfg.epochs, last, lr, tokens, elapsed))
                    on_event(
                        Message(
                            f"inner loop converged: epoch {epoch + 1}/{cfg.epochs} mean loss "
                            f"{sum(epoch_loss) / len(epoch_loss):.3f} < {cfg.stop_loss:g}, stopped at step {step}/{total}"
                        )
                    )
                break
    finally:
        model.eval()
        for p in params:
            p.grad = None
    return TrainReport(step, len(examples), tokens, first, last, time.perf_counter() - started)


def converged(epoch_losses: list[float], cfg: InnerLoopConfig) -> bool:
    """The convergence stop (`cfg.stop_loss`): this epoch's mean loss is under the threshold."""
    return cfg.stop_loss > 0 and bool(epoch_losses) and sum(epoch_losses) / len(epoch_losses) < cfg.stop_loss


def _backward(model, precision, params, batch: tuple, device, size: int) -> float:
    """Forward and backward of one batch, `size` rows at a time; returns the batch's loss. Each slice's
    mean loss is weighted by its share of the batch's targets, so the gradients sum to the whole batch's."""
    for p in params:
        p.grad = None  # a batch run again after out-of-memory starts clean
    ids, labels, mask = batch
    targets = (labels[:, 1:] != -100).sum(-1)  # the loss falls on each row's shifted labels
    loss = 0.0
    for start in range(0, ids.shape[0], size):
        part = slice(start, start + size)
        share = 1.0 if size >= ids.shape[0] else float(targets[part].sum() / targets.sum())
        if not share:
            continue
        with precision:
            part_loss = target_loss(model, ids[part].to(device), mask[part].to(device), labels[part].to(device))
        (part_loss * share).backward()
        loss += float(part_loss.detach()) * share
        del part_loss  # its graph (logits included) must not live on through the next slice's forward
    return loss


LOGITS_AT_TARGETS = True  # project onto the vocabulary only where a next token is trained (False: everywhere)
_NO_MASKED_LOGITS: weakref.WeakSet = weakref.WeakSet()  # models found not to take a logits_to_keep mask


def target_loss(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss over the labelled positions, as the model's own loss computes it, with the output
    projection (a 49k–152k vocabulary) and its backward run only at positions whose next token is a target.
    That saves work where prompts are masked (the learner's and the outer loop's SFT examples, ARC episodes);
    `learn`'s sequences are trained whole, so there it saves one position a row. A model that cannot slice its
    logits with a mask (`logits_to_keep`: older transformers, some remote code) gets its own loss from then on."""
    if LOGITS_AT_TARGETS and model not in _NO_MASKED_LOGITS:
        wanted = labels[:, 1:] != -100
        keep = torch.zeros_like(labels, dtype=torch.bool)
        keep[:, :-1] = wanted
        try:
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
        except torch.OutOfMemoryError:
            raise
        except (TypeError, IndexError, RuntimeError):  # no logits_to_keep, or no mask form of it
            logits = None
        if logits is not None:
            logits = logits.reshape(-1, logits.shape[-1])
            if logits.shape[0] == int(wanted.sum()):  # (targets, vocab): the mask was honoured
                return torch.nn.functional.cross_entropy(logits.float(), labels[:, 1:][wanted])
        del logits  # (ignored: every position's logits) its graph must not live through the forward below
        _NO_MASKED_LOGITS.add(model)
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def _schedule(cfg: InnerLoopConfig, step: int, total: int) -> float:
    return cfg.lr * (1 - step / total) if cfg.schedule == "linear" else cfg.lr


def _plan(examples: list[list[int]], cfg: InnerLoopConfig, pad_id: int) -> list[tuple[int, tuple]]:
    """Every (epoch, batch) one candidate trains on, in the order `train` would use them."""
    rng = random.Random(cfg.seed)
    return [
        (epoch, batch)
        for epoch in range(cfg.epochs)
        for batch in batches(examples, cfg.batch_size, pad_id, rng, cfg.group_by_length)
    ]


def _stack_step(parts: list[tuple], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Candidates' batches as equal row groups of one batch (spare rows are padding, no loss)."""
    rows = max(p[0].shape[0] for p in parts)
    width = max(p[0].shape[1] for p in parts)
    ids = torch.full((len(parts) * rows, width), pad_id, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    mask = torch.ones_like(ids)  # spare rows attend to their padding so no row is fully masked
    for g, (p_ids, p_labels, p_mask) in enumerate(parts):
        n, w = p_ids.shape
        ids[g * rows : g * rows + n, :w] = p_ids
        labels[g * rows : g * rows + n, :w] = p_labels
        mask[g * rows : g * rows + n] = 0
        mask[g * rows : g * rows + n, :w] = p_mask
    return ids, labels, mask


def _group_losses(model, ids, labels, mask, groups: int) -> torch.Tensor:
    """Mean next-token loss of each row group (what `train` computes for that candidate alone)."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    target = labels[:, 1:]
    per_token = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="none"
    ).view(target.shape)
    valid = (target != -100).float()
    per_group = (per_token * valid).view(groups, -1).sum(-1)
    counts = valid.view(groups, -1).sum(-1).clamp(min=1)
    return per_group / counts


@dataclass
class _Packed:
    """Candidates' batches packed into one row without padding; each sequence restarts its positions."""

    ids: torch.Tensor  # (1, N)
    positions: torch.Tensor  # (1, N)
    keep: torch.Tensor  # (M,) positions whose next token is a target
    targets: torch.Tensor  # (M,)
    owner: torch.Tensor  # (M,) group of each target
    segments: list[tuple[int, int]]  # token range of each group


def _pack_step(parts: list[tuple]) -> _Packed:
    ids, positions, keep, targets, owner, segments = [], [], [], [], [], []
    for g, (p_ids, p_labels, p_mask) in enumerate(parts):
        start = len(ids)
        for row in range(p_ids.shape[0]):
            n = int(p_mask[row].sum())
            base = len(ids)
            ids += p_ids[row, :n].tolist()
            positions += range(n)
            labels = p_labels[row, :n].tolist()
            for j in range(n - 1):
                if labels[j + 1] != -100:
                    keep.append(base + j)
                    targets.append(labels[j + 1])
                    owner.append(g)
        segments.append((start, len(ids)))
    t = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
    return _Packed(t([ids]), t([positions]), t(keep), t(targets), t(owner), segments)


def _packed_losses(model, packed: _Packed, groups: int, device) -> torch.Tensor:
    """Mean next-token loss of each group of a packed row (logits only where there is a target)."""
    logits = model(
        input_ids=packed.ids.to(device),
        position_ids=packed.positions.to(device),
        logits_to_keep=packed.keep.to(device),
        use_cache=False,
    ).logits[0]
    per_token = torch.nn.functional.cross_entropy(logits.float(), packed.targets.to(device), reduction="none")
    owner = packed.owner.to(device)
    sums = torch.zeros(groups, device=device).index_add(0, owner, per_token)
    counts = torch.zeros(groups, device=device).index_add(0, owner, torch.ones_like(per_token))
    return sums / counts.clamp(min=1)


@torch.no_grad()
def packing_works(model, device) -> bool:
    """Whether this model keeps packed sequences apart (position-id resets → block-diagonal attention)."""
    a, b = list(range(5, 12)), list(range(20, 25))
    try:
        alone = [model(input_ids=torch.tensor([x], device=device)).logits[0] for x in (a, b)]
        packed = model(
            input_ids=torch.tensor([a + b], device=device),
            position_ids=torch.tensor([list(range(len(a))) + list(range(len(b)))], device=device),
            use_cache=False,
        ).logits[0]
    except Exception:  # noqa: BLE001 - any failure means: do not pack
        return False
    return bool(torch.allclose(packed, torch.cat(alone), atol=1e-3, rtol=1e-3))


def train_candidates(
    host: AdapterHost,
    tokenizer,
    sequence_sets: list[list[str]],
    cfg: InnerLoopConfig,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
    seeds: list[int] | None = None,
) -> tuple[StackedLora, list[TrainReport]]:
    """Train one fresh adapter per sequence set, all in one batched pass.

    Each candidate sees the same batches, learning rates and AdamW updates as `train` would give it
    alone with its seed (`seeds[i]`, default cfg.seed): same initial adapter, same shuffles.
    Finished candidates drop out of the batch. Out of memory, the candidates train in groups of half
    as many, one group after another (the same adapters), joined into one stack.
    """
    k = len(sequence_sets)
    seeds = list(seeds) if seeds is not None else [cfg.seed] * k
    parts = Halving(k, "candidate{s}", on_event).over(
        k, lambda a, b: _train_together(host, tokenizer, sequence_sets[a:b], cfg, on_event, cancel, seeds[a:b])
    )
    return StackedLora.joined([stack for stack, _ in parts]), [r for _, reports in parts for r in reports]


def _train_together(
    host: AdapterHost,
    tokenizer,
    sequence_sets: list[list[str]],
    cfg: InnerLoopConfig,
    on_event: EventSink,
    cancel: CancelToken | None,
    seeds: list[int],
) -> tuple[StackedLora, list[TrainReport]]:
    k = len(sequence_sets)
    stack = None
    for seed in sorted(set(seeds)):
        host.prepare(cfg.lora, seed)
        stack = stack or StackedLora(host, k)
        stack.copy_slot([i for i in range(k) if seeds[i] == seed])
    device = next(host.peft.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    plans = [
        _plan(encode(tokenizer, seqs, cfg.max_seq_len), replace(cfg, seed=seed), pad_id)
        for seqs, seed in zip(sequence_sets, seeds)
    ]
    totals = [len(plan) for plan in plans]
    schedule_totals = list(totals)  # the learning-rate schedule's length, kept when a candidate stops early
    epoch_losses: list[list[float]] = [[] for _ in range(k)]
    optimizer = BatchedAdamW(stack.parameters(), weight_decay=cfg.weight_decay)
    first = [float("nan")] * k
    last = [float("nan")] * k
    tokens = [0] * k
    started = time.perf_counter()
    for p in host.trainable_parameters():
        p.requires_grad_(False)  # the slot's own weights are not used while the stack runs
    if host.packing is None:
        host.packing = packing_works(host.peft, device)
    precision = autocast(cfg, host.peft)
    host.peft.train()
    try:
        with stack.applied() as model:
            for step in range(max(totals, default=0)):
                if cancel is not None:
                    cancel.check()
                live = [i for i in range(k) if step < totals[i]]
                if not live:  # every candidate stopped early (cfg.stop_loss)
                    break
                parts = [plans[i][step][1] for i in live]
                stack.route = torch.tensor(live)
                with precision:
                    if host.packing:
                        packed = _pack_step(parts)
                        stack.segments = packed.segments
                        losses = _packed_losses(model, packed, len(live), device)
                    else:
                        ids, labels, mask = _stack_step(parts, pad_id)
                        losses = _group_losses(model, ids.to(device), labels.to(device), mask.to(device), len(live))
                losses.sum().backward()
                lr = torch.zeros(k)
                active = torch.zeros(k, dtype=torch.bool)
                for i in live:
                    lr[i] = _schedule(cfg, step, schedule_totals[i])
                    active[i] = True
                optimizer.step(lr, active)
                optimizer.zero_grad()
                for j, i in enumerate(live):
                    last[i] = float(losses[j].detach())
                    first[i] = last[i] if step == 0 else first[i]
                    tokens[i] += int((parts[j][1] != -100).sum())
                    epoch_losses[i].append(last[i])
                    ends_epoch = step + 1 == totals[i] or plans[i][step + 1][0] != plans[i][step][0]
                    if ends_epoch:
                        if converged(epoch_losses[i], cfg):
                            totals[i] = step + 1  # this candidate is done: it drops out of the batch
                        epoch_losses[i] = []
                epoch = max(plans[i][step][0] for i in live) + 1
                on_event(
                    TrainStep(
                        step + 1,
                        max(totals),
                        epoch,
                        cfg.epochs,
                        sum(last[i] for i in live) / len(live),
                        float(lr[live[0]]),
                        sum(tokens),
                        time.perf_counter() - started,
                    )
                )
    finally:
        host.peft.eval()
        for t in stack.parameters():
            t.grad = None
        for name, param in host.peft.named_parameters():
            param.requires_grad = f".{TRAINING_SLOT}." in name and "lora_" in name
    seconds = time.perf_counter() - started
    reports = [TrainReport(totals[i], len(sequence_sets[i]), tokens[i], first[i], last[i], seconds) for i in range(k)]
    return stack, reports
