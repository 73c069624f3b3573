"""The engine: one resident model, its adapters and a workspace; learn a document end to end.

`Engine.learn` = recall before → write self-edits (streamed) → inner loop → recall after → save
adapter, recording everything in the workspace. Every step reports through typed events and
honours a CancelToken; a cancelled or failed run is recorded as such and leaves no adapter behind.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Optional

import torch

from seal_desk.config import INTERACTIVE, SealConfig, laid_over, layered
from seal_desk.errors import Cancelled, InputError
from seal_desk.events import CancelToken, EventSink, Message, Progress, TokenGenerated, ignore
from seal_desk.knowledge import self_edit as se
from seal_desk.knowledge.answer_likelihood import answer_logprobs, mean_logprob
from seal_desk.knowledge.documents import Document, Passage, Question
from seal_desk.knowledge.grading import rivals
from seal_desk.knowledge.inner_loop import TrainReport, train, train_candidates
from seal_desk.knowledge.learn_result import LearnResult, result_rows, run_summary
from seal_desk.knowledge.question_writer import WrittenQuestions, write_questions
from seal_desk.knowledge.recall import RecallQuestion, RecallReport, ask, evaluate, evaluate_groups, question_ids
from seal_desk.model.adapters import TRAINING_SLOT, AdapterHost
from seal_desk.model.generation import generate
from seal_desk.model.loader import LoadedModel, holds_preset_learner
from seal_desk.workspace.database import Workspace


def asked_for(passages: Sequence[Passage]) -> list[RecallQuestion]:
    """A passage's questions to ask, each with the passage's other answers as its rivals (strict grading)."""
    return [
        RecallQuestion(
            p.title,
            q.question,
            q.answer,
            q.id,
            others=rivals(q.answer, [o.answer for o in p.questions], f"{p.title} {q.question}"),
        )
        for p in passages
        for q in p.questions
    ]


class Engine:
    """Everything the TUI and the CLI drive: one loaded model, adapters, a workspace."""

    def __init__(self, loaded: LoadedModel, workspace: Optional[Workspace] = None, config: SealConfig | None = None):
        self.loaded = loaded
        self.workspace = workspace
        self.config = config or layered(loaded.source.preset, learner_merged=holds_preset_learner(loaded))
        self.host = AdapterHost(loaded.model, quantized=loaded.placement.quantization == "nf4")
        self.trained = False  # the training slot holds a just-trained adapter
        self.candidates = None  # StackedLora of the last train_candidates call
        self.generator: Optional[LoadedModel] = None  # writes self-edits instead of the base (an RL checkpoint)
        self._run_config: Optional[SealConfig] = None

    @classmethod
    def open(
        cls,
        loaded: LoadedModel,
        workspace: Optional[Workspace] = None,
        flags: Optional[dict] = None,
        interactive: bool = False,
    ) -> Engine:
        """The engine factory: `loaded` with its config from all layers (`config.layered`): paper defaults, the
        model's preset, the interactive defaults (`interactive`: a person learning passages, not a benchmark),
        the settings saved in `workspace` for this model, then `flags`."""
        saved = workspace.get_setting(workspace.config_key(loaded.name)) if workspace is not None else None
        merged = holds_preset_learner(loaded)
        return cls(loaded, workspace, layered(loaded.source.preset, saved, flags, merged, interactive))

    @contextmanager
    def configured(self, cfg: SealConfig) -> Iterator[Engine]:
        """`cfg` in force inside (e.g. a measurement's settings on the app's interactive engine), the config
        from before afterwards, whatever happens inside."""
        before, self.config = self.config, cfg
        try:
            yield self
        finally:
            self.config = before

    def interactive(self) -> contextlib.AbstractContextManager[Engine]:
        """`configured` with the interactive defaults (config.INTERACTIVE: the stop rule of the app and `learn`)
        laid over the engine's config."""
        return self.configured(laid_over(self.config, INTERACTIVE))

    @property
    def run_config(self) -> SealConfig:
        """The configuration in force: pinned for the length of a learn run, else the current one."""
        return self._run_config or self.config

    @contextmanager
    def writing_with(self, generator: Optional[LoadedModel]) -> Iterator[Engine]:
        """Self-edits are written by `generator` (an outer-loop checkpoint; None: the resident model) inside."""
        previous, self.generator = self.generator, generator
        try:
            yield self
        finally:
            self.generator = previous

    # pieces ------------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    @property
    def stop_ids(self) -> list[int]:
        return self.loaded.eos_ids

    @property
    def passage_budget(self) -> int:
        """Tokens per passage when splitting documents: well inside the context, so prompt + self-edit fit."""
        return max(64, min(400, (self.loaded.context_limit - self.run_config.self_edit.max_new_tokens) // 2))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def sample_self_edits(
        self,
        passage: Passage,
        fmt: str | None = None,
        k: int | None = None,
        seed: int | None = None,
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> list[str]:
        """Sample k self-edits for a passage from the base model, streaming their tokens."""
        cfg = self.run_config.self_edit
        fmt, k = se.check_format(fmt or cfg.format), k or cfg.k
        if fmt == "none":
            return []
        prompt = se.prompt_ids(self.tokenizer, self.loaded.prompt_style, fmt, passage.title, passage.text)
        if len(prompt) + cfg.max_new_tokens > self.loaded.context_limit:
            raise InputError(
                f"passage '{passage.title[:40]}' is {len(prompt)} tokens; with {cfg.max_new_tokens} new tokens it "
                f"exceeds the model's {self.loaded.context_limit}-token context (split it smaller)"
            )
        return self.write(
            prompt,
            k,
            cfg.max_new_tokens,
            cfg.temperature,
            cfg.top_p,
            cfg.seed if seed is None else seed,
            on_event,
            cancel,
        )

    def write(
        self,
        prompt: list[int],
        k: int,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seed: int,
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> list[str]:
        """k sampled completions of `prompt` (token ids) by the writer: the generator when set (see
        `writing_with`), else the resident model without adapters; tokens stream as TokenGenerated."""
        with self.host.using(None) as model:
            model = self.generator.model if self.generator is not None else model
            outs = generate(
                model,
                self.tokenizer,
                [prompt] * k,
                max_new_tokens=max_new_tokens,
                stop_ids=self.stop_ids,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
                on_text=lambda row, text: on_event(TokenGenerated(row, text)),
                cancel=cancel,
                on_event=on_event,
            )
        return [self.tokenizer.decode(o, skip_special_tokens=True).strip() for o in outs]

    def sequences_for(
        self, passage: Passage, edits: list[str], fmt: str, min_grounding: float | None = None
    ) -> list[str]:
        """Training sequences of a passage's self-edits under the self-edit config (see self_edit.training_sequences)."""
        cfg = self.run_config.self_edit
        floor = cfg.min_grounding if min_grounding is None else min_grounding
        if cfg.select == "best":
            edits = se.best_of(edits, passage.title, passage.text, fmt, floor)
        seqs = se.training_sequences(
            passage.title, passage.text, edits, fmt, cfg.include_passage, floor, self.qa_text if cfg.qa_prompt else None
        )
        if cfg.sentences:  # each sentence alone first; the passage itself is already in `seqs`
            seqs = se.sentence_sequences(passage.title, passage.text)[:-1] + seqs
        return seqs

    def training_tokens(self, sequences: list[str]) -> int:
        """How many tokens the inner loop trains on for `sequences` (one epoch, as inner_loop.encode ends and cuts them)."""
        from seal_desk.knowledge.inner_loop import encode

        return sum(len(ids) for ids in encode(self.tokenizer, sequences, self.run_config.inner.max_seq_len))

    def qa_text(self, title: str, question: str, answer: str) -> str:
        """A question as recall asks it (SEAL's prompt, chat-wrapped for instruct models), then its answer."""
        prompt = self.tokenizer.decode(question_ids(self.tokenizer, self.loaded.prompt_style, title, question))
        bos = self.tokenizer.bos_token
        if bos and prompt.startswith(bos):  # training sequences are encoded with special tokens: one BOS, not two
            prompt = prompt[len(bos) :]
        return prompt + answer

    def checkpointing(self, k: int) -> bool:
        """Whether training k candidates at once runs with gradient checkpointing: as set, or ("auto") when
        the VRAM planner's estimate without it exceeds this GPU's memory (never on the CPU)."""
        mode = self.run_config.inner.gradient_checkpointing
        if mode != "auto":
            return mode == "on"
        if self.loaded.placement.device != "cuda":
            return False
        from seal_desk.model import vram_plan

        arch = vram_plan.architecture_of(self.loaded.source.preset)
        if arch is None:
            return False
        cfg = self.run_config
        settings = vram_plan.settings_for(cfg.inner, cfg.self_edit, self.loaded.placement.quantization, cfg.recall, k=k)
        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
        return vram_plan.needs_checkpointing(vram_plan.estimate(arch, settings), total)

    def train_on(
        self,
        sequences: list[str],
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
        fresh: bool = True,
        examples: list | None = None,
    ) -> TrainReport:
        """Fresh adapter in the training slot (fresh=False: the slot's adapter further), fine-tuned on `sequences`
        (or on ready token `examples`, see inner_loop.train)."""
        self.trained = False
        self.host.use_checkpointing(self.checkpointing(1))
        with torch.enable_grad():  # on even when a caller runs under inference mode
            report = train(
                self.host,
                self.tokenizer,
                sequences,
                self.run_config.inner,
                on_event,
                cancel,
                fresh=fresh,
                examples=examples,
            )
        self.trained = True
        return report

    def train_candidates(
        self,
        sequence_sets: list[list[str]],
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
        seeds: list[int] | None = None,
    ) -> list[TrainReport]:
        """Train one fresh adapter per sequence set in one batched pass (k candidates of a self-edit)."""
        self.trained, self.candidates = False, None
        self.host.use_checkpointing(self.checkpointing(len(sequence_sets)))
        with torch.enable_grad():  # on even when a caller runs under inference mode
            self.candidates, reports = train_candidates(
                self.host, self.tokenizer, sequence_sets, self.run_config.inner, on_event, cancel, seeds
            )
        return reports

    def recall_candidates(
        self,
        questions: Sequence[RecallQuestion],
        phase: str = "recall",
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> list[RecallReport]:
        """Closed-book recall of every candidate from `train_candidates`, all in one batched generation."""
        if self.candidates is None:
            raise InputError("no trained candidates")
        with self.candidates.applied() as model:
            return evaluate_groups(
                model,
                self.tokenizer,
                self.loaded.prompt_style,
                self.stop_ids,
                questions,
                self.candidates.k,
                self.run_config.recall,
                phase,
                on_event,
                cancel,
            )

    def answer_scores(self, questions: Sequence[RecallQuestion], candidates: bool = True) -> list[float]:
        """Mean gold-answer log-probability per token (teacher forced, no generation): one figure per
        candidate from `train_candidates`, or (candidates=False) one for the model without adapters."""
        if not candidates:
            with self.host.using(None) as model:
                per = answer_logprobs(model, self.tokenizer, self.loaded.prompt_style, questions)
        else:
            if self.candidates is None:
                raise InputError("no trained candidates")
            with self.candidates.applied() as model:
                per = answer_logprobs(
                    model, self.tokenizer, self.loaded.prompt_style, questions, groups=self.candidates.k
                )
        return [mean_logprob(p) for p in per]

    def keep_candidate(self, index: int) -> None:
        """Make candidate `index` the just-trained adapter (to save it or ask it questions)."""
        if self.candidates is None:
            raise InputError("no trained candidates")
        self.candidates.export(index)
        self.trained = True

    def recall(
        self,
        questions: Sequence[RecallQuestion],
        adapter: Optional[str] = None,
        phase: str = "recall",
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> RecallReport:
        """Closed-book recall with `adapter` (TRAINING_SLOT for the just-trained one, a loaded name, or None)."""
        with self.host.using(adapter) as model:
            report = evaluate(
                model,
                self.tokenizer,
                self.loaded.prompt_style,
                self.stop_ids,
                questions,
                self.run_config.recall,
                phase,
                on_event,
                cancel,
            )
        if self.run_config.recall.judge and report.answers:
            from seal_desk.knowledge.judge import verdicts

            with self.host.using(None) as model:
                said = verdicts(
                    model,
                    self.tokenizer,
                    self.loaded.prompt_style,
                    self.stop_ids,
                    [(a.asked.question, a.asked.answer, a.text) for a in report.answers],
                )
            report.answers = [replace(a, grade=replace(a.grade, judged=v)) for a, v in zip(report.answers, said)]
        return report

    def with_context(self, questions: Sequence[RecallQuestion], index, top_k: int = 3) -> list[RecallQuestion]:
        """`questions` carrying the passages `index` retrieves for each, as many as fit the model's context."""
        from seal_desk.knowledge.retrieval import query_text

        hits = index.search_many([query_text(q.title, q.question) for q in questions], top_k)
        budget = self.loaded.context_limit - self.run_config.recall.max_new_tokens
        out = []
        for q, found in zip(questions, hits):
            context = tuple((p.title, p.text) for p, _ in found)
            while (
                context
                and len(question_ids(self.tokenizer, self.loaded.prompt_style, q.title, q.question, context)) > budget
            ):
                context = context[:-1]
            out.append(replace(q, context=context))
        return out

    def recall_rag(
        self,
        questions: Sequence[RecallQuestion],
        index,
        top_k: int = 3,
        adapter: Optional[str] = None,
        phase: str = "rag",
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> RecallReport:
        """Recall with the passages a retrieval `index` finds for each question in the prompt (RAG).

        `adapter` as in `recall`: None for the base model, TRAINING_SLOT or a loaded name for an adapter.
        """
        return self.recall(self.with_context(questions, index, top_k), adapter, phase, on_event, cancel)

    def ask(self, prompt: str, adapter: Optional[str] = None, max_new_tokens: int = 160) -> str:
        with self.host.using(adapter) as model:
            return ask(model, self.tokenizer, self.loaded.prompt_style, self.stop_ids, [prompt], max_new_tokens)[0]

    def generate_questions(
        self, passage: Passage, n: int = 5, on_event: EventSink = ignore, cancel: CancelToken | None = None
    ) -> list[Question]:
        """Questions about a passage: the model's, checked against it, topped up with cloze ones (see
        `write_questions`); what was kept and dropped is reported as one Message."""
        written = self.write_questions(passage, n, passage.questions, on_event, cancel)
        on_event(Message(f"{passage.title[:40]}: {written.summary()}", "info" if written.questions else "warning"))
        return written.questions

    def write_questions(
        self,
        passage: Passage,
        n: int = 5,
        existing: Sequence[Question] = (),
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> WrittenQuestions:
        """Let the model write question/answer pairs about a passage; keep those whose answer is a short span
        of the passage that the question does not give away (marked generated), then top up to n with cloze
        questions built from the passage's names, dates and numbers (marked cloze). See knowledge.question_writer."""
        text = (  # passage first, then the task: on SmolLM2-135M this wording gives Q:/A: pairs, "write ... below" none
            f"{passage.title}\n{passage.text}\n\nWrite {n} questions about this text. Answer each with a few "
            "words from the text. Use this format:\nQ: question\nA: answer"
        )
        with self.host.using(None) as model:
            reply = ask(
                model,
                self.tokenizer,
                self.loaded.prompt_style,
                self.stop_ids,
                [text],
                max_new_tokens=48 * n,
                cancel=cancel,
            )[0]
        pairs = [p for p in map(se.qa_pair, se.split_items("self-qa", reply)) if p is not None]
        return write_questions(pairs, passage.title, passage.text, n, existing)

    def save_trained(self, name: str, document_id: Optional[int] = None) -> tuple[int, str]:
        """Save the just-trained adapter into the workspace (atomic folder + one row)."""
        if not self.trained:
            raise InputError("no trained adapter to save")
        if self.workspace is None:
            raise InputError("no workspace to save the adapter in")
        path = self.workspace.new_adapter_path(name)
        try:
            sha = self.host.save(path)
        except BaseException:
            self.workspace.release_adapter_path(path)
            raise
        config = {
            "model": self.loaded.name,
            "inner": asdict(self.run_config.inner),
            "learner": learner_id(self.loaded),
        }
        return self.workspace.add_adapter(name, path, sha, document_id, self.loaded.name, config), str(path)

    def load_adapter(self, adapter_id: int) -> str:
        """Load a workspace adapter onto the resident model; it must have been trained on this model."""
        record = self.workspace.adapter(adapter_id)
        if record.model != self.loaded.name:
            raise InputError(
                f"adapter #{record.id} was trained on {record.model}, not {self.loaded.name} "
                f"(use --model {record.model})"
            )
        trained_with = record.config.get("learner")
        if trained_with != learner_id(self.loaded) and "learner" in record.config:
            now = learner_id(self.loaded) or "none"
            raise InputError(
                f"adapter #{record.id} was trained with learner {trained_with or 'none'}, the model now "
                f"has {now} (use --learner {trained_with or 'none'})"
            )
        return self.host.load(record.path, self.adapter_name(record.id))

    def adapter_name(self, adapter_id: int) -> str:
        """The name a workspace adapter has on the resident model (id + weights hash, never reused)."""
        return f"adapter-{adapter_id}-{self.workspace.adapter(adapter_id).sha256[:8]}"

    def unload_adapter(self, adapter_id: int) -> None:
        self.host.unload(self.adapter_name(adapter_id))

    # the whole loop ----------------------------------------------------------------------------
    def learn(
        self,
        document: Document,
        fmt: str | None = None,
        k: int | None = None,
        self_edits: Optional[dict[int, list[str]]] = None,
        save: bool = True,
        on_event: EventSink = ignore,
        cancel: CancelToken | None = None,
    ) -> LearnResult:
        """Teach the model a document: self-edits → LoRA → recall before/after → saved adapter.

        `self_edits` maps passage index → self-edit texts to use instead of sampling (e.g. ones
        the user picked or edited in the TUI).
        """
        self._run_config = self.config  # settings saved while this runs apply from the next run
        try:
            return self._learn(document, fmt, k, self_edits, save, on_event, cancel)
        finally:
            self._run_config = None

    def _learn(self, document, fmt, k, self_edits, save, on_event, cancel) -> LearnResult:
        fmt = se.check_format(fmt or self.run_config.self_edit.format)
        ws = self.workspace
        if ws is not None and document.id is None:
            ws.add_document(document)
        run_id = (
            ws.start_run("learn", self.loaded.name, self.run_config.to_dict() | {"format": fmt}, document.id)
            if ws
            else None
        )
        timings: dict[str, float] = {}
        try:
            questions = asked_for(document.passages)
            t = time.perf_counter()
            before = self.recall(questions, None, "before", on_event, cancel) if questions else RecallReport()
            timings["recall_before"] = time.perf_counter() - t
            t = time.perf_counter()
            all_edits, sequences = [], []
            for i, passage in enumerate(document.passages):
                on_event(Progress("self-edit", i, len(document.passages), passage.title))
                edits = (self_edits or {}).get(i)
                if edits is None:
                    edits = self.sample_self_edits(passage, fmt, k, on_event=on_event, cancel=cancel)
                    edited = False
                else:
                    edited = True
                if ws is not None and passage.id is not None:
                    for text in edits:
                        ws.add_self_edit(passage.id, fmt, text, self.loaded.name, edited)
                all_edits += edits
                passage_seqs = self.sequences_for(passage, edits, fmt)
                if any(e.strip() for e in edits) and set(passage_seqs) <= set(self.sequences_for(passage, [], fmt)):
                    on_event(
                        Message(
                            f"{passage.title[:40]}: every line of its self-edit was dropped by the grounding "
                            "filter; it is trained on the passage alone"
                            + (" and its sentences" if self.run_config.self_edit.sentences else ""),
                            "warning",
                        )
                    )
                sequences += passage_seqs
            on_event(Progress("self-edit", len(document.passages), len(document.passages)))
            timings["self_edit"] = time.perf_counter() - t
            t = time.perf_counter()
            report = self.train_on(sequences, on_event, cancel)
            timings["train"] = time.perf_counter() - t
            t = time.perf_counter()
            after = self.recall(questions, TRAINING_SLOT, "after", on_event, cancel) if questions else RecallReport()
            timings["recall_after"] = time.perf_counter() - t
            result = LearnResult(document, before, after, report, all_edits, sequences, run_id=run_id, timings=timings)
            if save and ws is not None:
                result.adapter_id, result.adapter_path = self.save_trained(document.title, document.id)
            if ws is not None:
                ws.finish_run(
                    run_id,
                    "done",
                    run_summary(result),
                    result_rows(before, "before") + result_rows(after, "after"),
                    result.adapter_id,
                )
            return result
        except (Cancelled, KeyboardInterrupt):
            if ws is not None:
                ws.end_run(run_id, "cancelled", {})
            raise
        except BaseException as exc:
            if ws is not None:
                ws.end_run(run_id, "failed", {"error": str(exc)[:500]})
            raise


def learner_id(loaded: LoadedModel) -> Optional[str]:
    """Which learner the resident weights hold (its folder name), so adapters are used on the model they learned on."""
    from pathlib import Path

    return Path(loaded.learner).name if loaded.learner else None
