"""The inner loop: fine-tune a fresh LoRA adapter on a self-edit's training sequences.

Setup (tokenise, batch with dynamic padding) / train (AdamW, linear decay) / report. The base model
stays resident; only the adapter's A/B matrices are trained. Cancellation is checked every step.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import torch

from seal_desk.adapters import AdapterHost
from seal_desk.config import InnerLoopConfig
from seal_desk.events import CancelToken, EventSink, TrainStep, ignore


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


def encode(tokenizer, sequences: list[str], max_len: int) -> list[list[int]]:
    """Token ids of each sequence with EOS appended, truncated to `max_len`."""
    eos = tokenizer.eos_token_id
    out = []
    for text in sequences:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"][: max_len - 1]
        out.append(ids + ([eos] if eos is not None else []))
    return out


def batches(examples: list[list[int]], batch_size: int, pad_id: int, rng: random.Random):
    """Shuffled batches padded to their own longest sequence (dynamic padding)."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    for start in range(0, len(order), batch_size):
        chunk = [examples[i] for i in order[start : start + batch_size]]
        width = max(len(x) for x in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, x in enumerate(chunk):
            ids[row, : len(x)] = torch.tensor(x)
            labels[row, : len(x)] = torch.tensor(x)
            mask[row, : len(x)] = 1
        yield ids, labels, mask


def train(
    host: AdapterHost,
    tokenizer,
    sequences: list[str],
    cfg: InnerLoopConfig,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> TrainReport:
    """Train the host's fresh `default` adapter on `sequences`; returns a report."""
    host.prepare(cfg.lora, cfg.seed)
    model = host.peft
    device = next(model.parameters()).device
    examples = encode(tokenizer, sequences, cfg.max_seq_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    params = host.trainable_parameters()
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = random.Random(cfg.seed)
    model.train()
    started, step, tokens = time.perf_counter(), 0, 0
    first = last = float("nan")
    try:
        for epoch in range(cfg.epochs):
            for ids, labels, mask in batches(examples, cfg.batch_size, pad_id, rng):
                if cancel is not None:
                    cancel.check()
                lr = cfg.lr * (1 - step / total) if cfg.schedule == "linear" else cfg.lr
                for group in optimizer.param_groups:
                    group["lr"] = lr
                out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
                out.loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                tokens += int(mask.sum())
                last = float(out.loss.detach())
                first = last if step == 1 else first
                on_event(TrainStep(step, total, epoch + 1, cfg.epochs, last, lr, tokens, time.perf_counter() - started))
    finally:
        model.eval()
        for p in params:
            p.grad = None
    return TrainReport(step, len(examples), tokens, first, last, time.perf_counter() - started)
