"""A modal to write or edit one question and its gold answer."""

from __future__ import annotations

from typing import Optional

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class QuestionEditor(ModalScreen[Optional[tuple[str, str]]]):
    """Returns (question, answer), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, title: str, question: str = "", answer: str = "") -> None:
        super().__init__()
        self.heading = title
        self.question = question
        self.answer = answer

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self.heading, classes="dialog-title")
            yield Label("Question (asked closed-book, without the passage)", classes="field-label")
            yield Input(self.question, placeholder="e.g. Who founded Zorblat Industries?", id="q-question")
            yield Label("Gold answer (a reply is right when it states this)", classes="field-label")
            yield Input(self.answer, placeholder="e.g. Mira Kostadinova", id="q-answer")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="q-save")
                yield Button("Cancel", id="q-cancel")

    def on_mount(self) -> None:
        self.query_one("#q-question", Input).focus()

    @on(Input.Submitted, "#q-question")
    def _next(self) -> None:
        self.query_one("#q-answer", Input).focus()

    @on(Input.Submitted, "#q-answer")
    @on(Button.Pressed, "#q-save")
    def action_save(self) -> None:
        question = self.query_one("#q-question", Input).value.strip()
        answer = self.query_one("#q-answer", Input).value.strip()
        if not question or not answer:
            self.notify("A question needs both question text and an answer.", severity="error")
            return
        self.dismiss((question, answer))

    @on(Button.Pressed, "#q-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
