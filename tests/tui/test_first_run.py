"""The first run of a new user (issue #16): the bundled sample and its guide, key hints that work where the
focus is, importing a questions file, questions the model writes, and what the self-edit view says will
be trained."""

from __future__ import annotations

from textual.widgets import Button, Input, Label, TabbedContent
from tui_helpers import FACTS, drive, errors, idle, make_app, screen_text, wait_for

from seal_desk.paths import sample_files
from seal_desk.tui.messages import ImportQuestionsRequested, QuestionsRequested


def hint(app) -> str:
    return str(app.screen.query_one("#lib-hint", Label).render())


def guide(app) -> str:
    bar = app.screen.query_one("#guide-bar")
    return str(bar.render()) if bar.display else ""


def test_sample_is_package_data_with_questions():
    from seal_desk.knowledge.documents import load_documents
    from seal_desk.knowledge.grading import states_answer
    from seal_desk.knowledge.questions import attach, load_questions

    document, questions = sample_files()
    [doc] = load_documents([document])
    found = load_questions(questions)
    attach(doc, found)
    assert len(doc.passages) == 1 and 6 <= doc.n_questions <= 10
    assert all(states_answer(doc.passages[0].text, q.answer) for q in found)


def test_guided_first_run_on_the_sample(workspace):
    """Empty library → enter loads the sample → ctrl+g → ctrl+t → the recall comparison; the guide line says
    what to press next at every step, and the hints name keys that work where the focus is."""
    app = make_app(workspace)
    seen: list[str] = []

    async def scenario(pilot):
        # the empty library focuses its sample button: enter loads it, and a/o/s are keys, not text
        assert isinstance(app.focused, Button) and app.focused.id == "lib-sample"
        assert hint(app).startswith("No documents yet · enter or s: load the sample")
        assert "Load the sample" in screen_text(app) and not guide(app)
        await pilot.press("a")  # focuses the path box; typing goes there now, and the hint says so
        await pilot.pause()
        assert isinstance(app.focused, Input) and app.focused.value == ""
        assert hint(app).startswith("enter adds the path")
        app.screen.query_one("#lib-sample", Button).focus()
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.workspace.documents() and not app.jobs, what="the sample to load")
        await pilot.pause()
        [row] = app.workspace.documents()
        assert row["path"] == str(sample_files()[0]) and row["n_questions"] == 8
        assert app.document_id == row["id"]
        seen.append(guide(app))
        assert seen[-1].startswith("Guide 1/3") and "ctrl+g" in seen[-1], seen
        assert "l learn · i import questions" in hint(app)

        await pilot.press("ctrl+g")  # works from the library tree: opens Self-edits and writes
        await wait_for(pilot, lambda: not app.jobs, what="the self-edit to be written")
        await pilot.pause()
        assert app.main.query_one(TabbedContent).active == "self-edits"
        seen.append(guide(app))
        assert seen[-1].startswith("Guide 2/3") and "ctrl+t" in seen[-1], seen
        assert "Apply trains this passage on" in screen_text(app)

        await pilot.press("ctrl+t")
        await pilot.pause()
        seen.append(guide(app))
        assert seen[-1].startswith(("Guide 3/3", "Guide done")), seen  # a fast machine may already be done
        await wait_for(pilot, lambda: not app.jobs, 180, "the learn run")
        await pilot.pause()
        assert app.main.query_one(TabbedContent).active == "recall"
        seen.append(guide(app))
        assert seen[-1].startswith("Guide done · recall ") and "/8 → " in seen[-1], seen
        assert "Δ" in screen_text(app)
        assert not errors(app)

        # loading the sample again selects it and restarts the guide instead of a second copy
        app.show_tab("library")
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert len(app.workspace.documents()) == 1 and guide(app).startswith("Guide 1/3")

    drive(app, scenario)


async def add_facts(pilot) -> int:
    app = pilot.app
    app.screen.query_one("#lib-path", Input).focus()
    app.screen.query_one("#lib-path", Input).value = str(FACTS)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.workspace.documents() and not app.jobs, what="the document to load")
    await pilot.pause()
    return app.workspace.documents()[-1]["id"]


def test_import_questions_file(tmp_path, workspace):
    """i opens the file picker; a good file adds its questions (repeats skipped), a bad one is one error line."""
    good = tmp_path / "q.txt"
    good.write_text(
        "Q: Where is Zorblat Industries based?\nA: Velmora\n\nWhen was Zorblat founded?\t1987\n", encoding="utf-8"
    )
    bad = tmp_path / "bad.txt"
    bad.write_text("just a line without an answer\n", encoding="utf-8")
    app = make_app(workspace)

    async def scenario(pilot):
        doc_id = await add_facts(pilot)
        before = workspace.document(doc_id).n_questions
        app.screen.query_one("#lib-tree").focus()
        await pilot.press("i")
        await pilot.pause()
        from seal_desk.tui.dialogs.file_picker import FilePicker

        picker = app.screen
        assert isinstance(picker, FilePicker) and "Import questions into" in screen_text(app)
        picker.dismiss(str(good))
        await pilot.pause()
        assert workspace.document(doc_id).n_questions == before + 2
        assert app.notices[-1][1].startswith("Imported 2 question(s) from q.txt")
        # the same file again: nothing new, and it says so
        app.post_message(ImportQuestionsRequested(doc_id, str(good)))
        await pilot.pause()
        assert workspace.document(doc_id).n_questions == before + 2
        assert "No questions imported" in app.notices[-1][1]
        await pilot.press("i")
        await pilot.pause()
        app.screen.dismiss(str(bad))
        await pilot.pause()
        assert "expected 'question<TAB>answer'" in errors(app)[-1] and "\n" not in errors(app)[-1]
        assert workspace.document(doc_id).n_questions == before + 2

    drive(app, scenario)


def test_write_questions_says_why_when_nothing_is_kept(tmp_path, workspace):
    """w on a passage with nothing to ask (the tiny model writes no usable pairs, no names or numbers to
    blank) adds nothing and says why; on a passage with names and numbers the cloze fallback fills in."""
    plain = tmp_path / "plain.md"
    plain.write_text("the sea was calm and grey all day long, and nothing at all happened.\n", encoding="utf-8")
    app = make_app(workspace)

    async def scenario(pilot):
        await pilot.press("o")
        await pilot.pause()
        app.screen.dismiss(str(plain))
        await wait_for(pilot, lambda: app.workspace.documents() and not app.jobs, what="the document to load")
        await pilot.pause()
        doc_id = app.workspace.documents()[-1]["id"]
        app.screen.query_one("#lib-tree").focus()
        await pilot.press("w")  # a one-passage document: w on the document writes for its passage
        await wait_for(pilot, lambda: not app.jobs, what="the questions job")
        await pilot.pause()
        severity, text = app.notices[-1]
        assert severity == "warning" and text.startswith("No questions added"), app.notices
        assert "no names, dates or numbers" in text and workspace.document(doc_id).n_questions == 0

        facts_id = await add_facts(pilot)
        passage = workspace.document(facts_id).passages[0]
        app.post_message(QuestionsRequested(facts_id, 0, 2))
        await pilot.pause()
        await wait_for(pilot, lambda: not app.jobs, what="the questions job")
        await pilot.pause()
        added = workspace.document(facts_id).passages[0].questions[len(passage.questions) :]
        assert added and all(q.source in ("generated", "cloze") for q in added)
        severity, text = app.notices[-1]
        assert severity == "information" and "cloze" in text, app.notices
        assert not errors(app)

    drive(app, scenario)


def test_self_edit_view_strikes_dropped_lines_and_counts_training(workspace):
    """Lines the grounding filter drops are struck out with a reason; the info line counts sequences and tokens."""
    from seal_desk.knowledge.self_edit import line_verdicts

    app = make_app(workspace)

    async def scenario(pilot):
        doc_id = await add_facts(pilot)
        drafts = app.drafts.start(doc_id, 0, "implications", 1)
        drafts.samples[0].text = (
            "1. Mira Kostadinova founded Zorblat Industries in 1987.\n"
            "2. Imperative: Musimat: jof quarble zentik.\n"
            "3. Zorblat Industries is based in Velmora."
        )
        drafts.samples[0].done = True
        app.show_tab("self-edits")
        await pilot.pause()
        await idle(pilot)
        area = app.screen.query_one(".sample-text")
        assert area.dropped == {1}
        assert any(name == area.DROPPED for _s, _e, name in area._highlights[1])
        text = screen_text(app)
        assert "1 dropped" in text and "Imperative: Musimat" in text and "of its words are in the passage" in text
        passage = workspace.document(doc_id).passages[0]
        seqs = app.engine.sequences_for(passage, [drafts.samples[0].text], "implications")
        assert len(seqs) == 3  # two kept lines and the passage
        tokens = app.engine.training_tokens(seqs)
        assert f"Apply trains this passage on 3 sequence(s), {tokens} tokens" in text
        assert "1 of 3 line(s) struck out" in text
        verdicts = line_verdicts("implications", drafts.samples[0].text, passage.title, passage.text, 0.3)
        assert [v.kept for v in verdicts] == [True, False, True]

        # an edit that leaves no grounded line: everything struck out, and the info line says what that means
        area.load_text("- Renewable energy transforms global economies everywhere.")
        await pilot.pause()
        assert area.dropped == {0}
        assert "only the passage is trained" in screen_text(app)
        assert "all dropped" in screen_text(app)

    drive(app, scenario)
