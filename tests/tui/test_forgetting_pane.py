"""The forgetting pane on a real `bench continual --json` report (tiny random model), in a minimal app."""

from __future__ import annotations

import json

import pytest
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Select, Static
from tui_helpers import drive

from seal_desk.cli.main import main
from seal_desk.tui.components.forgetting import ForgettingPane
from tests.bench.test_bench_continual import FAST, _data


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("continual")
    probe = tmp / "probe.tsv"
    probe.write_text("What is the capital of France?\tParis\nHow many legs does a spider have?\teight\n")
    out = tmp / "c.json"
    try:
        assert (
            main(
                [
                    "-m",
                    "tiny-random",
                    "bench",
                    "continual",
                    "--data",
                    str(_data(tmp)),
                    "--sequence",
                    "3",
                    "--probe",
                    str(probe),
                    "--retrieval",
                    "bm25",
                    "--format",
                    "none",
                    "--json",
                    str(out),
                    *FAST,
                ]
            )
            == 0
        )
    finally:
        torch.set_num_threads(before)
    return json.loads(out.read_text())


class PaneApp(App):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def compose(self) -> ComposeResult:
        yield ForgettingPane(id="forgetting")

    def notify(self, message, *, severity="information", **kwargs) -> None:
        if severity == "error":
            self.errors.append(str(message))
        super().notify(message, severity=severity, **kwargs)


def _cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]


def test_forgetting_pane_loads_switches_and_rejects_bad_files(tmp_path, report):
    # real report from the bench code path; merge's recall replaced by a forgetting pattern (format unchanged)
    assert list(report["strategies"]) == ["merge", "adapters", "replay"]
    report["strategies"]["merge"]["matrix"] = [[1.0, None, None], [0.97, 1.0, None], [0.5, 0.9, 1.0]]
    good = tmp_path / "c.json"
    good.write_text(json.dumps(report))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"conditions": {}}))

    app = PaneApp()

    async def scenario(pilot):
        pane = app.query_one(ForgettingPane)
        table = pane.query_one("#forget-matrix", DataTable)
        assert pane.load(str(good)) is True
        await pilot.pause()
        assert table.row_count == 3 and len(table.columns) == 1 + 3 + 1  # after update, 3 documents, probe
        assert [str(c.label) for c in table.columns.values()][-1] == "probe"
        red = table.get_cell_at(Coordinate(2, 1))  # document 1 after update 3: 100% → 50%
        assert str(red) == "50% (-50)" and red.style == "bold red"
        assert table.get_cell_at(Coordinate(2, 2)).style == "yellow"  # 100% → 90%
        assert table.get_cell_at(Coordinate(1, 1)).style == "green"  # 100% → 97%
        assert str(table.get_cell_at(Coordinate(0, 2))) == ""  # above the diagonal
        summary = str(pane.query_one("#forget-summary", Static).render())
        assert "merge: earlier documents -30 pts mean" in summary and "worst -50 pts" in summary
        assert "misses the within-5-points goal" in summary.splitlines()[0]
        assert "replay: earlier documents +0 pts mean" in summary and "meets the within-5-points goal" in summary
        assert "probe 0% → 0%" in summary

        select = pane.query_one("#forget-strategy", Select)
        assert [str(o[0]) for o in select._options if isinstance(o[1], str)] == ["merge", "adapters", "replay"]
        select.value = "replay"
        await pilot.pause()
        assert pane.strategy == "replay" and table.row_count == 3
        cell = table.get_cell_at(Coordinate(2, 1))
        assert str(cell) == "0% (+0)" and cell.style == "green"

        shown = _cells(table)
        for path, expected in (
            (broken, "not valid JSON"),
            (wrong, "not a bench continual report"),
            (tmp_path / "none.json", "no such file"),
        ):
            assert pane.load(str(path)) is False
            await pilot.pause()
            assert expected in app.errors[-1]
            assert _cells(table) == shown and pane.strategy == "replay"
        assert len(app.errors) == 3

    drive(app, scenario, size=(140, 30), ready=False)
