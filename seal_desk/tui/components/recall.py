"""Recall before and after, side by side per question, and the history of runs for the document."""

from __future__ import annotations

from typing import Any, Optional

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.widgets import DataTable, Label, Static

from seal_desk.errors import SealDeskError
from seal_desk.tui.formatting import delta, mark, one_line
from seal_desk.tui.host import host

STATUS_STYLE = {"done": "green", "cancelled": "yellow", "failed": "red", "running": "cyan", "interrupted": "red"}


def compare_rows(results: list[dict[str, Any]]) -> list[tuple[dict, Optional[dict]]]:
    """Pair each 'before' answer with the 'after' answer to the same question (in asking order)."""
    before = [r for r in results if r["phase"] == "before"]
    after = [r for r in results if r["phase"] == "after"]
    pairs = []
    for i, b in enumerate(before):
        a = (
            after[i]
            if i < len(after) and after[i]["question"] == b["question"]
            else next((x for x in after if x["question"] == b["question"]), None)
        )
        pairs.append((b, a))
    return pairs


def wrap(text: str, width: int, lines: int = 3) -> str:
    """At most `lines` lines of `width` characters, the last one ellipsised when cut."""
    import textwrap

    parts = textwrap.wrap(" ".join(text.split()), max(4, width)) or [""]
    if len(parts) > lines:
        parts = parts[: lines - 1] + [one_line(" ".join(parts[lines - 1 :]), width)]
    return "\n".join(parts)


def change_mark(b: dict, a: Optional[dict]) -> Text:
    if a is None:
        return Text("")
    if a["correct"] and not b["correct"]:
        return Text("▲", style="bold green")
    if b["correct"] and not a["correct"]:
        return Text("▼", style="bold red")
    if a["answer"].strip() != b["answer"].strip():
        return Text("~", style="bold yellow")
    return Text("")


class RecallPane(Vertical):
    """The comparison table for one run, with the run history of the current document below it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.run_id: Optional[int] = None
        self.pairs: list[tuple[dict, Optional[dict]]] = []
        self._width = 0

    def compose(self) -> ComposeResult:
        yield Label("No runs yet for this document.", id="recall-summary")
        table = DataTable(id="recall-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="recall-detail")
        yield Label("Run history (enter shows a run)", classes="section")
        yield DataTable(id="runs-table", cursor_type="row")

    def on_mount(self) -> None:
        runs = self.query_one("#runs-table", DataTable)
        for col in ("run", "status", "questions", "before", "after", "Δ", "adapter", "model"):
            runs.add_column(col, key=col)
        self.watch(self.app, "document_id", self._document_changed)
        host(self).workspace_changed.subscribe(self, self._workspace_changed)

    def _workspace_changed(self, topic: str) -> None:
        if topic in ("runs", "documents", "adapters"):
            self.refresh_runs(keep=True)

    def _document_changed(self, _doc_id: Optional[int]) -> None:
        self.refresh_runs(keep=False)

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.show_run(self.run_id)

    # runs --------------------------------------------------------------------------------------
    def refresh_runs(self, keep: bool = True, select: Optional[int] = None) -> None:
        table = self.query_one("#runs-table", DataTable)
        table.clear()
        doc_id = host(self).document_id
        runs = host(self).workspace.runs(doc_id) if doc_id is not None else []
        for run in reversed(runs):
            s = run.summary
            before, after = s.get("accuracy_before"), s.get("accuracy_after")
            n = s.get("questions")
            table.add_row(
                f"#{run.id}",
                Text(run.status, style=STATUS_STYLE.get(run.status, "")),
                "—" if n is None else str(n),
                "—" if before is None else f"{before:.0%}",
                "—" if after is None else f"{after:.0%}",
                delta(before, after),
                f"#{run.adapter_id}" if run.adapter_id else "—",
                Text(run.model),
                key=str(run.id),
            )
        ids = [r.id for r in runs]
        target = select if select in ids else self.run_id if keep and self.run_id in ids else None
        if target is None:
            done = [r.id for r in runs if r.status == "done"]
            target = done[-1] if done else (ids[-1] if ids else None)
        if target is not None:
            table.move_cursor(row=table.get_row_index(str(target)), animate=False)
        self.show_run(target)

    @on(DataTable.RowSelected, "#runs-table")
    @on(DataTable.RowHighlighted, "#runs-table")
    def _run_chosen(self, event: DataTable.RowSelected | DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            run_id = int(event.row_key.value)
            if run_id != self.run_id:
                self.show_run(run_id)

    # comparison --------------------------------------------------------------------------------
    def show_run(self, run_id: Optional[int]) -> None:
        self.run_id = run_id
        table = self.query_one("#recall-table", DataTable)
        table.clear(columns=True)
        summary = self.query_one("#recall-summary", Label)
        self.pairs = []
        self.query_one("#recall-detail", Static).update("")
        ws = host(self).workspace
        run = next((r for r in ws.runs(host(self).document_id) if r.id == run_id), None) if run_id else None
        if run is None:
            summary.update(
                Text("No runs yet for this document: teach it from the Self-edits tab (ctrl+t).", style="dim")
            )
            return
        try:
            results = ws.results(run.id)
        except SealDeskError:
            results = []
        summary.update(self._summary(run, results))
        width = max(60, (self.size.width or 100) - 4)
        qw = max(16, int(width * 0.27))
        gw = max(10, int(width * 0.14))
        aw = max(12, (width - qw - gw - 3 - 2 - 12) // 2)
        table.add_column("#", width=3)
        table.add_column("question", width=qw)
        table.add_column("gold", width=gw)
        table.add_column("before", width=aw)
        table.add_column("after", width=aw)
        table.add_column("", width=2)
        self.pairs = compare_rows(results)
        for i, (b, a) in enumerate(self.pairs, 1):
            before = Text.assemble(mark(bool(b["correct"])), " ", wrap(b["answer"] or "(no answer)", aw - 2))
            if a is None:
                after = Text("—", style="dim")
            else:
                changed = a["answer"].strip() != b["answer"].strip()
                style = (
                    ("bold green" if a["correct"] else "bold red")
                    if changed and a["correct"] != b["correct"]
                    else ("bold yellow" if changed else "")
                )
                after = Text.assemble(
                    mark(bool(a["correct"])), " ", (wrap(a["answer"] or "(no answer)", aw - 2), style)
                )
            cells = [
                str(i),
                Text(wrap(b["question"], qw, 2)),
                Text(wrap(b["gold"], gw, 2), style="cyan"),
                before,
                after,
                change_mark(b, a),
            ]
            height = max(
                len(str(c).splitlines()) if not isinstance(c, Text) else len(c.plain.splitlines()) for c in cells
            )
            table.add_row(*cells, height=max(1, height))
        if self.pairs:
            self._detail(0)

    @on(DataTable.RowHighlighted, "#recall-table")
    def _answer_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.cursor_row)

    def _detail(self, row: int) -> None:
        """The highlighted question in full: the table cells are cut to fit."""
        if not 0 <= row < len(self.pairs):
            return
        b, a = self.pairs[row]
        text = Text.assemble(
            (f"{row + 1}. ", "dim"),
            (b["question"], "bold"),
            ("  gold: ", "dim"),
            (b["gold"], "cyan"),
            "\n",
            ("before ", "dim"),
            mark(bool(b["correct"])),
            " ",
            " ".join(b["answer"].split()),
        )
        if a is not None:
            text.append_text(
                Text.assemble("\n", ("after  ", "dim"), mark(bool(a["correct"])), " ", " ".join(a["answer"].split()))
            )
        self.query_one("#recall-detail", Static).update(text)

    @staticmethod
    def _summary(run, results: list[dict[str, Any]]) -> Text:
        s = run.summary
        text = Text.assemble(
            (f"Run #{run.id} ", "bold"), (run.status, STATUS_STYLE.get(run.status, "")), (f" · {run.model}", "dim")
        )
        if run.status != "done":
            reason = s.get("error")
            text.append(
                f"\nno results: the run {run.status}" + (f" ({reason})" if reason else "") + "; nothing was kept.",
                style="dim",
            )
            return text
        n = s.get("questions", 0)
        if not n:
            text.append("\nthis run had no questions, so there was nothing to recall.", style="dim")
            return text
        before = [r for r in results if r["phase"] == "before"]
        after = [r for r in results if r["phase"] == "after"]
        cb, ca = sum(r["correct"] for r in before), sum(r["correct"] for r in after)
        changed = sum(
            1 for b, a in compare_rows(results) if a is not None and a["answer"].strip() != b["answer"].strip()
        )
        text.append("\nrecall (strict) " if "lax_after" in s else "\nrecall (lax: graded before strict grading) ")
        text.append(f"{cb}/{n} ({s.get('accuracy_before', 0):.0%})", style="bold")
        text.append(" → ")
        text.append(f"{ca}/{n} ({s.get('accuracy_after', 0):.0%})", style="bold")
        text.append("   Δ ")
        text.append_text(delta(s.get("accuracy_before"), s.get("accuracy_after")))
        if s.get("lax_after") is not None:  # strict is the headline; lax also credits recited sentences
            text.append(f"   lax {s.get('lax_before', 0):.0%} → {s['lax_after']:.0%}", style="dim")
        text.append(f"   F1 {s.get('f1_before', 0):.2f} → {s.get('f1_after', 0):.2f}", style="dim")
        text.append(f"   {changed} answer(s) changed", style="dim")
        if run.adapter_id:
            text.append(f"   adapter #{run.adapter_id}", style="dim")
        return text
