"""The main screen: a status line, one tab per concept, and the footer with the live key bindings."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from seal_desk.tui.components.adapters import AdaptersPane
from seal_desk.tui.components.arc import ArcPane
from seal_desk.tui.components.forgetting import ForgettingPane
from seal_desk.tui.components.rl import RlPane
from seal_desk.tui.components.library import LibraryPane
from seal_desk.tui.components.recall import RecallPane
from seal_desk.tui.components.self_edits import SelfEditPane
from seal_desk.tui.components.settings import SettingsPane
from seal_desk.tui.components.status_bar import StatusBar
from seal_desk.tui.components.training import TrainingPane

if TYPE_CHECKING:
    from seal_desk.tui.app import SealDeskApp

TABS = (("library", "Library"), ("self-edits", "Self-edits"), ("train", "Train"), ("recall", "Recall"),
        ("adapters", "Adapters"), ("rl", "RL"), ("arc", "ARC"), ("forgetting", "Forgetting"),
        ("settings", "Settings"))


class MainScreen(Screen):
    AUTO_FOCUS = None  # the library focuses its path box (empty library) or its tree

    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("f1", "help", "Help", show=False),
        Binding("ctrl+g", "generate", "Generate"),
        Binding("ctrl+t", "train", "Train"),
        Binding("escape", "cancel_job", "Cancel job"),
        Binding("ctrl+q", "app.quit", "Quit"),
        *[Binding(str(i), f"tab('{tab}')", title, show=False) for i, (tab, title) in enumerate(TABS, 1)],
    ]

    @property
    def sapp(self) -> "SealDeskApp":
        return cast("SealDeskApp", self.app)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with TabbedContent(initial="library", id="tabs"):
            with TabPane("Library", id="library"):
                yield LibraryPane(id="library-pane")
            with TabPane("Self-edits", id="self-edits"):
                yield SelfEditPane(id="self-edit-pane")
            with TabPane("Train", id="train"):
                yield TrainingPane(id="training-pane")
            with TabPane("Recall", id="recall"):
                yield RecallPane(id="recall-pane")
            with TabPane("Adapters", id="adapters"):
                yield AdaptersPane(id="adapters-pane")
            with TabPane("RL", id="rl"):
                yield RlPane(id="rl-pane")
            with TabPane("ARC", id="arc"):
                yield ArcPane(id="arc-pane")
            with TabPane("Forgetting", id="forgetting"):
                yield ForgettingPane(id="forgetting-pane")
            with TabPane("Settings", id="settings"):
                yield SettingsPane(id="settings-pane")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            return self.sapp.has_cancellable_job()
        return True

    def action_help(self) -> None:
        self.sapp.action_help()

    def action_generate(self) -> None:
        self.sapp.action_generate()

    def action_train(self) -> None:
        self.sapp.action_train()

    def action_cancel_job(self) -> None:
        self.sapp.action_cancel_job()

    def action_tab(self, tab: str) -> None:
        self.sapp.show_tab(tab)
