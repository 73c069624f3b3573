"""The library: add files or folders, browse documents → passages → questions, edit questions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static, Tree
from textual.widgets.tree import TreeNode

from seal_desk.errors import SealDeskError
from seal_desk.knowledge.documents import Question
from seal_desk.tui.formatting import display_path, one_line, pct
from seal_desk.tui.host import host
from seal_desk.tui.messages import (
    AddDocumentsRequested,
    DocumentSelected,
    ImportQuestionsRequested,
    QuestionsRequested,
    RemoveDocumentRequested,
    SampleRequested,
    TabRequested,
)
from seal_desk.tui.widgets.path_input import PathInput

CLOZE = "cloze (a sentence of the passage with a blank)"


@dataclass(frozen=True)
class NodeRef:
    kind: str  # "document" | "passage" | "question"
    doc_id: int
    passage_idx: Optional[int] = None
    passage_id: Optional[int] = None
    question_id: Optional[int] = None


class DocumentTree(Tree[NodeRef]):
    """Documents → passages → questions."""

    def __init__(self, **kwargs) -> None:
        super().__init__("Documents", **kwargs)
        self.show_root = False
        self.guide_depth = 3


class LibraryPane(Vertical):
    """Left: a path box and the document tree. Right: details of the highlighted node."""

    BINDINGS = [
        Binding("a", "add", "Add"),
        Binding("o", "browse", "Browse"),
        Binding("n", "new_question", "New Q"),
        Binding("e", "edit_question", "Edit Q"),
        Binding("d,delete", "delete", "Delete"),
        Binding("w", "write_questions", "Write Qs", show=False),
        Binding("i", "import_questions", "Import Qs", show=False),
        Binding("s", "sample", "Sample", show=False),
        Binding("l", "open_self_edits", "Learn →"),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="lib-top"):
            yield Label("Add", id="lib-add-label")
            yield PathInput(
                placeholder="a file or folder: type a path, tab completes, enter adds", compact=True, id="lib-path"
            )
        with Horizontal(id="lib-body"):
            yield DocumentTree(id="lib-tree")
            with VerticalScroll(id="lib-detail-box"):
                yield Static(id="lib-detail")
                yield Button("Load the sample", id="lib-sample", variant="primary", compact=True)
        yield Label("", id="lib-hint")

    def on_mount(self) -> None:
        host(self).workspace_changed.subscribe(self, self._workspace_changed)
        self.refresh_documents()
        docs = host(self).workspace.documents()
        doc_id = host(self).document_id
        if docs and doc_id is None:
            doc_id = docs[-1]["id"]
            self.post_message(DocumentSelected(doc_id))
        self.focus_document(doc_id, focus=True)
        if not docs:  # the sample button: enter loads it, and the library's keys (a, o, s) still work
            self.query_one("#lib-sample", Button).focus()

    # data --------------------------------------------------------------------------------------
    def _workspace_changed(self, topic: str) -> None:
        if topic in ("documents", "questions", "runs"):
            self.refresh_documents()

    def refresh_documents(self) -> None:
        tree = self.query_one(DocumentTree)
        ws = host(self).workspace
        expanded = {n.data.doc_id for n in tree.root.children if n.is_expanded and n.data}
        expanded_passages = {
            (p.data.doc_id, p.data.passage_idx)
            for n in tree.root.children
            for p in n.children
            if p.is_expanded and p.data
        }
        current = tree.cursor_node.data if tree.cursor_node is not None else None
        tree.clear()
        docs = ws.documents()
        target: TreeNode | None = None
        for row in docs:
            doc = ws.document(row["id"])
            label = Text.assemble(
                (one_line(doc.title, 40), "bold"),
                (f"  {len(doc.passages)}¶ {doc.n_questions}?", "dim"),
            )
            dnode = tree.root.add(label, NodeRef("document", doc.id), expand=doc.id in expanded)
            if current == dnode.data:
                target = dnode
            for idx, passage in enumerate(doc.passages):
                plabel = Text.assemble(
                    (f"¶{idx + 1} ", "dim"), one_line(passage.title, 34), (f"  {len(passage.questions)}?", "dim")
                )
                pnode = dnode.add(
                    plabel, NodeRef("passage", doc.id, idx, passage.id), expand=(doc.id, idx) in expanded_passages
                )
                if current == pnode.data:
                    target = pnode
                for q in passage.questions:
                    ref = NodeRef("question", doc.id, idx, passage.id, q.id)
                    mark = ("_ ", "bold yellow") if q.source == "cloze" else ("? ", "bold cyan")
                    qnode = pnode.add_leaf(Text.assemble(mark, one_line(q.question, 44)), ref)
                    if current == ref:
                        target = qnode
        self.query_one("#lib-sample", Button).display = not docs
        self._update_hint(docs)
        if target is not None:
            self.call_after_refresh(tree.move_cursor, target)
        elif not docs:
            self.show_detail(None)

    def on_descendant_focus(self, _event) -> None:
        self._update_hint()

    def _update_hint(self, docs: Optional[list] = None) -> None:
        """The hint line names keys that work from where the focus is (in the path box, letters are text)."""
        docs = host(self).workspace.documents() if docs is None else docs
        focused = self.screen.focused if self.is_attached else None
        if isinstance(focused, PathInput):
            text = "enter adds the path · tab completes it (or moves on to the documents)"
        elif not docs:
            first = "enter or s" if isinstance(focused, Button) else "s"
            text = f"No documents yet · {first}: load the sample · a: type a path · o: browse"
        else:
            n_q = sum(r["n_questions"] for r in docs)
            text = f"{len(docs)} doc(s), {n_q} question(s) · l learn · i import questions · w write questions"
        self.query_one("#lib-hint", Label).update(text)

    def focus_document(self, doc_id: Optional[int], expand: bool = False, focus: bool = False) -> None:
        tree = self.query_one(DocumentTree)
        for node in tree.root.children:
            if node.data and node.data.doc_id == doc_id:
                if expand:
                    node.expand()
                self.call_after_refresh(tree.move_cursor, node)
                self.show_detail(node.data)
                if focus:
                    tree.focus()
                return

    # details -----------------------------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#lib-tree")
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        ref = event.node.data
        if ref is not None:  # always: document_id is set a message later, so comparing with it can be stale
            self.post_message(DocumentSelected(ref.doc_id))
        self.show_detail(ref)

    def show_detail(self, ref: Optional[NodeRef]) -> None:
        detail = self.query_one("#lib-detail", Static)
        if ref is None:
            detail.update(
                Text.from_markup(
                    "[b]Your library[/b]\n\nAdd text, Markdown, HTML, PDF or SQuAD-style JSON files. Questions about "
                    "each passage measure what the model recalls without seeing it.\n\n"
                    "[b]New here?[/b] Load the sample, a short text of invented facts with its questions; a guide "
                    "then takes you through one run: self-edit, training, recall before and after."
                )
            )
            return
        ws = host(self).workspace
        try:
            doc = ws.document(ref.doc_id)
        except SealDeskError:
            detail.update("")
            return
        if ref.kind == "document":
            runs = [r for r in ws.runs(doc.id) if r.status == "done"]
            text = Text.assemble(
                (doc.title, "bold"),
                "\n",
                (display_path(doc.path), "dim"),
                "\n\n",
                f"{len(doc.passages)} passage(s), {doc.n_questions} question(s)\n",
            )
            if runs:
                s = runs[-1].summary
                text.append(
                    f"last run #{runs[-1].id}: recall {pct(s.get('accuracy_before'))} → "
                    f"{pct(s.get('accuracy_after'))}\n"
                )
            if doc.n_questions == 0:
                text.append(
                    "\nNo questions yet, so recall cannot be measured: i imports a questions file (as --questions), "
                    "w lets the model write some, n adds one by hand (on a passage).\n",
                    style="yellow",
                )
            text.append("\nPress l to write self-edits and teach the model this document.", style="dim")
        elif ref.kind == "passage":
            p = doc.passages[ref.passage_idx]
            text = Text.assemble(
                (p.title, "bold"),
                (f"   passage {ref.passage_idx + 1}/{len(doc.passages)}", "dim"),
                "\n\n",
                p.text,
                "\n\n",
                (f"{len(p.questions)} question(s)", "dim"),
            )
            if p.self_edits:
                text.append(f" · {len(p.self_edits)} supplied self-edit(s)", style="dim")
        else:
            p = doc.passages[ref.passage_idx]
            q = next((q for q in p.questions if q.id == ref.question_id), None)
            if q is None:
                detail.update("")
                return
            text = Text.assemble(
                ("Question", "dim"),
                "\n",
                (q.question, "bold"),
                "\n\n",
                ("Answer", "dim"),
                "\n",
                (q.answer, "bold cyan"),
                "\n\n",
                (f"source: {CLOZE if q.source == 'cloze' else q.source} · passage: {p.title}", "dim"),
                "\n\n",
                ("e edit · d delete", "dim"),
            )
        detail.update(text)

    # actions -----------------------------------------------------------------------------------
    @property
    def highlighted(self) -> Optional[NodeRef]:
        node = self.query_one(DocumentTree).cursor_node
        return node.data if node is not None else None

    def action_add(self) -> None:
        self.query_one(PathInput).focus()

    def action_browse(self) -> None:
        from seal_desk.tui.dialogs.file_picker import FilePicker

        def picked(path: Optional[str]) -> None:
            if path:
                self.add_documents([path])

        self.app.push_screen(FilePicker(), picked)

    def action_sample(self) -> None:
        """Add the bundled sample with its questions; a guide then walks through one run."""
        self.post_message(SampleRequested())

    @on(Button.Pressed, "#lib-sample")
    def _sample_pressed(self) -> None:
        self.action_sample()

    def action_import_questions(self) -> None:
        """Import a questions file (the formats of --questions) into the highlighted document."""
        ref = self.highlighted
        if ref is None:
            self.app.notify("Add a document first: imported questions go with a document.", severity="warning")
            return
        from seal_desk.tui.dialogs.file_picker import FilePicker

        title = host(self).workspace.document(ref.doc_id).title

        def picked(path: Optional[str]) -> None:
            if path:
                self.post_message(ImportQuestionsRequested(ref.doc_id, path))

        self.app.push_screen(
            FilePicker(title=f"Import questions into '{one_line(title, 40)}'", documents=False), picked
        )

    @on(PathInput.Submitted, "#lib-path")
    def _submitted(self, event: PathInput.Submitted) -> None:
        path = event.value.strip()
        if not path:
            return
        if self.add_documents([path]):
            event.input.value = ""

    def add_documents(self, paths: list[str]) -> bool:
        """Ask the app to load `paths`; False when refused at once (a missing path, a load under way)."""
        from seal_desk.knowledge.data import looks_like_hub_id

        for raw in paths:
            if not Path(raw).expanduser().exists() and not looks_like_hub_id(raw):
                self.app.notify(f"{raw}: no such file or folder", severity="error")
                return False
        busy = host(self).job_running("documents")  # the app warns about it
        self.post_message(AddDocumentsRequested(paths))
        return not busy

    def action_new_question(self) -> None:
        ref = self.highlighted
        if ref is None or ref.kind == "document":
            self.app.notify(
                "Highlight a passage (or one of its questions) to add a question to it.", severity="warning"
            )
            return
        from seal_desk.tui.dialogs.question_editor import QuestionEditor

        def saved(result: Optional[tuple[str, str]]) -> None:
            if result is None:
                return
            try:
                host(self).workspace.add_question(ref.passage_id, Question(result[0], result[1], "user"))
            except SealDeskError as exc:
                self.app.notify(str(exc), severity="error")
                return
            host(self).workspace_changed.publish("questions")
            self.app.notify("Question added.")

        self.app.push_screen(QuestionEditor("New question"), saved)

    def action_edit_question(self) -> None:
        ref = self.highlighted
        if ref is None or ref.kind != "question":
            self.app.notify("Highlight a question to edit it.", severity="warning")
            return
        doc = host(self).workspace.document(ref.doc_id)
        q = next(q for q in doc.passages[ref.passage_idx].questions if q.id == ref.question_id)
        from seal_desk.tui.dialogs.question_editor import QuestionEditor

        def saved(result: Optional[tuple[str, str]]) -> None:
            if result is None:
                return
            try:
                host(self).workspace.update_question(ref.question_id, *result)
            except SealDeskError as exc:
                self.app.notify(str(exc), severity="error")
                return
            host(self).workspace_changed.publish("questions")
            self.show_detail(ref)

        self.app.push_screen(QuestionEditor("Edit question", q.question, q.answer), saved)

    def action_delete(self) -> None:
        ref = self.highlighted
        if ref is None:
            return
        ws = host(self).workspace
        if ref.kind == "question":
            ws.delete_question(ref.question_id)
            host(self).workspace_changed.publish("questions")
            self.app.notify("Question deleted.")
            return
        doc = ws.document(ref.doc_id)
        from seal_desk.tui.dialogs.confirm import Confirm

        def confirmed(yes: Optional[bool]) -> None:
            if yes:
                self.post_message(RemoveDocumentRequested(ref.doc_id))

        self.app.push_screen(
            Confirm(
                f"Remove '{doc.title}' ({len(doc.passages)} passages, {doc.n_questions} questions) from the library?",
                "Its runs stay in the history; saved adapters are kept.",
                "Remove",
            ),
            confirmed,
        )

    def action_write_questions(self) -> None:
        ref = self.highlighted
        passage_idx = ref.passage_idx if ref is not None else None
        if ref is not None and ref.kind == "document" and len(host(self).workspace.document(ref.doc_id).passages) == 1:
            passage_idx = 0
        if ref is None or passage_idx is None:
            self.app.notify("Highlight a passage to let the model write questions about it.", severity="warning")
            return
        self.post_message(QuestionsRequested(ref.doc_id, passage_idx))

    def action_open_self_edits(self) -> None:
        """Learn the highlighted document: open it in the Self-edits tab."""
        ref = self.highlighted
        if ref is None:
            self.app.notify("Add a document first.", severity="warning")
            return
        self.post_message(DocumentSelected(ref.doc_id))
        self.post_message(TabRequested("self-edits"))
