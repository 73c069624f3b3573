"""Pilot-driven functional tests of the TUI on the tiny random model and a temp workspace."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, Input, Select, TabbedContent, TextArea
from tui_helpers import FACTS, drive, errors, fast_config, idle, job_events, make_app, screen_text, wait_for

from seal_desk.events import TokenGenerated, TrainStep
from seal_desk.workspace.database import Workspace


async def add_document(pilot, path) -> None:
    """Put a path in the library's path box and press enter (typing is covered by the bad-path test)."""
    app = pilot.app
    await pilot.click("#lib-path")
    app.screen.query_one("#lib-path", Input).value = str(path)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.workspace.documents() and not app.jobs, what="the document to load")
    await pilot.pause()


def test_learn_flow_load_generate_apply_recall(workspace):
    """Load a document → generate a self-edit (streamed) → edit it → apply → recall comparison shown."""
    ws = workspace
    app = make_app(ws)
    streamed, hook = job_events(TokenGenerated)

    async def scenario(pilot):
        await add_document(pilot, FACTS)
        docs = ws.documents()
        assert [d["n_passages"] for d in docs] == [2] and docs[0]["n_questions"] == 3
        assert app.document_id == docs[0]["id"]
        assert "Zorblat Industries" in screen_text(app)

        # self-edits: the tokens stream into the sample card as they are generated
        await pilot.press("2")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: not app.jobs, what="self-edits to be written")
        await pilot.pause()
        assert streamed, "no TokenGenerated events reached the UI"
        drafts = app.drafts.get(docs[0]["id"], 0, "implications")
        assert drafts is not None and drafts.done and drafts.samples[0].use
        area = app.screen.query_one(".sample-text", TextArea)
        assert not area.read_only
        # the user edits the sample before applying it
        area.load_text("Mira Kostadinova founded Zorblat Industries in Velmora in 1987.")
        await pilot.pause()
        assert drafts.samples[0].edited

        # apply: training with live progress, then the recall comparison
        tabs = []
        show_tab = app.show_tab
        app.show_tab = lambda tab: (tabs.append(tab), show_tab(tab))
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: not app.jobs, 120, "the learn run")
        await pilot.pause()
        assert tabs[-2:] == ["train", "recall"]  # the run is shown as it goes, then its results
        runs = ws.runs(docs[0]["id"])
        assert [r.status for r in runs] == ["done"]
        assert len(ws.adapters()) == 1 and runs[0].adapter_id == ws.adapters()[0].id
        edits = ws.self_edits(ws.document(docs[0]["id"]).passages[0].id)
        assert edits[0]["text"].startswith("Mira Kostadinova founded") and edits[0]["edited"] == 1
        assert app.main.query_one(TabbedContent).active == "recall"
        table = app.screen.query_one("#recall-table", DataTable)
        assert table.row_count == 3
        text = screen_text(app)
        assert f"Run #{runs[0].id}" in text and "Δ" in text and "Who founded Zorblat" in text
        assert "✘" in text or "✔" in text
        history = app.screen.query_one("#runs-table", DataTable)
        assert history.row_count == 1
        assert not errors(app)

    drive(app, scenario, message_hook=hook)


def test_cancel_mid_training_keeps_nothing(workspace):
    ws = workspace
    app = make_app(ws, config=fast_config(epochs=5000))
    steps, hook = job_events(TrainStep)

    async def scenario(pilot):
        await add_document(pilot, FACTS)
        await pilot.press("ctrl+t")  # no picks: the engine writes the self-edits itself
        await wait_for(pilot, lambda: len(steps) >= 2, 120, "training to start")
        assert "esc Cancel job" in screen_text(app)
        await pilot.press("escape")
        at_cancel = len(steps)
        await wait_for(pilot, lambda: not app.jobs, 60, "the cancelled run to end")
        await pilot.pause()
        assert len(steps) - at_cancel <= 3, "training did not stop within a step"
        assert steps[-1].step < 5000
        doc_id = ws.documents()[0]["id"]
        assert [r.status for r in ws.runs(doc_id)] == ["cancelled"]
        assert ws.adapters() == []
        assert not any(p for p in ws.adapters_dir.iterdir() if not p.name.startswith("."))
        assert any("cancelled" in text for _sev, text in app.notices)
        assert "cancelled" in screen_text(app)
        # the history shows the cancelled run
        await pilot.press("4")
        await pilot.pause()
        assert "cancelled" in screen_text(app)

    drive(app, scenario, message_hook=hook)


def test_bad_paths_and_files_are_notifications(tmp_path, workspace):
    bad_json = tmp_path / "broken.json"
    bad_json.write_text("{not json", encoding="utf-8")
    odd = tmp_path / "data.xyz"
    odd.write_text("hello", encoding="utf-8")

    ws = workspace
    app = make_app(ws)

    async def scenario(pilot):
        await pilot.click("#lib-path")
        await pilot.press(*"/no/such/place.txt", "enter")
        await pilot.pause()
        assert errors(app) == ["/no/such/place.txt: no such file or folder"]
        for path, expected in ((bad_json, "malformed JSON"), (odd, "unsupported file type")):
            app.screen.query_one("#lib-path", Input).value = str(path)
            await pilot.press("enter")
            await wait_for(pilot, lambda: not app.jobs, what="the load to fail")
            await pilot.pause()
            assert expected in errors(app)[-1]
        assert ws.documents() == []
        assert app.is_running

    drive(app, scenario)


def test_questions_add_edit_delete_and_remove_document(workspace):
    ws = workspace
    app = make_app(ws)

    async def scenario(pilot):
        await add_document(pilot, FACTS)
        doc_id = ws.documents()[0]["id"]
        tree = app.screen.query_one("#lib-tree")
        tree.focus()
        await pilot.press("down")  # ¶1
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#q-question", Input).value = "Where is Velmora?"
        await pilot.press("enter")
        app.screen.query_one("#q-answer", Input).value = "a town"
        await pilot.press("enter")
        await pilot.pause()
        questions = ws.document(doc_id).passages[0].questions
        assert [q.question for q in questions][-1] == "Where is Velmora?"
        assert questions[-1].source == "user"

        # an empty answer is refused with a notification, and the dialog stays open
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#q-question", Input).value = "No answer?"
        await pilot.press("enter", "enter")
        await pilot.pause()
        assert "needs both" in errors(app)[-1]
        await pilot.press("escape")
        await pilot.pause()

        # edit the new question: expand ¶1 and walk to its last question
        await wait_for(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data.kind == "passage")
        tree.cursor_node.expand()
        await pilot.pause()
        for _ in range(len(questions)):
            await pilot.press("down")
        await pilot.pause()
        assert tree.cursor_node.data.question_id == questions[-1].id
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#q-answer", Input).value = "in the north"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert ws.document(doc_id).passages[0].questions[-1].answer == "in the north"

        await pilot.press("d")
        await pilot.pause()
        assert len(ws.document(doc_id).passages[0].questions) == len(questions) - 1

        # remove the document (confirmed)
        await pilot.press("home")
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert ws.documents() == []
        assert app.document_id is None
        assert not errors(app)[1:]

    drive(app, scenario)


def test_adapters_activate_ask_export_delete(tmp_path, workspace):
    ws = workspace
    app = make_app(ws, config=fast_config(epochs=1))

    async def scenario(pilot):
        await add_document(pilot, FACTS)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: not app.jobs, 120, "the learn run")
        [adapter] = ws.adapters()
        await pilot.press("5")
        await pilot.pause()
        assert f"#{adapter.id}" in screen_text(app)

        await pilot.press("space")  # activate
        await wait_for(pilot, lambda: not app.jobs, what="the adapter to load")
        await pilot.pause()
        assert ws.adapter(adapter.id).active
        assert app.engine.adapter_name(adapter.id) in app.engine.host.loaded
        assert f"adapter #{adapter.id}" in screen_text(app).splitlines()[0]

        # ask with the adapter (the default once active) and with the base model
        await pilot.click("#ask-input")
        app.screen.query_one("#ask-input", Input).value = "Who founded Zorblat?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.jobs, what="the answer")
        await pilot.pause()
        assert f"adapter #{adapter.id}:" in screen_text(app)
        app.screen.query_one("#ask-adapter").value = -1
        await pilot.click("#ask-input")
        app.screen.query_one("#ask-input", Input).value = "Where is Velmora?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.jobs, what="the answer")
        await pilot.pause()
        assert "base model:" in screen_text(app)

        # export the PEFT folder
        app.screen.query_one("#adapter-table").focus()
        await pilot.press("x")
        await pilot.pause()
        target = tmp_path / "exported"
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.click("#export-go")
        await wait_for(pilot, lambda: not app.jobs, what="the export")
        assert (target / "adapter_model.safetensors").is_file()

        # deactivate, then delete (confirmed)
        await pilot.press("space")
        await pilot.pause()
        assert not ws.adapter(adapter.id).active
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.jobs, what="the delete")
        await pilot.pause()
        assert ws.adapters() == []
        assert not errors(app)

    drive(app, scenario)


def test_settings_are_saved_and_applied(tmp_path, workspace):
    ws = workspace
    app = make_app(ws)

    async def scenario(pilot):
        await pilot.click("#--content-tab-settings")
        await pilot.pause()
        assert "paper 10" in screen_text(app) and "paper 0.001" in screen_text(app)
        app.screen.query_one("#set-epochs", Input).value = "7"
        app.screen.query_one("#set-stop_loss", Input).value = "0.2"
        app.screen.query_one("#set-k", Input).value = "3"
        app.screen.query_one("#set-precision", Select).value = "bf16"
        await pilot.click("#set-save")
        await pilot.pause()
        saved = ws.get_setting(ws.config_key("tiny-random"))
        assert saved["inner"]["epochs"] == 7 and saved["self_edit"]["k"] == 3
        assert saved["inner"]["precision"] == "bf16" and saved["inner"]["stop_loss"] == 0.2
        assert app.engine.config.inner.epochs == 7 and app.engine.config.inner.precision == "bf16"
        assert app.engine.config.inner.stop_loss == 0.2
        assert ws.get_setting("model") == "tiny-random" and ws.get_setting("device") == "auto"
        assert app.screen.query_one("#se-k", Input).value == "3", app.notices

        await idle(pilot)
        app.screen.query_one("#set-epochs", Input).value = "zero"
        await pilot.click("#set-save")
        await pilot.pause()
        assert errors(app), app.notices
        assert "not a whole number" in errors(app)[-1]
        assert ws.get_setting(ws.config_key("tiny-random"))["inner"]["epochs"] == 7

    drive(app, scenario)
    # a new app on the same workspace starts from the saved settings
    from tui_helpers import tiny_loader

    from seal_desk.tui.app import SealDeskApp

    again = SealDeskApp(workspace=Workspace(tmp_path / "ws"), loader=tiny_loader)

    async def loaded(pilot):
        assert again.engine.config.inner.epochs == 7

    drive(again, loaded)


def test_learning_in_the_app_stops_on_convergence_by_default(tmp_path):
    """No saved settings: the app's engine and Settings tab carry config.INTERACTIVE's stop rule."""
    from tui_helpers import tiny_loader

    from seal_desk.config import INTERACTIVE
    from seal_desk.tui.app import SealDeskApp

    app = SealDeskApp(workspace=Workspace(tmp_path / "ws"), loader=tiny_loader)
    stop = INTERACTIVE["inner"]["stop_loss"]

    async def scenario(pilot):
        assert app.engine.config.inner.stop_loss == stop and app.engine.config.inner.epochs == 10
        assert app.measuring_config().inner.stop_loss == 0.0  # what the RL tab runs the outer loop with
        await pilot.click("#--content-tab-settings")
        await pilot.pause()
        assert app.screen.query_one("#set-stop_loss", Input).value == f"{stop:g}"
        app.screen.query_one("#set-k", Input).value = "3"
        await pilot.click("#set-save")
        await pilot.pause()
        saved = app.workspace.get_setting(app.workspace.config_key("tiny-random"))
        assert "stop_loss" not in saved.get("inner", {}) and saved["self_edit"] == {"k": 3}  # only the change
        assert app.engine.config.inner.stop_loss == stop and app.measuring_config().inner.stop_loss == 0.0
        assert app.measuring_config().self_edit.k == 3

    drive(app, scenario)


def test_help_and_command_palette(workspace):
    app = make_app(workspace)

    async def scenario(pilot):
        # an empty library focuses its path box, where ? is just a character; f1 always works
        await pilot.press("f1")
        await pilot.pause()
        assert "HelpScreen" in type(app.screen).__name__
        assert "ctrl+t" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main
        app.screen.query_one("#lib-tree").focus()
        await pilot.press("question_mark")
        await pilot.pause()
        assert "HelpScreen" in type(app.screen).__name__
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"settings")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.query_one(TabbedContent).active == "settings"

    drive(app, scenario)


def test_model_load_failure_is_a_notification(workspace):
    from seal_desk.errors import ModelError
    from seal_desk.tui.app import SealDeskApp

    def broken(_on_event):
        raise ModelError("preset 'nope' needs the package nope")

    app = SealDeskApp(workspace=workspace, loader=broken)

    async def scenario(pilot):
        # the load starts after the first refresh: wait for its outcome, not just for no job pending
        await wait_for(pilot, lambda: errors(app) and not app.jobs, what="the load to fail")
        await pilot.pause()
        assert errors(app) == ["preset 'nope' needs the package nope"]
        assert "model not loaded" in screen_text(app)
        # model actions fail politely; documents still load (approximate token counts)
        await add_document(pilot, FACTS)
        assert len(app.workspace.documents()) == 1
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: not app.jobs, what="the learn to fail")
        assert "the model is not loaded" in errors(app)[-1]
        assert app.is_running

    drive(app, scenario, ready=False)


def test_path_completion(tmp_path):
    from seal_desk.tui.widgets.path_input import PathSuggester

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "alpha.md").write_text("# A\n\ntext", encoding="utf-8")
    (tmp_path / "docs" / "image.png").write_bytes(b"\x89PNG")
    suggester = PathSuggester()

    async def scenario():
        assert await suggester.get_suggestion(f"{tmp_path}/do") == f"{tmp_path}/docs/"
        assert await suggester.get_suggestion(f"{tmp_path}/docs/a") == f"{tmp_path}/docs/alpha.md"
        assert await suggester.get_suggestion(f"{tmp_path}/docs/i") is None
        assert await suggester.get_suggestion(f"{tmp_path}/nothing/x") is None

    asyncio.run(scenario())


def test_rl_tab_runs_the_outer_loop_and_shows_rewards(tmp_path, workspace):
    """RL tab: data + run folder + small numbers → Start → reward lines, a round row, the run recorded."""
    from seal_desk.events import RewardScored

    ws = workspace
    app = make_app(ws)
    scored, hook = job_events(RewardScored)

    async def scenario(pilot):
        app.show_tab("rl")
        await pilot.pause()
        assert "No outer-loop runs yet" in screen_text(app)
        for wid, value in (
            ("#rl-data", str(FACTS)),
            ("#rl-out", str(tmp_path / "rl")),
            ("#rl-n-rounds", "1"),
            ("#rl-n-passages", "2"),
            ("#rl-n-k", "2"),
            ("#rl-n-evals", "1"),
        ):
            app.screen.query_one(wid, Input).value = value
        await pilot.click("#rl-start")
        # a fast machine may finish before the first poll, so wait on the outcome, not on "started"
        await wait_for(pilot, lambda: len(scored) == 2 and not app.jobs, 180, "the outer loop to finish")
        await pilot.pause()
        assert len(scored) == 2 and all(len(e.rewards) == 2 for e in scored)
        assert app.screen.query_one("#rl-rounds", DataTable).row_count == 1
        text = screen_text(app)
        assert "round 1 [2/2]" in text and "run finished" in text
        assert ws._row("SELECT status FROM rl_runs")["status"] == "done"
        assert (tmp_path / "rl" / "summary.json").is_file()
        # bad numbers are refused with a notification, nothing starts
        app.screen.query_one("#rl-n-k", Input).value = "0"
        await pilot.click("#rl-start")
        await pilot.pause()
        assert not app.jobs and any("at least 1" in text for _sev, text in app.notices)

    drive(app, scenario, message_hook=hook)


def test_arc_tab_loads_shows_and_solves_a_task(tmp_path, workspace):
    """ARC tab: bad path → notification only; load → task list and coloured grids; Solve in-context → scored."""
    from tui_helpers import ARC

    from seal_desk.events import ArcTaskScored

    app = make_app(workspace)
    scored, hook = job_events(ArcTaskScored)

    async def scenario(pilot):
        from textual.widgets._tabbed_content import ContentTabs

        app.screen.query_one(ContentTabs).focus()  # not typing: the digit keys switch tabs
        await pilot.press("7")
        await pilot.pause()
        assert app.main.query_one(TabbedContent).active == "arc"
        table = app.screen.query_one("#arc-tasks", DataTable)
        # a bad path and malformed JSON: a one-line error, nothing loaded
        app.screen.query_one("#arc-path", Input).value = str(tmp_path / "nope.json")
        await pilot.click("#arc-load")
        await pilot.pause()
        assert any("no such file" in text for text in errors(app)) and table.row_count == 0
        (tmp_path / "bad.json").write_text("{not json")
        app.screen.query_one("#arc-path", Input).value = str(tmp_path / "bad.json")
        app.screen.query_one("#arc-path", Input).focus()
        await pilot.press("enter")  # enter in the path box loads too
        await pilot.pause()
        assert any("malformed JSON" in text for text in errors(app)) and table.row_count == 0, app.notices
        # load: two tasks (solutions found next to the challenges), the first one shown
        app.screen.query_one("#arc-path", Input).value = str(ARC)
        await pilot.press("enter")
        await pilot.pause()
        assert table.row_count == 2
        text = screen_text(app)
        assert "const3: 3 demos, 1 test" in text and "demo 1" in text
        # pick the second task: its grids are drawn in ARC colours
        table.focus()
        table.move_cursor(row=1)
        await pilot.pause()
        assert "flip: 3 demos, 1 test" in screen_text(app)
        colours = {
            str(seg.style.bgcolor.triplet.hex).upper()
            for strip in app.screen.query_one("#arc-task").render_lines(
                app.screen.query_one("#arc-task").region.reset_offset
            )
            for seg in strip
            if seg.style and seg.style.bgcolor and seg.style.bgcolor.triplet
        }
        assert {"#0074D9", "#FF4136", "#2ECC40"} <= colours  # blue 1, red 2, green 3 in the ARC palette
        # solve in-context with the tiny model; wait on the outcome
        await pilot.click("#arc-solve")
        await wait_for(pilot, lambda: len(scored) == 1 and not app.jobs, 180, "the ARC task to be solved")
        await pilot.pause()
        assert scored[0].task_id == "flip" and scored[0].condition == "icl" and scored[0].solved is not None
        status = table.get_cell("flip", "status")
        assert status == ("solved" if scored[0].solved else "failed")
        assert table.get_cell("const3", "status") == "—"
        await wait_for(pilot, lambda: "predicted" in screen_text(app), 10, "the prediction to be shown")
        assert "expected" in screen_text(app)
        assert not errors(app)[2:]  # only the two load errors

    drive(app, scenario, message_hook=hook)


def test_the_training_pane_ends_an_inner_loop_that_stopped_early(workspace):
    """A convergence stop ends training before its last planned step: the pane still marks the phase done, fills
    the bar, and says at which epoch it converged (when recall after begins, or when the run ends)."""
    from textual.widgets import ProgressBar, RichLog

    from seal_desk.events import Message, Progress
    from seal_desk.tui.components.training import TrainingPane

    app = make_app(workspace)

    async def scenario(pilot):
        app.show_tab("train")
        await pilot.pause()
        pane = app.main.query_one(TrainingPane)
        for questions, last in ((2, Progress("after", 0, 2)), (0, None)):
            pane.begin("Lake Quorra", "", questions)
            pane.handle_event(Progress("self-edit", 1, 1))
            for step in (1, 2, 3):
                pane.handle_event(TrainStep(step, 10, step, 10, 1.0 / step, 1e-3, 40 * step, 0.5 * step))
            pane.handle_event(Message("inner loop converged: epoch 3/10 mean loss 0.290 < 0.3, stopped at step 3/10"))
            assert pane.states["train"] == "running"
            if last is not None:
                pane.handle_event(last)
                assert pane.states["after"] == "running"
            else:
                pane.finish("done")
            await pilot.pause()
            bar = pane.query_one("#train-bar", ProgressBar)
            assert pane.states["train"] == "done" and bar.progress == bar.total == 3
            log = "\n".join(str(line.text) for line in pane.query_one(RichLog).lines)
            assert "inner loop done at epoch 3/10 (converged): loss 1.000 → 0.333" in log, log

    drive(app, scenario)
