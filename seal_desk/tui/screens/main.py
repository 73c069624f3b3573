"""The main screen: a status line, one tab per concept, and the footer with the live key bindings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from seal_desk.tui.components.adapters import AdaptersPane
from seal_desk.tui.components.arc import ArcPane
from seal_desk.tui.components.forgetting import ForgettingPane
from seal_desk.tui.components.guide_bar import GuideBar
from seal_desk.tui.components.library import LibraryPane
from seal_desk.tui.components.recall import RecallPane
from seal_desk.tui.components.rl import RlPane
from seal_desk.tui.components.self_edits import SelfEditPane
from seal_desk.tui.components.settings import SettingsPane
from seal_desk.tui.components.status_bar import StatusBar
from seal_desk.tui.components.training import TrainingPane
from seal_desk.tui.host import host
from seal_desk.tui.messages import CancelRequested, ReloadModelRequested, TabRequested

TABS = (
    ("library", "Library"),
    ("self-edits", "Self-edits"),
    ("train", "Train"),
    ("recall", "Recall"),
    ("adapters", "Adapters"),
    ("rl", "RL"),
    ("arc", "ARC"),
    ("forgetting", "Forgetting"),
    ("settings", "Settings"),
)
TAB_FOCUS = {
    "library": "#lib-tree",
    "self-edits": "#se-passage",
    "recall": "#recall-table",
    "adapters": "#adapter-table",
    "rl": "#rl-data",
    "arc": "#arc-path",
    "forgetting": "#forget-path",
    "settings": "#set-model",
}


class MainScreen(Screen):
    AUTO_FOCUS = None  # the library focuses its path box (empty library) or its tree

    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("f1", "help", "Help", show=False),
        Binding("ctrl+g", "generate", "Generate"),
        Binding("ctrl+t", "learn", "Train"),
        Binding("escape", "cancel_job", "Cancel job"),
        Binding("ctrl+q", "app.quit", "Quit"),
        *[Binding(str(i), f"tab('{tab}')", title, show=False) for i, (tab, title) in enumerate(TABS, 1)],
    ]

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
        yield GuideBar(id="guide-bar")
        yield Footer()

    def show_tab(self, tab: str) -> None:
        """Switch tabs and move the focus into the new tab (a focused widget left in a hidden tab
        would pull the tabs back to it)."""
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        if self.app.screen is not self:  # a dialog is open: leave its focus alone
            return
        target = self.query(f"#{tab} {TAB_FOCUS[tab]}").first(None) if tab in TAB_FOCUS else None
        if target is not None and target.focusable:
            target.focus()
        else:
            from textual.widgets._tabbed_content import ContentTabs

            tabs.query_one(ContentTabs).focus()

    def on_tab_requested(self, message: TabRequested) -> None:
        message.stop()
        self.show_tab(message.tab)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            return host(self).has_cancellable_job()
        return True

    # actions (keys and command palette) --------------------------------------------------------
    def action_help(self) -> None:
        from seal_desk.tui.screens.help import HelpScreen

        if not isinstance(self.app.screen, HelpScreen):
            self.app.push_screen(HelpScreen())

    def action_generate(self) -> None:
        self.show_tab("self-edits")
        self.query_one(SelfEditPane).action_generate()

    def action_learn(self) -> None:
        self.query_one(SelfEditPane).action_learn()

    def action_cancel_job(self) -> None:
        self.post_message(CancelRequested())

    def action_reload_model(self) -> None:
        self.post_message(ReloadModelRequested())

    def action_tab(self, tab: str) -> None:
        self.show_tab(tab)

    def action_add_path(self) -> None:
        self.show_tab("library")
        self.query_one(LibraryPane).action_add()

    def action_browse(self) -> None:
        self.show_tab("library")
        self.query_one(LibraryPane).action_browse()
