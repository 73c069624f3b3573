"""Command palette entries (ctrl+p) for seal-desk's actions."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from seal_desk.tui.app import SealDeskApp


class SealDeskCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = cast("SealDeskApp", self.app)
        commands: list[tuple[str, str, Callable[[], object]]] = [
            ("Add a file or folder", "Type a path in the Library (tab completes)", app.action_add_path),
            ("Browse for documents", "Pick a file or folder to add to the Library", app.action_browse),
            ("Generate self-edits", "The model writes k self-edits of the selected passage", app.action_generate),
            ("Apply self-edits and train", "Learn the current document: recall before, LoRA, recall after",
             app.action_train),
            ("Cancel the running job", "Stops within one step; nothing partial is kept", app.action_cancel_job),
            ("Reload the model", "Load the model named in Settings again", app.reload_engine),
            ("Help", "Keys and workflow", app.action_help),
        ]
        for tab, title in app.TABS:
            commands.append((f"Go to {title}", f"Show the {title} tab", partial(app.show_tab, tab)))
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
