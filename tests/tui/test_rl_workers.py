"""RL tab on a cluster (`ray` field, issue #18): the workers table fed by WorkerProgress events, the
address reaching the workflow, and the one-line note when Ray is not installed. No Ray starts here
(tests/restem/test_cluster.py runs a real cluster)."""

from __future__ import annotations

import sys

from textual.widgets import DataTable, Input
from tui_helpers import FACTS, drive, make_app, screen_text

from seal_desk.events import WorkerProgress
from seal_desk.tui.components.rl import RlPane


def _rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def test_worker_progress_fills_the_workers_table(workspace):
    app = make_app(workspace)

    async def scenario(pilot):
        app.show_tab("rl")
        await pilot.pause()
        pane = app.screen.query_one(RlPane)
        table = app.screen.query_one("#rl-workers", DataTable)
        assert not table.display, "no cluster, no workers table"
        for event in (
            WorkerProgress("w1", 0, 0.0, "", "", "starting"),  # where it runs is known once it has loaded
            WorkerProgress("w1", 0, 0.0, "node-a", "cpu · fp32", "idle"),
            WorkerProgress("w2", 0, 0.0, "node-b", "cuda · bf16", "starting"),
            WorkerProgress("w1", 0, 0.0, "node-a", "cpu · fp32", "busy"),
            WorkerProgress("w1", 2, 90.0, "node-a", "cpu · fp32", "busy"),
            WorkerProgress("w2", 3, 12.0, "node-b", "cuda · bf16", "idle"),
            WorkerProgress("w1", 2, 90.0, "node-a", "cpu · fp32", "died"),
            WorkerProgress("w3", 0, 0.0, "", "", "starting"),
            WorkerProgress("w3", 0, 0.0, "node-a", "cuda · nf4 (GPU 1)", "idle"),  # known once it has loaded
        ):
            pane.handle_event(event)
            await pilot.pause()  # one at a time, each drawn, as a run's events arrive
        assert table.display
        assert _rows(table) == [
            ["w1", "node-a", "cpu · fp32", "died", "2", "90.0", "40"],
            ["w2", "node-b", "cuda · bf16", "idle", "3", "12.0", "300"],
            ["w3", "node-a", "cuda · nf4 (GPU…", "idle", "0", "—", "—"],
        ]
        text = screen_text(app)
        assert "passages/h" in text and "node-b" in text and "300" in text
        assert "node-a  cpu · fp32" in text and "cuda · nf4 (GPU…" in text, "columns grow as workers report"
        assert "worker w1 (node-a) died" in text
        pane.begin()  # a new run starts with no workers shown
        await pilot.pause()
        assert not table.display and table.row_count == 0

    drive(app, scenario, size=(110, 40))


def test_the_ray_field_goes_to_the_workflow(workspace, monkeypatch, tmp_path):
    from seal_desk.tui import workflows

    calls = []
    monkeypatch.setattr(workflows, "run_outer_loop", lambda app, *args: calls.append(args))
    app = make_app(workspace)

    async def scenario(pilot):
        app.show_tab("rl")
        await pilot.pause()
        for wid, value in (("#rl-data", str(FACTS)), ("#rl-out", str(tmp_path / "rl")), ("#rl-ray", " auto ")):
            app.screen.query_one(wid, Input).value = value
        await pilot.click("#rl-start")
        await pilot.pause()
        assert calls and calls[-1][-1] == "auto"

    drive(app, scenario)


def test_without_ray_the_run_does_not_start_and_says_how_to_install(workspace, monkeypatch, tmp_path):
    from seal_desk.tui import workflows

    monkeypatch.setitem(sys.modules, "ray", None)  # find_spec("ray") -> None: not installed
    app = make_app(workspace)

    async def scenario(pilot):
        app.show_tab("rl")
        await pilot.pause()
        assert workflows.run_outer_loop(app, str(FACTS), str(tmp_path / "rl"), 1, 1, 1, 1, "local") is None
        assert not app.jobs
        severity, text = app.notices[-1]
        assert severity == "error" and "pip install 'seal-desk[cluster]'" in text and "\n" not in text

    drive(app, scenario)


def test_the_rl_tab_runs_the_outer_loop_without_the_interactive_stop_rule(tmp_path, monkeypatch):
    """The app's engine stops learning early (config.INTERACTIVE); the outer loop it starts measures rewards
    with the paper's fixed epochs, as `seal-desk rl` does, and the app's config is back afterwards."""
    from tui_helpers import tiny_loader, wait_for

    from seal_desk.config import INTERACTIVE
    from seal_desk.restem import start
    from seal_desk.tui import workflows
    from seal_desk.tui.app import SealDeskApp
    from seal_desk.workspace.database import Workspace

    stop = INTERACTIVE["inner"]["stop_loss"]
    seen = []
    monkeypatch.setattr(start, "run_outer_loop", lambda engine, *a, **kw: seen.append(engine.config.inner.stop_loss))
    app = SealDeskApp(workspace=Workspace(tmp_path / "ws"), loader=tiny_loader)

    async def scenario(pilot):
        assert app.engine.config.inner.stop_loss == stop > 0
        job = workflows.run_outer_loop(app, str(FACTS), str(tmp_path / "rl"), 1, 1, 1, 1)
        await wait_for(pilot, lambda: job.finished, what="the outer loop job")
        assert seen == [0.0] and app.engine.config.inner.stop_loss == stop

    drive(app, scenario)
