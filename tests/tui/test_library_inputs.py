"""The Library's edge cases of issue #16: the bundled sample when its text is there already (loaded before,
added through the path box without its questions, or a copy of it at another path) is never a second
copy; the path box takes tables and data set ids, one document per passage."""

from __future__ import annotations

import shutil

from textual.widgets import Input
from tui_helpers import drive, errors, make_app, wait_for

from seal_desk.paths import sample_files
from seal_desk.tui.messages import SampleRequested


def guide(app) -> str:
    bar = app.screen.query_one("#guide-bar")
    return str(bar.render()) if bar.display else ""


async def add_path(pilot, path: str, documents: int) -> None:
    app = pilot.app
    box = app.screen.query_one("#lib-path", Input)
    box.focus()
    box.value = path
    await pilot.press("enter")
    await wait_for(
        pilot, lambda: len(app.workspace.documents()) == documents and not app.jobs, what=f"{path}: {app.notices}"
    )
    await pilot.pause()


async def press_sample(pilot) -> None:
    app = pilot.app
    app.post_message(SampleRequested())
    await pilot.pause()
    await wait_for(pilot, lambda: not app.jobs, what="the sample")
    await pilot.pause()


def test_sample_already_there_from_the_path_box_or_twice(workspace):
    """The sample added through the path box has no questions: s selects it and adds the 8 it lacks; s once
    more adds none and says so. Never a second document."""
    document, _questions = sample_files()
    app = make_app(workspace)

    async def scenario(pilot):
        await add_path(pilot, str(document), 1)
        [row] = workspace.documents()
        assert row["n_questions"] == 0
        await press_sample(pilot)
        [row] = workspace.documents()
        assert row["n_questions"] == 8 and app.document_id == row["id"]
        assert app.notices[-1][1].endswith("is already in the library: it is selected, 8 of its questions added.")
        assert guide(app).startswith("Guide 1/3")
        await press_sample(pilot)
        assert len(workspace.documents()) == 1 and workspace.documents()[0]["n_questions"] == 8
        assert app.notices[-1][1].endswith("it is selected, no new questions.")
        assert guide(app).startswith("Guide 1/3") and not errors(app)

    drive(app, scenario)


def test_copy_of_the_sample_at_another_path(tmp_path, workspace):
    """A copy of the sample elsewhere counts as the sample (s selects it and names where it came from); the
    copy added through the path box once the sample is in is 'already in the library'."""
    document, _questions = sample_files()
    copy = tmp_path / "elsewhere" / "my-copy.md"
    copy.parent.mkdir()
    shutil.copy(document, copy)
    app = make_app(workspace)

    async def scenario(pilot):
        await add_path(pilot, str(copy), 1)
        await press_sample(pilot)
        [row] = workspace.documents()
        assert row["path"] == str(copy) and row["n_questions"] == 8
        severity, text = app.notices[-1]
        assert "already in the library (from my-copy.md)" in text and "8 of its questions" in text
        second = tmp_path / "again.md"
        shutil.copy(document, second)
        box = app.screen.query_one("#lib-path", Input)
        box.focus()
        box.value = str(second)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.jobs, what="the copy to be read")
        await pilot.pause()
        assert len(workspace.documents()) == 1
        assert app.notices[-1] == ("warning", f"Already in the library: {row['title']}")
        assert not errors(app)

    drive(app, scenario)


def test_path_box_takes_a_table_and_a_data_set_id(tmp_path, workspace, monkeypatch):
    import datasets

    from seal_desk.knowledge import data as kd

    table = tmp_path / "rows.csv"
    table.write_text(
        "title,context,question,answer\n"
        "Lake,Lake Quorra is 63 metres deep.,How deep is Lake Quorra?,63 metres\n"
        "Lake,Lake Quorra is 63 metres deep.,Which lake is 63 metres deep?,Quorra\n"
        "Bridge,The Velmora bridge opened in 1934.,When did the bridge open?,1934\n",
        encoding="utf-8",
    )

    real = datasets.load_dataset

    def fake_load_dataset(name, config=None, split=None, **kwargs):
        if name != "someone/tides":  # the table, read by datasets' csv builder
            return real(name, config, split=split, **kwargs)
        assert split == "validation"
        rows = {"context": ["The tide clock in Velmora runs backwards."], "question": ["Where?"], "answer": ["Velmora"]}
        return datasets.Dataset.from_dict(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(kd, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.chdir(tmp_path)
    app = make_app(workspace)

    async def scenario(pilot):
        await add_path(pilot, str(table), 2)
        assert [(r["title"], r["n_passages"], r["n_questions"]) for r in workspace.documents()] == [
            ("Lake", 1, 2),
            ("Bridge", 1, 1),
        ]
        await add_path(pilot, "someone/tides:validation", 3)
        row = workspace.documents()[-1]
        assert (row["path"], row["title"], row["n_questions"]) == ("someone/tides:validation", "tides", 1)
        box = app.screen.query_one("#lib-path", Input)
        box.focus()
        box.value = "no-such/folder/file.csv"  # a path's typo is refused at once, no hub lookup
        await pilot.press("enter")
        await pilot.pause()
        assert errors(app)[-1] == "no-such/folder/file.csv: no such file or folder"

    drive(app, scenario)
