"""The bad-input corpus of the TUI: adding documents, importing questions, saving settings. Every case is one
error notification in the app's own words (no exception type, no "internal error"), the app keeps running, and
the workspace is exactly as it was."""

from __future__ import annotations

import os
import re

import pytest
from hardening_helpers import dump, record
from textual.widgets import Input
from tui_helpers import FACTS, drive, errors, make_app, wait_for

pytestmark = pytest.mark.tui

# (case, file name under the inputs folder, its bytes or None for a folder of symlink loops; expected text)
ADD = [
    ("missing file", "missing.txt", ..., "no such file or folder"),
    ("binary file", "bin.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "looks like a binary file"),
    ("empty file", "empty.txt", b"", "document is empty"),
    ("truncated UTF-16", "utf16.txt", b"\xff\xfe" + "Lake".encode("utf-16-le") + b"Q", "not valid UTF-16 text"),
    ("folder of symlink loops", "loops", None, "folder has no supported documents"),
    ("unsupported file type", "notes.xyz", b"hello", "unsupported file type"),
    ("malformed JSON", "bad.json", b'[{"title": "x", ', "malformed JSON"),
    ("JSON entry without context", "nocontext.json", b'[{"title": "x"}]', "entry has no 'context' text"),
    ("corrupt PDF", "broken.pdf", b"%PDF-1.4 truncated", "unreadable PDF"),
]
IMPORT = [
    ("questions file missing", "nope.txt", ..., "no such questions file"),
    ("question without answer", "noanswer.txt", b"Q: a question without its answer\n", "has no answer"),
    ("empty questions file", "empty-q.txt", b"", "no questions found"),
    ("binary questions file", "bin-q.txt", b"\x00\x01\x02binary", "looks like a binary file"),
    ("malformed JSON questions", "q.json", b"[{", "malformed JSON"),
]
SETTINGS = [
    ("epochs not a number", "#set-epochs", "abc", "not a whole number"),
    ("learning rate out of range", "#set-lr", "5", "learning rate must be between"),
    ("k of 0", "#set-k", "0", "k must be between 1 and 16"),
    ("LoRA rank negative", "#set-rank", "-4", "LoRA rank must be between"),
]
CASES = [("add", *c) for c in ADD] + [("import", *c) for c in IMPORT] + [("settings", *c) for c in SETTINGS]


def _own_words(text: str) -> bool:
    """An error the app words itself: not an exception's type and message, not an internal error."""
    return "internal error" not in text and not re.match(r"^[A-Z]\w*(Error|Exception)\b", text)


def test_bad_input_in_the_tui_is_one_notification_workspace_unchanged(tmp_path, workspace):
    folder = tmp_path / "in"
    folder.mkdir()
    for _kind, _case, name, data, _expected in CASES:
        if data is None:
            (folder / name).mkdir()
            for link, target in (("self", "self"), ("up", ".."), ("here", ".")):
                os.symlink(target, folder / name / link)
        elif isinstance(data, bytes):
            (folder / name).write_bytes(data)
    app = make_app(workspace)
    outcomes = {}

    async def failed(pilot, count: int) -> str:
        await wait_for(pilot, lambda: len(errors(app)) > count and not app.jobs, what="the error notification")
        await pilot.pause()
        return errors(app)[-1]

    async def scenario(pilot):
        path_box = app.screen.query_one("#lib-path", Input)
        await pilot.click("#lib-path")
        path_box.value = str(FACTS)
        await pilot.press("enter")
        await wait_for(pilot, lambda: workspace.documents() and not app.jobs, what="the good document")
        doc_id = workspace.documents()[0]["id"]
        before = dump(workspace.folder)
        for kind, case, name, _data, expected in CASES:
            count = len(errors(app))
            if kind == "add":
                await pilot.click("#lib-path")
                path_box.value = str(folder / name)
                await pilot.press("enter")
            elif kind == "import":
                from seal_desk.tui.messages import ImportQuestionsRequested

                app.post_message(ImportQuestionsRequested(doc_id, str(folder / name)))
            else:
                await pilot.click("#--content-tab-settings")
                await pilot.pause()
                app.screen.query_one(name, Input).value = _data
                await pilot.click("#set-save")
            text = await failed(pilot, count)
            outcomes[case] = (expected in text and _own_words(text), text, dump(workspace.folder) == before)
            record("tui", case, kind, "notification", text, outcomes[case][2])
            if kind == "settings":
                app.screen.query_one(name, Input).value = "1" if name != "#set-lr" else "0.001"
        assert app.is_running

    drive(app, scenario)
    wrong = {case: text for case, (ok, text, unchanged) in outcomes.items() if not (ok and unchanged)}
    assert len(outcomes) == len(CASES) and not wrong, wrong
