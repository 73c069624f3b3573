"""The learner: a one-time LoRA that teaches the base model to answer questions about what it memorised.

A small model that memorises a passage still fails reworded questions about it: knowledge seen in
one phrasing is hard to extract (Allen-Zhu & Li, Physics of LMs 3.1), and models trained on the
question-answer pairs of *other* documents while learning those documents become better at
learning new ones (Jiang et al. 2024, "instruction-tuned LMs are better knowledge learners"). The
learner is that training, done once: a LoRA over other documents' passages mixed with their
questions asked the way recall asks them (then the short gold answer), and optionally with their
question-answer pairs as the self-edit to write for them. It is merged into the base weights at
load, and every later inner loop trains its fresh adapter on top of it.

Setup (`learner_examples`) / train and save (`train_learner`, a PEFT folder plus a card) / use
(`apply_learner`, merged at load).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from seal_desk.config import InnerLoopConfig
from seal_desk.errors import InputError
from seal_desk.events import CancelToken, EventSink, ignore
from seal_desk.files import write_atomic
from seal_desk.knowledge import self_edit as se
from seal_desk.knowledge.documents import Passage
from seal_desk.knowledge.inner_loop import completion_example, encode
from seal_desk.knowledge.recall import question_ids
from seal_desk.model.learner_weights import CARD, apply_learner, learner_card


def learner_examples(engine, passages: Sequence[Passage], write: str | None = None) -> list:
    """Token examples of the learner, for `inner_loop.train`.

    Per passage: the passage itself (title first, as the inner loop trains it; loss on every token),
    each of its questions asked as recall asks them with the gold answer as the completion (loss on
    the answer only), and with `write` (a self-edit format, e.g. "self-qa") the self-edit prompt for
    the passage with its gold question-answer pairs as the completion: the model also learns to write
    well-formed, reworded question-answer self-edits.
    """
    tok, style, max_len = engine.tokenizer, engine.loaded.prompt_style, engine.run_config.inner.max_seq_len
    examples: list = encode(tok, [f"{p.title}\n{p.text}" for p in passages], max_len)
    for p in passages:
        examples += [
            completion_example(tok, question_ids(tok, style, p.title, q.question), q.answer, max_len)
            for q in p.questions
        ]
        if write:
            pairs = "\n".join(f"Q: {q.question}\nA: {q.answer}" for q in p.questions)
            examples.append(completion_example(tok, se.prompt_ids(tok, style, write, p.title, p.text), pairs, max_len))
    return examples


def check_out(out: str | Path) -> Path:
    """The folder a learner is saved to: new, empty, or an earlier learner (replaced); never another folder."""
    folder = Path(out).expanduser()
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not (folder / CARD).is_file())):
        raise InputError(f"{folder}: exists and is not a learner folder; pick a new --out")
    return folder


def train_learner(
    engine,
    passages: Sequence[Passage],
    cfg: InnerLoopConfig,
    out: str | Path,
    data: list[str],
    write: str | None = None,
    on_event: EventSink = ignore,
    cancel: CancelToken | None = None,
) -> dict:
    """Train the learner LoRA on `passages`, save it as a PEFT folder with its card; returns the card."""
    passages = [p for p in passages if p.questions]
    if not passages:
        raise InputError("the learner needs passages with questions")
    if write is not None:
        se.check_format(write)
    out = check_out(out)
    saved = engine.config
    engine.config = replace(saved, inner=cfg)
    try:
        examples = learner_examples(engine, passages, write)
        report = engine.train_on([], on_event, cancel, examples=examples)
    finally:
        engine.config = saved
    sha = engine.host.save(out)
    card = {
        "kind": "seal-desk learner",
        "base": engine.loaded.name,
        "date": time.strftime("%Y-%m-%d"),
        "data": data,
        "passages": len(passages),
        "questions": sum(len(p.questions) for p in passages),
        "examples": len(examples),
        "writes": write,
        "train": asdict(report),
        "lora": {"r": cfg.lora.r, "alpha": cfg.lora.alpha, "targets": list(cfg.lora.target_modules)},
        "lr": cfg.lr,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "sha256": sha,
    }
    write_atomic(out / CARD, json.dumps(card, indent=2))
    return card


__all__ = ["CARD", "apply_learner", "check_out", "learner_card", "learner_examples", "train_learner"]
