"""Command palette entries (ctrl+p) for seal-desk's actions: the main screen's key actions."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from seal_desk.tui.screens.main import TABS, MainScreen


class SealDeskCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        main = next((s for s in self.app.screen_stack if isinstance(s, MainScreen)), None)
        if main is None:
            return []
        commands: list[tuple[str, str, Callable[[], object]]] = [
            ("Add a file or folder", "Type a path in the Library (tab completes)", main.action_add_path),
            ("Browse for documents", "Pick a file or folder to add to the Library", main.action_browse),
            ("Generate self-edits", "The model writes k self-edits of the selected passage", main.action_generate),
            (
                "Apply self-edits and train",
                "Learn the current document: recall before, LoRA, recall after",
                main.action_learn,
            ),
            ("Cancel the running job", "Stops within one step; nothing partial is kept", main.action_cancel_job),
            ("Reload the model", "Load the model named in Settings again", main.action_reload_model),
            ("Help", "Keys and workflow", main.action_help),
        ]
        for tab, title in TABS:
            commands.append((f"Go to {title}", f"Show the {title} tab", partial(main.show_tab, tab)))
        return commands

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
