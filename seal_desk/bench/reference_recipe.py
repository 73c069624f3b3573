"""`bench speed --compare-reference`: seal-desk's inner loop beside SEAL's reference recipe, same self-edits.

SEAL's reference inner loop (knowledge-incorporation/src/inner/TTT_server.py) fine-tunes a fresh PEFT LoRA
with Hugging Face's `Trainer`: r=32, alpha=64, dropout 0, PEFT's default target modules for the
architecture (q_proj and v_proj on Llama and Qwen), batch 1, 10 epochs, lr 1e-3 with the Trainer's linear
decay and AdamW, every sequence tokenized with `padding="max_length"` to 2048 tokens and labels copied
from the input ids, so the loss also covers the padding (pad = EOS). Three arms train the same training
sequences of the same passages from the same seed, each on the same base weights:

- `reference`: that recipe as its code does it;
- `reference, no padding`: the same Trainer run with each sequence at its own length (a fair variant);
- `seal-desk`: the engine's own inner loop (`Engine.train_on`) with its configured settings;
- `seal-desk, stop rule`: the same with the interactive defaults laid over them (config.INTERACTIVE: the
  convergence stop the app and `learn` use).

Each arm's adapter is then asked the passage's questions closed-book through the engine's recall, so the
time and the recall of each arm sit in one table.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seal_desk.engine import Engine, asked_for
from seal_desk.errors import InputError
from seal_desk.events import EventSink, Message, ignore
from seal_desk.knowledge.documents import Passage
from seal_desk.model.adapters import TRAINING_SLOT

REFERENCE_LEN = 2048  # TTT_server.py --max_seq_length
ARMS = ("reference", "reference, no padding", "seal-desk", "seal-desk, stop rule")


@dataclass(frozen=True)
class ReferenceRecipe:
    """SEAL's reference inner-loop hyperparameters (TTT_server.py defaults)."""

    r: int = 32
    alpha: int = 64
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 1
    pad_to: int | None = REFERENCE_LEN  # None: each sequence at its own length


@dataclass
class ArmResult:
    """One arm over all passages: seconds, tokens and recall per passage."""

    arm: str
    seconds: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)  # token positions trained (with padding), all epochs
    content_tokens: list[int] = field(default_factory=list)  # of which real text, all epochs
    correct: int = 0
    questions: int = 0

    def to_json(self) -> dict:
        return {
            "arm": self.arm,
            "s_per_candidate": statistics.median(self.seconds) if self.seconds else 0.0,
            "seconds": self.seconds,
            "tokens_per_candidate": statistics.median(self.tokens) if self.tokens else 0,
            "content_tokens_per_candidate": statistics.median(self.content_tokens) if self.content_tokens else 0,
            "correct": self.correct,
            "questions": self.questions,
            "recall": self.correct / self.questions if self.questions else 0.0,
        }


def reference_rows(tokenizer, sequences: Sequence[str], pad_to: int | None) -> list[dict]:
    """The reference's training rows: truncated at 2048, padded with EOS to `pad_to`, labels = input ids."""
    pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id  # pad = EOS there
    rows = []
    for text in sequences:
        ids = tokenizer(text, truncation=True, max_length=REFERENCE_LEN)["input_ids"]
        mask = [1] * len(ids)
        if pad_to is not None and len(ids) < pad_to:
            fill = pad_to - len(ids)
            ids, mask = ids + [pad] * fill, mask + [0] * fill
        rows.append({"input_ids": ids, "attention_mask": mask, "labels": list(ids)})
    return rows


def train_reference(base, tokenizer, sequences: Sequence[str], recipe: ReferenceRecipe, seed: int, out: Path) -> dict:
    """Train one PEFT LoRA on `base` the reference's way (HF Trainer) and save it to `out`; `base` is left
    as it was (the adapter is unloaded). Returns seconds and token counts."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import PrinterCallback, Trainer, TrainingArguments, default_data_collator

    rows = reference_rows(tokenizer, sequences, recipe.pad_to)
    config = LoraConfig(r=recipe.r, lora_alpha=recipe.alpha, lora_dropout=0.0, task_type="CAUSAL_LM")
    torch.manual_seed(seed)
    model = get_peft_model(base, config)
    cuda = torch.cuda.is_available() and next(base.parameters()).is_cuda
    args = TrainingArguments(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=recipe.batch_size,
        num_train_epochs=recipe.epochs,
        learning_rate=recipe.lr,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        remove_unused_columns=False,
        fp16=False,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        use_cpu=not cuda,
        seed=seed,
        disable_tqdm=True,
    )
    trainer = Trainer(  # batch 1: rows go in as they are (padded above, or not at all), nothing to collate
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=default_data_collator,
    )
    trainer.remove_callback(PrinterCallback)  # a printed dict per step otherwise (disable_tqdm adds it)
    try:
        started = time.perf_counter()
        trainer.train()
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        model.save_pretrained(str(out / "adapter"))
    finally:
        model.unload()  # the LoRA layers out again: `base` is the plain model for the next arm
    return {
        "seconds": seconds,
        "tokens": sum(len(r["input_ids"]) for r in rows) * recipe.epochs,
        "content_tokens": sum(sum(r["attention_mask"]) for r in rows) * recipe.epochs,
    }


def compare_reference(
    engine: Engine,
    base,
    passages: Sequence[Passage],
    recipe: ReferenceRecipe = ReferenceRecipe(),
    on_event: EventSink = ignore,
    arms_run: Sequence[str] = ARMS,
) -> dict:
    """Each passage: write one self-edit with the engine, build its training sequences, and train and
    evaluate them in each arm of `arms_run` (a subset of ARMS, in ARMS order: the padded arm costs ~2048
    tokens a sequence, so it can be left out of a run over many passages). `base`: a plain copy of the
    engine's weights (no adapters) for the reference arms (None when only seal-desk's arms run)."""
    unknown = set(arms_run) - set(ARMS)
    if unknown or not arms_run:
        raise InputError(f"reference arms must be among {', '.join(ARMS)} (got {', '.join(sorted(unknown)) or 'none'})")
    arms = {name: ArmResult(name) for name in ARMS if name in arms_run}
    seed = engine.run_config.self_edit.seed
    fmt = engine.run_config.self_edit.format
    for i, passage in enumerate(passages, 1):
        edits = engine.sample_self_edits(passage, fmt, k=1, seed=seed)
        sequences = engine.sequences_for(passage, edits, fmt)
        questions = asked_for([passage])
        on_event(
            Message(f"[{i}/{len(passages)}] {passage.title}: {len(sequences)} sequences, {len(questions)} questions")
        )
        for name, arm in arms.items():
            if name.startswith("seal-desk"):
                report = _train_ours(engine, sequences, stop_rule=name != "seal-desk")
                seconds, tokens = report.seconds, report.tokens
                arm.seconds.append(seconds)
                arm.tokens.append(tokens)
                arm.content_tokens.append(tokens)
                recall = engine.recall(questions, TRAINING_SLOT, "after")
            else:
                pad_to = REFERENCE_LEN if name == "reference" else None
                with tempfile.TemporaryDirectory(prefix="seal-desk-reference-") as tmp:
                    done = train_reference(base, engine.tokenizer, sequences, _with(recipe, pad_to), seed, Path(tmp))
                    arm.seconds.append(done["seconds"])
                    arm.tokens.append(done["tokens"])
                    arm.content_tokens.append(done["content_tokens"])
                    adapter = engine.host.load(Path(tmp) / "adapter", f"reference-{i}-{len(arm.seconds)}")
                    try:
                        recall = engine.recall(questions, adapter, "after")
                    finally:
                        engine.host.unload(adapter)
            arm.correct += recall.correct
            arm.questions += len(questions)
            on_event(Message(f"  {name}: {arm.seconds[-1]:.1f} s, recall {recall.correct}/{len(questions)}"))
    rows = [arm.to_json() for arm in arms.values()]
    ours = arms["seal-desk"].to_json()["s_per_candidate"] if "seal-desk" in arms else 0.0
    for row in rows:
        row["times_seal_desk"] = row["s_per_candidate"] / ours if ours else None  # no seal-desk arm ran
    return {
        "passages": [p.title for p in passages],
        "recipe": {
            "r": recipe.r,
            "alpha": recipe.alpha,
            "epochs": recipe.epochs,
            "lr": recipe.lr,
            "pad_to": REFERENCE_LEN,
        },
        "arms": rows,
    }


def _train_ours(engine: Engine, sequences: list[str], stop_rule: bool):
    """The engine's inner loop on `sequences`, with its config or (`stop_rule`) with config.INTERACTIVE over it."""
    with engine.interactive() if stop_rule else engine.configured(engine.config):
        return engine.train_on(sequences)


def _with(recipe: ReferenceRecipe, pad_to: int | None) -> ReferenceRecipe:
    from dataclasses import replace

    return replace(recipe, pad_to=pad_to)
