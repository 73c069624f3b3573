"""Snapshot tests of each screen (pytest-textual-snapshot). Regenerate with `--snapshot-update`.

States are deterministic: a workspace prepared from tests/tui/data, the tiny model, synthetic
self-edits, training events and runs (fixed values, no timestamps), no blinking cursors, no toasts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import REPO, idle, make_app

from seal_desk.events import AnswerGraded, Message, Progress, TokenGenerated, TrainStep
from seal_desk.knowledge.documents import load_documents
from seal_desk.workspace.database import Workspace

WIDE = (100, 30)
SMALL = (80, 24)


@pytest.fixture
def ws(workspace, monkeypatch):
    """The workspace holding tests/tui/data/facts.json."""
    monkeypatch.chdir(REPO)  # document paths show relative to the working folder
    [doc] = load_documents([Path("tests/tui/data/facts.json")])
    workspace.add_document(doc)
    return workspace


def add_history(ws: Workspace) -> int:
    """A finished run with per-question results and its adapter, plus a cancelled run."""
    doc = ws.document(ws.documents()[0]["id"])
    qs = [q for p in doc.passages for q in p.questions]
    before = ["I do not know", "wind turbines", "Henry Hall"]
    after = ["Mira Kostadinova", "ceramic wind turbines", "Henry Hall"]
    rows = []
    for phase, answers in (("before", before), ("after", after)):
        for q, answer in zip(qs, answers):
            correct = q.answer.lower() in answer.lower()
            rows.append(
                {
                    "question_id": q.id,
                    "phase": phase,
                    "question": q.question,
                    "gold": q.answer,
                    "answer": answer,
                    "correct": int(correct),
                    "exact": int(correct),
                    "f1": float(correct),
                }
            )
    cancelled = ws.start_run("learn", "tiny-random", {}, doc.id)
    ws.finish_run(cancelled, "cancelled", {})
    run_id = ws.start_run("learn", "tiny-random", {}, doc.id)
    adapter_id = ws.add_adapter(
        "Zorblat Industries",
        ws.adapters_dir / "20250101-120000-Zorblat-Industries",
        "0" * 64,
        doc.id,
        "tiny-random",
        {},
    )
    summary = {
        "questions": 3,
        "accuracy_before": 0.0,
        "accuracy_after": 2 / 3,
        "lax_before": 0.0,
        "lax_after": 1.0,
        "f1_before": 0.1,
        "f1_after": 0.72,
    }
    ws.finish_run(run_id, "done", summary, rows, adapter_id)
    return adapter_id


def snap(snap_compare, app, size, before=None) -> bool:
    async def run_before(pilot):
        await idle(pilot)
        if before is not None:
            await before(pilot)
        await pilot.pause()
        for widget in pilot.app.screen.query("Input, TextArea"):
            widget.cursor_blink = False
        pilot.app.clear_notifications()
        await pilot.pause()

    return snap_compare(app, terminal_size=size, run_before=run_before)


async def highlight_passage(pilot) -> None:
    tree = pilot.app.screen.query_one("#lib-tree")
    tree.focus()
    tree.root.children[0].expand()
    await pilot.pause()
    tree.move_cursor(tree.root.children[0].children[0])
    await pilot.pause()


def test_library_empty(snap_compare, workspace):
    assert snap(snap_compare, make_app(workspace), SMALL)


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["100x30", "80x24"])
def test_library(snap_compare, ws, size):
    assert snap(snap_compare, make_app(ws), size, highlight_passage)


def test_question_editor(snap_compare, ws):
    async def before(pilot):
        await highlight_passage(pilot)
        await pilot.press("n")
        await pilot.pause()
        pilot.app.screen.query_one("#q-question").value = "Where is Velmora?"

    assert snap(snap_compare, make_app(ws), SMALL, before)


def test_self_edits(snap_compare, ws):
    async def before(pilot):
        app = pilot.app
        doc_id = ws.documents()[0]["id"]
        drafts = app.drafts.start(doc_id, 0, "implications", 2)
        drafts.samples[0].text = (
            "1. Zorblat Industries was founded in 1987.\n2. Mira Kostadinova founded Zorblat "
            "Industries.\n3. Zorblat Industries is based in Velmora.\n4. The company makes "
            "ceramic wind turbines."
        )
        drafts.samples[1].text = (  # its middle line shares no word with the passage: struck out, with the reason
            "- Wind turbines can be made of ceramic.\n- Renewable energy transforms global economies.\n- Velmora is a town."
        )
        for d in drafts.samples:
            d.done = True
        app.show_tab("self-edits")
        await pilot.pause()

    assert snap(snap_compare, make_app(ws), WIDE, before)


def test_self_edits_streaming(snap_compare, ws):
    """Mid-stream: samples are read-only and show their length while the model writes."""

    async def before(pilot):
        app = pilot.app
        doc_id = ws.documents()[0]["id"]
        key = (doc_id, 0, "implications")
        app.drafts.start(*key, 2)
        app.show_tab("self-edits")
        await pilot.pause()
        pane = app.screen.query_one("#self-edit-pane")
        pane._render_samples()
        await pilot.pause()
        for sample, text in ((0, "1. Zorblat Industries was "), (1, "- Mira Kostadinova"), (0, "founded in 1987.\n2.")):
            pane._stream(key, TokenGenerated(sample, text))
        await pilot.pause()

    assert snap(snap_compare, make_app(ws), SMALL, before)


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["100x30", "80x24"])
def test_training(snap_compare, ws, size):
    async def before(pilot):
        app = pilot.app
        pane = app.training
        app.show_tab("train")
        pane.begin("facts", "implications · k 1 · 2 passage(s) · 3 question(s)", 3)
        pane.started()
        events = [Progress("before", 0, 3)]
        for i, correct in enumerate((False, True, False)):
            events.append(AnswerGraded("before", f"q{i}", "a", "x", correct, i + 1, 3))
        events += [
            Progress("before", 3, 3),
            Progress("self-edit", 0, 2, "Zorblat Industries"),
            TokenGenerated(0, "1. Zorblat was founded in 1987."),
            Progress("self-edit", 2, 2),
            Message("2 sequences from your picks", "info"),
        ]
        total = 60
        for step in range(1, 41):
            loss = 3.2 * (0.93**step) + 0.15 * ((step * 7) % 5) / 5
            events.append(
                TrainStep(step, total, (step - 1) // 6 + 1, 10, loss, 1e-3 * (1 - step / total), step * 48, step * 0.25)
            )
        for event in events:
            pane.handle_event(event)
        pane.query_one("#train-plot")._draw()
        await pilot.pause()

    assert snap(snap_compare, make_app(ws), size, before)


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["100x30", "80x24"])
def test_recall(snap_compare, ws, size):
    add_history(ws)

    async def before(pilot):
        pilot.app.show_tab("recall")
        await pilot.pause()

    assert snap(snap_compare, make_app(ws), size, before)


def test_adapters(snap_compare, ws):
    adapter_id = add_history(ws)

    async def before(pilot):
        from rich.text import Text

        pilot.app.show_tab("adapters")
        await pilot.pause()
        log = pilot.app.screen.query_one("#ask-log")
        log.write(Text("› Who founded Zorblat Industries?", style="bold"))
        log.write(Text.assemble((f"adapter #{adapter_id}: ", "bold cyan"), "Mira Kostadinova"))
        await pilot.pause()

    assert snap(snap_compare, make_app(ws), WIDE, before)


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["100x30", "80x24"])
def test_settings(snap_compare, ws, size):
    async def before(pilot):
        pilot.app.show_tab("settings")
        await pilot.pause()

    assert snap(snap_compare, make_app(ws), size, before)


def add_rl_run(ws: Workspace) -> None:
    """A finished one-round outer-loop run with fixed rewards (paths are fixed strings, not temp folders)."""
    from seal_desk.restem.records import Candidate, PassageOutcome, RlRecords, RoundRecord

    records = RlRecords(
        ws,
        "/runs/rl-demo",
        "tiny-random",
        "/data/train_passages.json",
        {"outer": {"rounds": 1, "passages": 4, "k": 3, "eval_times": 1}},
    )
    rewards = [
        (0.2, [[0.2], [0.0], [0.4]]),
        (0.5, [[0.5], [0.5], [0.25]]),
        (0.0, [[0.33], [0.0], [0.0]]),
        (0.25, [[0.25], [0.5], [0.75]]),
    ]
    for i, (baseline, per) in enumerate(rewards):
        records.record(
            PassageOutcome(
                1,
                f"sha{i}",
                f"Passage {i}",
                "[]",
                baseline,
                [Candidate(f"edit {j}", r) for j, r in enumerate(per)],
                60.0,
            )
        )
    records.finish_round(RoundRecord(1, "/runs/rl-demo/round-1/generator", 3, 1.234))
    records.finish("done")


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["100x30", "80x24"])
def test_rl(snap_compare, ws, size):
    add_rl_run(ws)

    async def before(pilot):
        pilot.app.show_tab("rl")
        await pilot.pause()
        pilot.app.screen.query_one("#rl-n-rounds").focus()
        await pilot.pause()

    assert snap(snap_compare, make_app(ws), size, before)


def test_arc(snap_compare, ws):
    async def before(pilot):
        pilot.app.show_tab("arc")
        await pilot.pause()
        pilot.app.screen.query_one("#arc-path").value = "tests/tui/data/arc_challenges.json"
        pilot.app.screen.query_one("#arc-load").press()
        await pilot.pause()
        pilot.app.screen.query_one("#arc-tasks").focus()
        await pilot.pause()

    assert snap(snap_compare, make_app(ws), WIDE, before)


def test_help(snap_compare, ws):
    async def before(pilot):
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap(snap_compare, make_app(ws), WIDE, before)
