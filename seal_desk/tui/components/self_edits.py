"""Self-edits: pick a format and k, watch the samples stream in, pick and edit them, learn from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea

from seal_desk.errors import InputError, SealDeskError
from seal_desk.events import Event, TokenGenerated
from seal_desk.knowledge.documents import Passage
from seal_desk.knowledge.self_edit import FORMATS, LineVerdict, line_verdicts
from seal_desk.tui.drafts import Draft, PassageDrafts
from seal_desk.tui.formatting import one_line
from seal_desk.tui.host import host
from seal_desk.tui.jobs import Job
from seal_desk.tui.messages import LearnRequested, SelfEditsWritten

FORMAT_HELP = {
    "implications": "a list of implications of the passage (SEAL's default)",
    "implications-long": "a long list of self-contained implications",
    "rewrite": "the passage rewritten a few different ways",
    "self-qa": "question/answer pairs about the passage",
    "chain-of-thought": "step-by-step reasoning, then implications",
    "none": "no self-edit: train on the passage alone (baseline)",
}


class MarkedTextArea(TextArea):
    """A TextArea that strikes out the rows training drops (see `mark`)."""

    DROPPED = "seal-desk-dropped"

    def mark(self, rows: set[int]) -> None:
        if rows != getattr(self, "dropped", set()):
            self.dropped = set(rows)
            self._build_highlight_map()
            self.refresh()

    def _build_highlight_map(self) -> None:
        super()._build_highlight_map()
        theme = getattr(self, "_theme", None)
        if theme is None:
            return
        if self.DROPPED not in theme.syntax_styles:  # the widget's own copy of its theme
            theme.syntax_styles = {**theme.syntax_styles, self.DROPPED: Style(dim=True, strike=True)}
        for row in getattr(self, "dropped", ()):  # also called from TextArea.__init__, before `dropped` is set
            self._highlights[row].append((0, None, self.DROPPED))


class SampleCard(Vertical):
    """One sampled self-edit: a 'use' tick, its status, its (editable once done) text with the lines that
    training drops struck out, and why they are dropped."""

    class Changed(Message):
        """The sample's text or tick changed (the pane recounts what will be trained)."""

    def __init__(self, index: int, draft: Draft, check: Optional[Callable[[str], list[LineVerdict]]] = None) -> None:
        super().__init__(classes="sample-card")
        self.index = index
        self.draft = draft
        self.check = check  # the self-edit's text -> what training makes of each line
        self.verdicts: list[LineVerdict] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="sample-head"):
            yield Checkbox(f"Sample {self.index + 1}", self.draft.use, compact=True, classes="sample-use")
            yield Label(self._status(), classes="sample-status")
        area = MarkedTextArea(self.draft.text, read_only=not self.draft.done, soft_wrap=True, classes="sample-text")
        area.show_line_numbers = False
        yield area
        yield Static("", classes="sample-dropped")

    def on_mount(self) -> None:
        self.review()

    def review(self) -> None:
        """Mark the lines that training drops (done samples only) and say why."""
        done = self.draft.done and self.check is not None
        self.verdicts = self.check(self.draft.text) if done else []
        dropped = [v for v in self.verdicts if not v.kept]
        self.query_one(MarkedTextArea).mark({v.row for v in dropped})
        reasons = Text()
        items = list({v.item: v for v in dropped}.values())
        for v in items[:3]:
            reasons.append("\n" if reasons else "")
            reasons.append("✘ ", style="red")
            reasons.append(one_line(v.item, 48), style="dim strike")
            reasons.append(f"  {v.reason}", style="dim")
        if len(items) > 3:
            reasons.append(f"\n… and {len(items) - 3} more struck-out line(s)", style="dim")
        box = self.query_one(".sample-dropped", Static)
        box.update(reasons)
        box.display = bool(items)
        self.refresh_status()

    def _status(self) -> str:
        d = self.draft
        if not d.done:
            return f"writing… {len(d.text)} chars"
        lines = sum(1 for ln in d.text.splitlines() if ln.strip())
        rows = {v.row for v in self.verdicts if not v.kept}
        dropped = ""
        if rows:
            dropped = " · all dropped" if len(rows) == lines else f" · {len(rows)} dropped"
        return f"{lines} line(s){dropped}{' · edited' if d.edited else ''}" + ("" if d.text.strip() else " · empty")

    def refresh_status(self) -> None:
        self.query_one(".sample-status", Label).update(self._status())

    def append(self, text: str) -> None:
        area = self.query_one(TextArea)
        area.insert(text, area.document.end)
        area.scroll_end(animate=False)
        self.refresh_status()

    def finish(self) -> None:
        area = self.query_one(TextArea)
        area.load_text(self.draft.text)
        area.read_only = False
        area.move_cursor((0, 0))
        area.scroll_home(animate=False)
        self.review()

    @on(Checkbox.Changed)
    def _use(self, event: Checkbox.Changed) -> None:
        event.stop()
        if self.draft.use != event.value:
            self.draft.use = event.value
            self.post_message(self.Changed())

    @on(TextArea.Changed)
    def _edited(self, event: TextArea.Changed) -> None:
        event.stop()
        if self.draft.done and event.text_area.text != self.draft.text:
            self.draft.text = event.text_area.text
            self.draft.edited = True
            self.review()
            self.post_message(self.Changed())


class SelfEditPane(Vertical):
    """Write self-edits for the selected passage of the current document and choose what to train on."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._rounds: dict[tuple[int, int, str], int] = {}
        self._shown: Optional[tuple[int, int, str]] = None
        self._doc_id: Optional[int] = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="se-row1", classes="form-row"):
            yield Label("Passage", classes="row-label")
            yield Select([], prompt="no document", allow_blank=True, compact=True, id="se-passage")
        with Horizontal(id="se-row2", classes="form-row"):
            yield Label("Format", classes="row-label")
            yield Select(
                [(f, f) for f in FORMATS], value="implications", allow_blank=False, compact=True, id="se-format"
            )
            yield Label("k", classes="row-label short")
            yield Input("1", type="integer", id="se-k", max_length=2, compact=True)
            yield Button("Generate", id="se-generate", variant="primary", compact=True, tooltip="ctrl+g")
            yield Button("Apply & train", id="se-learn", variant="success", compact=True, tooltip="ctrl+t")
        yield Label("", id="se-info")
        yield VerticalScroll(id="se-samples")

    def on_show(self) -> None:
        self._render_samples()

    def on_mount(self) -> None:
        self.watch(self.app, "document_id", self._document_changed)
        host(self).workspace_changed.subscribe(self, self._workspace_changed)

    def _workspace_changed(self, topic: str) -> None:
        if topic in ("documents", "questions", "config"):
            self._document_changed(host(self).document_id)

    # state -------------------------------------------------------------------------------------
    @property
    def fmt(self) -> str:
        value = self.query_one("#se-format", Select).value
        return value if isinstance(value, str) else "implications"

    @property
    def passage_idx(self) -> Optional[int]:
        value = self.query_one("#se-passage", Select).value
        return value if isinstance(value, int) else None

    def k(self) -> int:
        raw = self.query_one("#se-k", Input).value.strip()
        try:
            k = int(raw)
        except ValueError:
            k = 0
        if not 1 <= k <= 16:
            raise InputError("k (samples per passage) must be between 1 and 16")
        return k

    def set_defaults(self, fmt: str, k: int) -> None:
        """Show the configured self-edit format and k (called when the engine or settings change)."""
        self.query_one("#se-format", Select).value = fmt if fmt in FORMATS else "implications"
        self.query_one("#se-k", Input).value = str(k)

    def _document_changed(self, doc_id: Optional[int]) -> None:
        select = self.query_one("#se-passage", Select)
        if doc_id is None:
            select.set_options([])
            self._render_samples()
            return
        try:
            doc = host(self).workspace.document(doc_id)
        except SealDeskError:
            select.set_options([])
            self._render_samples()
            return
        current = self.passage_idx if doc_id == self._doc_id else None
        self._doc_id = doc_id
        options = [
            (one_line(f"¶{i + 1}/{len(doc.passages)} {p.title} ({len(p.questions)} q)", 70), i)
            for i, p in enumerate(doc.passages)
        ]
        select.set_options(options)
        if options:
            select.value = current if current is not None and current < len(options) else 0
        self._render_samples()

    @on(Select.Changed, "#se-passage")
    @on(Select.Changed, "#se-format")
    def _selection_changed(self) -> None:
        self._render_samples()

    def _key(self) -> Optional[tuple[int, int, str]]:
        doc_id, idx = host(self).document_id, self.passage_idx
        if doc_id is None or idx is None:
            return None
        return doc_id, idx, self.fmt

    def _render_samples(self) -> None:
        box = self.query_one("#se-samples", VerticalScroll)
        key = self._key()
        self._shown = key
        box.remove_children()
        info = self.query_one("#se-info", Label)
        if key is None:
            info.update("")
            box.mount(Static("No document selected: add or highlight one in the Library (press 1).", classes="empty"))
            return
        fmt = key[2]
        doc = host(self).workspace.document(key[0])
        info.update(self._info(doc, fmt))
        drafts = host(self).drafts.get(*key)
        if drafts is None or not drafts.samples:
            if fmt == "none":
                msg = "Format 'none' trains on the passage alone: press Apply & train (ctrl+t)."
            else:
                msg = (
                    "No samples for this passage yet. Press Generate (ctrl+g) to watch the model write "
                    "k self-edits; tick the ones to train on and edit them freely."
                )
            box.mount(Static(msg, classes="empty"))
            return
        check = self._checker(doc.passages[key[1]], fmt)
        box.mount_all([SampleCard(i, d, check) for i, d in enumerate(drafts.samples)])

    def _cards(self) -> list[SampleCard]:
        return list(self.query(SampleCard))

    def _checker(self, passage: Passage, fmt: str) -> Callable[[str], list[LineVerdict]]:
        """What training makes of each line of a self-edit for `passage`, under the current settings."""
        cfg = host(self).current_config().self_edit

        def check(text: str) -> list[LineVerdict]:
            return line_verdicts(fmt, text, passage.title, passage.text, cfg.min_grounding, cfg.qa_prompt)

        return check

    def on_sample_card_changed(self, event: SampleCard.Changed) -> None:
        event.stop()
        self._render_info_only()

    def _training(self, doc, idx: int, fmt: str) -> Optional[Text]:
        """What Apply will train this passage on: sequences and tokens (once the model is loaded), and how
        many lines of the ticked samples the grounding filter drops. None while nothing is decided."""
        passage = doc.passages[idx]
        edits: list[str] = []
        if fmt != "none":
            drafts = host(self).drafts.get(doc.id, idx, fmt)
            if drafts is None or not drafts.done:
                return None
            edits = [d.text for d in drafts.samples if d.use and d.text.strip()]
            if not edits:
                return Text("No sample ticked: tick one to train on it.", style="yellow")
        verdicts = [v for text in edits for v in self._checker(passage, fmt)(text)]
        dropped = sum(not v.kept for v in verdicts)
        line = Text()
        engine = host(self).engine
        if engine is not None:
            seqs = engine.sequences_for(passage, edits, fmt)
            inner = engine.config.inner
            epochs = (
                f"× up to {inner.epochs} epochs, until loss < {inner.stop_loss:g}"
                if inner.stop_loss
                else (f"× {inner.epochs} epochs")
            )
            line.append(
                f"Apply trains this passage on {len(seqs)} sequence(s), {engine.training_tokens(seqs)} tokens "
                f"({epochs})",
                style="bold",
            )
        else:
            line.append("Sequence and token counts show once the model is loaded", style="dim")
        if verdicts and dropped == len(verdicts):
            line.append(f" · all {dropped} line(s) struck out: only the passage is trained", style="yellow")
        elif dropped:
            line.append(f" · {dropped} of {len(verdicts)} line(s) struck out by the grounding filter", style="dim")
        elif verdicts:
            line.append(f" · all {len(verdicts)} line(s) pass the grounding filter", style="dim")
        return line

    # generate ----------------------------------------------------------------------------------
    def action_generate(self) -> None:
        key = self._key()
        if key is None:
            self.app.notify("Select a document in the Library first.", severity="warning")
            return
        doc_id, idx, fmt = key
        if fmt == "none":
            self.app.notify(
                "Format 'none' has no self-edit to write; Apply & train uses the passage alone.", severity="warning"
            )
            return
        try:
            k = self.k()
        except SealDeskError as exc:
            self.app.notify(str(exc), severity="error")
            return
        passage = host(self).workspace.document(doc_id).passages[idx]
        rounds = self._rounds.get(key, 0)
        app = host(self)

        def work(job: Job) -> list[str]:
            engine = app.require_engine()
            seed = engine.config.self_edit.seed + rounds
            return engine.sample_self_edits(passage, fmt, k, seed=seed, on_event=job.emit, cancel=job.cancel)

        job = Job(
            "generate",
            f"Writing {k} self-edit(s)",
            on_event=lambda ev: self._stream(key, ev),
            on_done=lambda texts: self._generated(key, texts),
            on_end=lambda state: self._generation_ended(key, state),
        )
        if host(self).start_job(job, work) is None:
            return
        self._rounds[key] = rounds + 1
        host(self).drafts.start(doc_id, idx, fmt, k)
        self._render_samples()

    def _stream(self, key: tuple[int, int, str], event: Event) -> None:
        if not isinstance(event, TokenGenerated):
            return
        drafts: Optional[PassageDrafts] = host(self).drafts.get(*key)
        if drafts is None or event.sample >= len(drafts.samples):
            return
        drafts.samples[event.sample].text += event.text
        if self._shown == key:
            cards = self._cards()
            if event.sample < len(cards):
                cards[event.sample].append(event.text)

    def _generated(self, key: tuple[int, int, str], texts: list[str]) -> None:
        drafts = host(self).drafts.get(*key)
        if drafts is None:
            return
        for draft, text in zip(drafts.samples, texts):
            draft.text, draft.done = text, True
        for draft in drafts.samples:
            draft.done = True
        if self._shown == key:
            for card in self._cards():
                card.finish()
            self._render_info_only()
        empty = sum(1 for t in texts if not t.strip())
        passage = host(self).workspace.document(key[0]).passages[key[1]]
        check = self._checker(passage, key[2])
        verdicts = [check(t) for t in texts if t.strip()]
        useless = sum(1 for v in verdicts if all(not x.kept for x in v))
        if not texts or empty == len(texts):
            self.app.notify(
                "The model wrote nothing (it stopped at once): Generate (ctrl+g) again, or try another format.",
                severity="warning",
            )
        elif useless == len(verdicts):
            self.app.notify(
                f"{len(texts)} self-edit(s) written, but the grounding filter drops every line (struck out): "
                "training would use the passage alone. Generate again, edit the lines, or apply anyway (ctrl+t).",
                severity="warning",
            )
        else:
            note = f" ({empty} empty)" if empty else f" ({useless} with every line struck out)" if useless else ""
            self.app.notify(f"{len(texts)} self-edit(s) written{note}: tick, edit, then Apply & train (ctrl+t).")
        self.post_message(SelfEditsWritten(key[0], key[1], len(texts) - empty))

    def _generation_ended(self, key: tuple[int, int, str], state: str) -> None:
        if state != "done":
            host(self).drafts.discard(*key)
            if self._shown == key:
                self._render_samples()

    def _render_info_only(self) -> None:
        key = self._key()
        if key is None:
            return
        self.query_one("#se-info", Label).update(self._info(host(self).workspace.document(key[0]), key[2]))

    def _info(self, doc, fmt: str) -> Text:
        ready = host(self).drafts.count(doc.id, fmt)
        info = Text.assemble(
            (f"{fmt}: ", "bold"),
            FORMAT_HELP.get(fmt, ""),
            "\n",
            (
                f"{one_line(doc.title, 30)}: picks ready for {ready} of {len(doc.passages)} passage(s); "
                "the model writes the others when you apply",
                "dim",
            ),
        )
        idx = self.passage_idx
        training = self._training(doc, idx, fmt) if idx is not None and idx < len(doc.passages) else None
        if training is not None:
            info.append("\n")
            info.append_text(training)
        return info

    # learn -------------------------------------------------------------------------------------
    def action_learn(self) -> None:
        """Ask the app to learn the document from the picked self-edits (the model writes the rest)."""
        doc_id = host(self).document_id
        if doc_id is None:
            self.app.notify("Select a document in the Library first.", severity="warning")
            return
        if host(self).job_running("generate"):
            self.app.notify(
                "Wait for the self-edits being written to finish (or cancel them with escape).", severity="warning"
            )
            return
        fmt = self.fmt
        try:
            k = self.k()
            chosen = host(self).drafts.chosen(doc_id, fmt)
        except SealDeskError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self.post_message(LearnRequested(doc_id, fmt, k, chosen))

    @on(Button.Pressed, "#se-generate")
    def _generate_pressed(self) -> None:
        self.action_generate()

    @on(Button.Pressed, "#se-learn")
    def _learn_pressed(self) -> None:
        self.action_learn()
