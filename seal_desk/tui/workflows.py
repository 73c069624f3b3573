"""The work the app starts when a pane asks (messages.py): each function builds a job, starts it on
the app's runner and routes the job's events and outcome to the panes that show them.

They take the app explicitly, as a `WorkflowHost`: what of the app they use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol

from textual.screen import Screen

from seal_desk.errors import InputError, SealDeskError
from seal_desk.events import Message
from seal_desk.tui.components.arc import ArcPane
from seal_desk.tui.components.library import LibraryPane
from seal_desk.tui.components.recall import RecallPane
from seal_desk.tui.components.rl import RlPane
from seal_desk.tui.components.training import TrainingPane
from seal_desk.tui.formatting import display_path, one_line
from seal_desk.tui.host import PaneHost
from seal_desk.tui.jobs import Job

if TYPE_CHECKING:
    from seal_desk.arc import ArcSelfEdit, ArcTask
    from seal_desk.config import SealConfig
    from seal_desk.engine import Engine, LearnResult
    from seal_desk.knowledge.documents import Document, Question
    from seal_desk.knowledge.question_writer import WrittenQuestions
    from seal_desk.model.loader import LoadedModel
    from seal_desk.restem.start import ModelCopier


class WorkflowHost(PaneHost, Protocol):
    """The app as the workflows see it."""

    document_id: Optional[int]

    @property
    def main(self) -> Screen: ...

    def notify(
        self, message: str, *, title: str = "", severity: Any = "information", timeout: Optional[float] = None
    ) -> None: ...

    def show_tab(self, tab: str) -> None: ...

    def active_adapter_changed(self) -> None: ...

    def wait_for_load(self, job: Job) -> tuple[Optional[Engine], Any]:
        """Block until a model load ended: the engine (None if it failed) and a tokenizer to count with."""
        ...

    def model_copy(self, path: Optional[str]) -> LoadedModel: ...

    def model_copier(self, device: Optional[str] = None) -> ModelCopier:
        """`model_copy` as a value that Ray workers can load from too (restem.start.ModelCopier)."""
        ...

    def start_guide(self, doc_id: int, n_questions: int) -> None:
        """Begin the guided first run on a document (the bundled sample)."""
        ...

    def advance_guide(self, doc_id: int, step: str, detail: str = "") -> None:
        """Move the guided first run on, if it runs on `doc_id`."""
        ...

    def measuring_config(self) -> SealConfig:
        """The settings without the app's interactive defaults (the outer loop measures with these)."""
        ...

    def end_guide(self, doc_id: Optional[int] = None) -> None:
        """Stop the guided first run (if it runs on `doc_id`; None: whatever it runs on)."""
        ...


# documents ---------------------------------------------------------------------------------------
def add_documents(
    app: WorkflowHost,
    paths: Sequence[str],
    questions: Optional[str] = None,
    then: Optional[Callable[[Document], None]] = None,
) -> Optional[Job]:
    """Load files/folders, tables or data set ids (knowledge.inputs) in the background and store the new ones
    (a text the library holds already, from any path, is not added again). `questions`: a questions file (the
    formats of `--questions`) for the one document; `then(doc)` runs once the last one is added."""

    def work(job: Job):
        from seal_desk.knowledge.inputs import load_inputs
        from seal_desk.knowledge.questions import attach, load_questions

        engine, tokenizer = app.wait_for_load(job)
        count = (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])) if tokenizer else None
        budget = 400
        if engine is not None:
            budget = engine.passage_budget
        docs = load_inputs(list(paths), count_tokens=count, max_tokens=budget)
        if questions:
            if len(docs) != 1:
                raise InputError("a questions file goes with exactly one document")
            attach(docs[0], load_questions(questions))
        added, known = [], []
        have = {row["sha256"] for row in app.workspace.documents()}  # the same text from any path is known
        for doc in docs:
            job.cancel.check()
            if doc.sha256 in have:
                known.append(doc)
            else:
                added.append(app.workspace.add_document(doc))
                have.add(doc.sha256)
        return added, known

    def done(result) -> None:
        added, known = result
        if known:
            more = f" and {len(known) - 3} more" if len(known) > 3 else ""
            names = ", ".join(one_line(d.title, 30) for d in known[:3]) + more
            app.notify(f"Already in the library: {names}", severity="warning")
        if not added:
            return
        app.document_id = added[-1].id
        app.workspace_changed.publish("documents")
        library = app.main.query_one(LibraryPane)
        library.call_next(library.focus_document, added[-1].id, True, True)
        if len(added) == 1:
            d = added[0]
            app.notify(f"Added '{one_line(d.title, 40)}': {len(d.passages)} passage(s), {d.n_questions} question(s).")
        else:
            app.notify(f"Added {len(added)} documents.")
        if then is not None:
            then(added[-1])
        else:
            app.end_guide()

    title = "Adding " + (one_line(Path(paths[0]).name, 30) if len(paths) == 1 else f"{len(paths)} paths")
    return app.start_job(Job("documents", title, needs_model=False, lock_model=False, on_done=done), work)


def add_sample(app: WorkflowHost) -> Optional[Job]:
    """Add the bundled sample (a short document of invented facts with its questions) and start the guided
    first run on it. When its text is in the library already (added from here, from a copy at another path,
    or by an earlier install) that document is selected instead, given whichever of the sample's questions
    it lacks (the note says how many: no second copy of either), and the guide starts at once."""
    from seal_desk.knowledge.documents import content_hash, read_source
    from seal_desk.knowledge.questions import load_questions
    from seal_desk.paths import sample_files

    document, questions = sample_files()
    try:
        sha = content_hash(read_source(document).text)
        known = [row for row in app.workspace.documents() if row["sha256"] == sha]
        if not known:
            return add_documents(
                app, [str(document)], str(questions), then=lambda doc: app.start_guide(doc.id, doc.n_questions)
            )
        doc = app.workspace.document(known[-1]["id"])
        new = add_new_questions(app, doc, load_questions(questions))
    except (SealDeskError, OSError, sqlite3.Error) as exc:
        app.notify(one_line(str(exc), 200), severity="error")
        return None
    app.document_id = doc.id
    library = app.main.query_one(LibraryPane)
    library.focus_document(doc.id, True, True)
    app.start_guide(doc.id, doc.n_questions)
    where = "" if doc.path == str(document) else f" (from {one_line(Path(doc.path).name, 40)})"
    got = f"{len(new)} of its questions added" if new else "no new questions"
    app.notify(f"The sample '{one_line(doc.title, 40)}' is already in the library{where}: it is selected, {got}.")
    return None


MAX_QUESTIONS_FILE = 8 * 2**20


def add_new_questions(app: WorkflowHost, doc: Document, found: Sequence[Question]) -> list[Question]:
    """Store the questions `doc` lacks (by normalised text; repeats in `found` once), each with the passage it
    shares most words with, in one transaction; `doc` gets them too. Returns the new ones."""
    from seal_desk.knowledge.grading import normalize
    from seal_desk.knowledge.questions import attach

    have = {normalize(q.question) for p in doc.passages for q in p.questions}
    new = list({normalize(q.question): q for q in found if normalize(q.question) not in have}.values())
    counts = [len(p.questions) for p in doc.passages]
    attach(doc, new)
    app.workspace.add_questions([(p.id, q) for p, n in zip(doc.passages, counts) for q in p.questions[n:]])
    if new:
        app.workspace_changed.publish("questions")
    return new


def import_questions(app: WorkflowHost, doc_id: int, path: str) -> int:
    """Read a questions file (JSON/JSONL, question<TAB>answer lines, Q:/A: blocks, as `--questions`) into a
    document: each question goes to the passage it shares most words with; ones it has already are skipped.
    Returns how many were added; a bad file is one error line."""
    from seal_desk.knowledge.questions import load_questions

    try:
        if Path(path).is_file() and Path(path).stat().st_size > MAX_QUESTIONS_FILE:  # missing: load_questions says so
            raise InputError(f"{path}: over {MAX_QUESTIONS_FILE // 2**20} MB, too big for a questions file")
        found = load_questions(path)
        doc = app.workspace.document(doc_id)
        new = add_new_questions(app, doc, found)
    except (SealDeskError, OSError, sqlite3.Error) as exc:  # one line; the transaction kept all or nothing
        app.notify(one_line(str(exc), 200), severity="error")
        return 0
    skipped = len(found) - len(new)
    note = f" ({skipped} already there or repeated)" if skipped else ""
    name = one_line(Path(path).name, 30)
    if new:
        app.notify(f"Imported {len(new)} question(s) from {name} into '{one_line(doc.title, 30)}'{note}.")
    else:
        app.notify(f"No questions imported from {name}: all {len(found)} are in '{one_line(doc.title, 30)}' already.")
    return len(new)


def remove_document(app: WorkflowHost, doc_id: int) -> None:
    """Remove a document (its runs stay in the history) and forget its drafts."""
    ws = app.workspace
    title = ws.document(doc_id).title
    ws.remove_document(doc_id)
    app.drafts.forget_document(doc_id)
    remaining = ws.documents()
    if app.document_id == doc_id:
        app.document_id = remaining[-1]["id"] if remaining else None
    app.workspace_changed.publish("documents")
    app.end_guide(doc_id)
    app.notify(f"Removed '{title}'.")


def write_questions(app: WorkflowHost, doc_id: int, passage_idx: int, n: int = 5) -> None:
    """Let the model write questions about a passage (checked against it, topped up with cloze ones);
    the notification says how many were kept and why the others were dropped."""
    passage = app.workspace.document(doc_id).passages[passage_idx]
    where = one_line(passage.title, 30)

    def work(job: Job) -> WrittenQuestions:
        engine = app.require_engine()
        written = engine.write_questions(passage, n, passage.questions, on_event=job.emit, cancel=job.cancel)
        app.workspace.add_questions([(passage.id, q) for q in written.questions])  # all or none
        return written

    def done(written: WrittenQuestions) -> None:
        app.workspace_changed.publish("questions")
        if written.questions:
            app.notify(
                f"{len(written.questions)} question(s) for '{where}': {written.summary()}. "
                "Check their answers (e edits).",
                timeout=12,
            )
        else:
            app.notify(
                f"No questions added to '{where}': {written.summary()}. Import a questions file (i) or "
                "add one by hand (n).",
                severity="warning",
                timeout=12,
            )

    app.start_job(Job("questions", "Writing questions", on_done=done), work)


# learning ----------------------------------------------------------------------------------------
def learn(app: WorkflowHost, doc_id: int, fmt: str, k: int, self_edits: dict[int, list[str]]) -> Optional[Job]:
    """Teach the model a document; the Train tab shows the run, the Recall tab its results."""
    doc = app.workspace.document(doc_id)
    picks = f" · your picks for {len(self_edits)}" if self_edits else ""
    detail = f"{fmt} · k {k} · {len(doc.passages)} passage(s) · {doc.n_questions} question(s){picks}"
    pane = app.main.query_one(TrainingPane)

    def work(job: Job) -> LearnResult:
        engine = app.require_engine()
        return engine.learn(doc, fmt, k, self_edits or None, on_event=job.emit, cancel=job.cancel)

    def learned(result: LearnResult) -> None:
        b, a = result.before, result.after
        saved = f" · adapter #{result.adapter_id} saved" if result.adapter_id else ""
        if b.answers:
            line = (
                f"recall {b.correct}/{len(b.answers)} ({b.accuracy:.0%}) → {a.correct}/{len(a.answers)} "
                f"({a.accuracy:.0%}), Δ {a.accuracy - b.accuracy:+.0%}{saved}"
            )
        else:
            line = f"trained on {len(result.sequences)} sequence(s){saved}"
        pane.finish("done", line)
        app.workspace_changed.publish("adapters")
        app.document_id = result.document.id
        app.main.query_one(RecallPane).refresh_runs(select=result.run_id)
        app.workspace_changed.publish("runs")
        app.notify(f"Learned '{one_line(result.document.title, 30)}': {line}.")
        if b.answers:
            app.show_tab("recall")
            app.advance_guide(doc_id, "done", f"recall {b.correct}/{len(b.answers)} → {a.correct}/{len(a.answers)}")
        else:
            app.advance_guide(doc_id, "done", f"trained on {len(result.sequences)} sequence(s), no questions")

    def ended(state: str) -> None:
        if state != "done":
            pane.finish(state)
            app.workspace_changed.publish("runs")
            app.advance_guide(doc_id, "written", f"the run was {state}")

    job = Job(
        "learn",
        f"Learning '{one_line(doc.title, 28)}'",
        on_start=pane.started,
        on_event=pane.handle_event,
        on_done=learned,
        on_end=ended,
    )
    if app.start_job(job, work) is None:
        return None
    pane.begin(doc.title, detail, doc.n_questions)
    app.advance_guide(doc_id, "training")
    if doc.n_questions == 0:
        app.notify(
            "This document has no questions, so recall cannot be measured: add some in the Library (n).",
            severity="warning",
        )
    app.show_tab("train")
    return job


# outer loop --------------------------------------------------------------------------------------
def run_outer_loop(
    app: WorkflowHost, data: str, out: str, rounds: int, passages: int, k: int, evals: int, ray: str = ""
) -> Optional[Job]:
    """Run (or resume) ReST-EM on a training file; the RL tab shows it. `ray`: score the passages on that
    Ray cluster (auto, local or the head's address; blank: here), whose workers the tab lists."""
    pane = app.main.query_one(RlPane)
    cluster = None
    if ray and ray.lower() != "here":
        import importlib.util

        from seal_desk.restem.cluster import INSTALL, ClusterOptions

        if importlib.util.find_spec("ray") is None:  # without importing it (seconds)
            app.notify(INSTALL.replace("--ray", "Scoring on a cluster"), severity="error")
            return None
        cluster = ClusterOptions(ray, device=app.device_name or "auto")

    def work(job: Job):
        from seal_desk.config import OuterLoopConfig
        from seal_desk.knowledge.documents import load_data_file
        from seal_desk.restem import start

        engine = app.require_engine()
        cfg = OuterLoopConfig(rounds=rounds, passages=passages, k=k, eval_times=evals)
        usable = start.training_passages(load_data_file(Path(data).expanduser()), [], data, on_event=job.emit)
        with engine.configured(app.measuring_config()):  # rewards from the paper's inner loop, as `seal-desk rl`
            return start.run_outer_loop(
                engine,
                app.workspace,
                usable,
                str(Path(data).expanduser().resolve()),
                out,
                cfg,
                app.model_copier(app.device_name or "auto") if cluster else app.model_copy,
                on_event=job.emit,
                cancel=job.cancel,
                cluster=cluster,
            )

    job = Job("rl", "Outer loop (ReST-EM)", on_event=pane.handle_event, on_end=pane.finish)
    if app.start_job(job, work) is None:
        return None
    pane.begin()
    return job


# few-shot (ARC) ----------------------------------------------------------------------------------
def solve_arc(app: WorkflowHost, task: ArcTask, mode: str, config: Optional[ArcSelfEdit] = None) -> Optional[Job]:
    """Solve one ARC task: mode "icl" (in-context only), "self-edit" (the model writes the config
    first) or "config" (the given config); the ARC tab shows it."""
    pane = app.main.query_one(ArcPane)

    def work(job: Job):
        from seal_desk.arc.ttt import sample_configs, solve
        from seal_desk.config import FewShotConfig

        engine = app.require_engine()
        settings = FewShotConfig()
        chosen = config
        condition = {"icl": "icl", "config": "config"}.get(mode, "ttt")
        if mode == "self-edit":
            parsed = sample_configs(engine, task, settings, 1, settings.seed, job.emit, job.cancel)[0]
            job.emit(
                Message(
                    f"self-edit: {one_line(parsed.text, 200)!r} → "
                    + (parsed.config.label() if parsed.valid else f"invalid: {parsed.error}"),
                    "info" if parsed.valid else "warning",
                )
            )
            chosen = parsed
        return solve(engine, task, settings, chosen, condition, job.emit, job.cancel)

    job = Job(
        "arc", f"Solving ARC {one_line(task.id, 20)}", on_event=pane.handle_event, on_done=pane.done, on_end=pane.finish
    )
    if app.start_job(job, work) is None:
        return None
    pane.begin(task.id, mode)
    return job


# adapters ----------------------------------------------------------------------------------------
def activate_adapter(app: WorkflowHost, adapter_id: int) -> None:
    ws = app.workspace

    def work(job: Job) -> str:
        engine = app.require_engine()
        record = ws.adapter(adapter_id)
        if record.model != engine.loaded.name:
            raise InputError(
                f"adapter #{adapter_id} was trained on {record.model}; the loaded model is {engine.loaded.name}"
            )
        return engine.load_adapter(adapter_id)

    def done(_name: str) -> None:
        for record in ws.adapters():
            if record.active and record.id != adapter_id:
                ws.set_adapter_active(record.id, False)
        ws.set_adapter_active(adapter_id, True)
        app.active_adapter_changed()
        app.notify(f"Adapter #{adapter_id} is active: the ask box uses it.")

    app.start_job(Job("adapter", f"Loading adapter #{adapter_id}", on_done=done), work)


def deactivate_adapter(app: WorkflowHost, adapter_id: int) -> None:
    app.workspace.set_adapter_active(adapter_id, False)
    app.active_adapter_changed()
    app.notify(f"Adapter #{adapter_id} deactivated: the ask box uses the base model.")


def delete_adapter(app: WorkflowHost, adapter_id: int) -> None:
    def work(job: Job) -> None:
        if app.engine is not None:
            app.engine.unload_adapter(adapter_id)
        app.workspace.delete_adapter(adapter_id)

    def done(_none) -> None:
        app.active_adapter_changed()
        app.notify(f"Deleted adapter #{adapter_id}.")

    app.start_job(
        Job("adapter", f"Deleting adapter #{adapter_id}", cancellable=False, needs_model=False, on_done=done), work
    )


def export_adapter(app: WorkflowHost, adapter_id: int, target: Path, merged: bool) -> None:
    def work(job: Job) -> Path:
        from seal_desk.model.export import export_adapter

        record = app.workspace.adapter(adapter_id)
        return export_adapter(record, target, app.require_engine() if merged else None)

    kind = "merged model" if merged else "adapter folder"
    app.start_job(
        Job(
            "export",
            f"Exporting adapter #{adapter_id}",
            cancellable=False,
            needs_model=merged,
            lock_model=merged,
            on_done=lambda path: app.notify(f"Exported the {kind} to {display_path(path)}."),
        ),
        work,
    )
