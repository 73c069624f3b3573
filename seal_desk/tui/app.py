"""SealDeskApp: the Textual app that drives the UI-free core (seal_desk.knowledge.engine and friends).

Structure: the app owns the workspace, the engine (loaded in the background), the self-edit drafts
and the job runner; the main screen holds one pane per concept (components/); dialogs are screens.
Every model action runs in a thread worker (see jobs.py); the engine's typed events come back as
messages and are rendered on the UI thread. Panes react to `document_id` and to the
`workspace_changed` signal instead of calling each other.
"""

from __future__ import annotations

import copy
import gc
import threading
import traceback
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from textual.app import App
from textual.reactive import reactive
from textual.signal import Signal
from textual.widgets import TabbedContent

from seal_desk.config import SealConfig
from seal_desk.errors import Cancelled, InputError, ModelError, SealDeskError
from seal_desk.events import EventSink, Message, Progress
from seal_desk.tui.palette import SealDeskCommands
from seal_desk.tui.drafts import Drafts
from seal_desk.tui.formatting import display_path, one_line
from seal_desk.tui.jobs import Job, JobEvent, JobFinished, JobStarted
from seal_desk.tui.screens.main import TABS, MainScreen
from seal_desk.workspace.database import Workspace

if TYPE_CHECKING:
    from seal_desk.arc import ArcConfig, ArcTask
    from seal_desk.knowledge.engine import Engine, LearnResult
    from seal_desk.model.loader import LoadedModel

    from seal_desk.tui.components.status_bar import StatusBar
    from seal_desk.tui.components.training import TrainingPane

Loader = Callable[[EventSink], "LoadedModel"]
EngineFactory = Callable[[EventSink], "Engine"]


class SealDeskApp(App[None]):
    """`seal-desk` with no arguments.

    Args:
        model, device, quant, trust_remote_code: as on the command line (model None: saved setting or default).
        workspace: a folder, a `Workspace`, or None for the user data folder.
        loader: builds the LoadedModel (given an event sink); default `seal_desk.model.loader.load`.
            Tests pass `lambda on_event: load_tiny()`.
        engine_factory: builds the whole Engine instead (given an event sink); overrides `loader`.
        config: a SealConfig to use instead of the saved settings (until settings are saved).
    """

    CSS_PATH = "seal_desk.tcss"
    TITLE = "seal-desk"
    SUB_TITLE = "teach a local model your documents"
    COMMANDS = App.COMMANDS | {SealDeskCommands}
    NOTIFICATION_TIMEOUT = 6
    TABS = TABS
    TAB_FOCUS = {"library": "#lib-tree", "self-edits": "#se-passage", "recall": "#recall-table",
                 "adapters": "#adapter-table", "rl": "#rl-data", "arc": "#arc-path",
                 "forgetting": "#forget-path", "settings": "#set-model"}

    document_id: reactive[Optional[int]] = reactive(None, init=False)
    """The document the Self-edits and Recall tabs work on (chosen in the Library)."""

    def __init__(
        self,
        model: Optional[str] = None,
        device: str = "auto",
        quant: str = "",
        workspace: str | Path | Workspace | None = None,
        trust_remote_code: bool = False,
        learner: Optional[str] = None,
        *,
        loader: Optional[Loader] = None,
        engine_factory: Optional[EngineFactory] = None,
        config: Optional[SealConfig] = None,
    ) -> None:
        super().__init__()
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self.workspace.mark_stale_runs()
        self.model_name: Optional[str] = model or self.workspace.get_setting("model")
        self.device_name: str = device if device and device != "auto" else self.workspace.get_setting("device", "auto")
        self.quant = quant
        self.trust_remote_code = trust_remote_code
        self.learner = learner  # None: the preset's learner, "none": no learner, else a learner folder
        self._loader = loader
        self._engine_factory = engine_factory
        self._config = config
        self.engine: Optional["Engine"] = None
        self._doc_tokenizer: Any = None
        self._engine_error: Optional[str] = None
        self._engine_ready = threading.Event()
        self._model_lock = threading.Lock()
        self.jobs: list[Job] = []
        self.drafts = Drafts()
        self.notices: list[tuple[str, str]] = []  # (severity, message): every notification, for tests and logs
        self.workspace_changed: Signal[str] = Signal(self, "workspace-changed")

    # screens -----------------------------------------------------------------------------------
    def get_default_screen(self) -> MainScreen:
        self.main = MainScreen()
        return self.main

    def on_mount(self) -> None:
        self.call_after_refresh(self.load_engine)

    def on_unmount(self) -> None:
        for job in self.jobs:
            job.cancel.cancel()

    @property
    def status(self) -> "StatusBar":
        from seal_desk.tui.components.status_bar import StatusBar

        return self.main.query_one(StatusBar)

    @property
    def training(self) -> "TrainingPane":
        from seal_desk.tui.components.training import TrainingPane

        return self.main.query_one(TrainingPane)

    def show_tab(self, tab: str) -> None:
        """Switch tabs and move the focus into the new tab (a focused widget left in a hidden tab
        would pull the tabs back to it)."""
        tabs = self.main.query_one(TabbedContent)
        tabs.active = tab
        if self.screen is not self.main:  # a dialog is open: leave its focus alone
            return
        target = self.main.query(f"#{tab} {self.TAB_FOCUS[tab]}").first(None) if tab in self.TAB_FOCUS else None
        if target is not None and target.focusable:
            target.focus()
        else:
            from textual.widgets._tabbed_content import ContentTabs

            tabs.query_one(ContentTabs).focus()

    def notify(self, message: str, *, title: str = "", severity: str = "information", timeout: float | None = None,
               markup: bool = False, **kwargs: Any) -> None:
        """Every notification is also kept in `notices`; messages are plain text (paths may hold brackets)."""
        self.notices.append((severity, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup, **kwargs)

    def _handle_exception(self, error: Exception) -> None:
        """A user-facing error raised in a handler becomes a notification, never a traceback."""
        if isinstance(error, SealDeskError):
            self.notify(str(error), severity="error")
            return
        if not self.is_headless:  # a real terminal: keep the app alive, log the details
            try:
                log = self.workspace.folder / "tui-errors.log"
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write("".join(traceback.format_exception(error)) + "\n")
                where = f" (details in {display_path(log)})"
            except OSError:
                where = ""
            self.notify(f"internal error: {type(error).__name__}: {error}{where}", severity="error")
            return
        super()._handle_exception(error)

    # jobs --------------------------------------------------------------------------------------
    def start_job(self, job: Job, work: Callable[[Job], Any]) -> Optional[Job]:
        """Run `work(job)` in a thread worker; None (and a warning) if a job of that kind is pending."""
        pending = next((j for j in self.jobs if j.kind == job.kind and not j.finished), None)
        if pending is not None:
            self.notify(f"{pending.title} is still running.", severity="warning")
            return None
        job.post = self.post_message
        self.jobs.append(job)
        self.run_worker(partial(self._run_job, job, work), name=job.title, group="jobs", thread=True,
                        exit_on_error=False)
        self._jobs_changed()
        return job

    def job_running(self, kind: str) -> bool:
        return any(j.kind == kind and not j.finished for j in self.jobs)

    def has_cancellable_job(self) -> bool:
        return any(j.cancellable and not j.finished and not j.cancel.cancelled for j in self.jobs)

    def _run_job(self, job: Job, work: Callable[[Job], Any]) -> None:
        """Worker thread: wait for the model (and its lock), run, report. Never raises."""
        try:
            if job.needs_model:
                self._await_engine(job)
            lock = self._model_lock if job.lock_model else nullcontext()
            if job.lock_model:
                while not self._model_lock.acquire(timeout=0.1):
                    job.cancel.check()
                lock = _Held(self._model_lock)
            with lock:
                job.cancel.check()
                job.post(JobStarted(job))
                result = work(job)
        except Cancelled:
            job.post(JobFinished(job, cancelled=True))
        except SealDeskError as exc:
            job.post(JobFinished(job, error=str(exc)))
        except Exception as exc:  # a bug or a library error: one line for the user
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            job.post(JobFinished(job, error=f"{type(exc).__name__}: {first}"))
        else:
            job.post(JobFinished(job, result=result))

    def _await_engine(self, job: Job) -> None:
        while not self._engine_ready.wait(0.1):
            job.cancel.check()
        self.require_engine()

    def require_engine(self) -> "Engine":
        engine = self.engine
        if engine is None:
            reason = f": {self._engine_error}" if self._engine_error else ""
            raise ModelError(f"the model is not loaded{reason}")
        return engine

    def on_job_started(self, message: JobStarted) -> None:
        message.job.state = "running"
        if message.job.on_start is not None:
            self._safely(message.job.on_start)
        self._jobs_changed()

    def on_job_event(self, message: JobEvent) -> None:
        job, event = message.job, message.event
        if job.on_event is not None:
            self._safely(job.on_event, event)
        elif isinstance(event, Message) and event.level in ("warning", "error"):
            self.notify(event.text, severity=event.level)

    def on_job_finished(self, message: JobFinished) -> None:
        job = message.job
        job.state = "cancelled" if message.cancelled else "failed" if message.error else "done"
        if job in self.jobs:
            self.jobs.remove(job)
        if message.cancelled:
            self.notify(f"{job.title}: cancelled; nothing partial was kept.", severity="warning")
        elif message.error:
            self.notify(message.error, title=job.title, severity="error", timeout=10)
        elif job.on_done is not None:
            self._safely(job.on_done, message.result)
        if job.on_end is not None:
            self._safely(job.on_end, job.state)
        self._jobs_changed()

    def _safely(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            callback(*args)
        except SealDeskError as exc:
            self.notify(str(exc), severity="error")

    def _jobs_changed(self) -> None:
        running = [j for j in self.jobs if j.kind != "load"]
        text = None
        if running:
            first = next((j for j in running if j.state == "running"), running[0])
            text = first.title + ("" if first.state == "running" else " (waiting for the model)")
            if len(running) > 1:
                text += f" +{len(running) - 1} queued"
        if self._main_ready():
            self.status.set_job(text)
            self.main.refresh_bindings()

    def _main_ready(self) -> bool:
        main = getattr(self, "main", None)
        return main is not None and main.is_attached

    def action_cancel_job(self) -> None:
        jobs = [j for j in self.jobs if j.cancellable and not j.finished]
        if not jobs:
            self.notify("Nothing to cancel.")
            return
        for job in jobs:
            job.cancel.cancel()
        if any(j.kind == "learn" for j in jobs):
            self.training.set_cancelling()
        self.notify(f"Cancelling {jobs[0].title}…")
        self._jobs_changed()

    # the engine --------------------------------------------------------------------------------
    def load_engine(self) -> Optional[Job]:
        """(Re)load the model in the background; jobs that need it wait until it is ready."""
        if self.job_running("load"):
            self.notify("The model is already loading.", severity="warning")
            return None
        name = self.model_name or ("custom model" if self._loader or self._engine_factory else "smollm2-135m")
        job = Job("load", f"Loading {name}", cancellable=False, needs_model=False, lock_model=True,
                  on_event=self._load_event, on_done=self._engine_loaded, on_end=self._load_ended)
        self._engine_ready.clear()
        self.status.set_model(name)
        self.status.set_loading(text="loading the model…")
        return self.start_job(job, self._load_work)

    def reload_engine(self) -> None:
        self.load_engine()

    def _load_work(self, job: Job) -> "Engine":
        old, self.engine = self.engine, None
        del old
        gc.collect()
        try:
            _spare_a_core()
            engine = self._make_engine(job.emit)
            try:
                tokenizer = copy.deepcopy(engine.tokenizer)
            except Exception:
                tokenizer = engine.tokenizer
            self._restore_active_adapter(engine, job)
        except BaseException as exc:
            self._engine_error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            self._engine_ready.set()
            raise
        self.engine, self._doc_tokenizer, self._engine_error = engine, tokenizer, None
        self._engine_ready.set()
        return engine

    def _make_engine(self, emit: EventSink) -> "Engine":
        if self._engine_factory is not None:
            engine = self._engine_factory(emit)
            if engine.workspace is None:
                engine.workspace = self.workspace
            return engine
        from seal_desk.knowledge.engine import Engine

        loaded = (self._loader or self._default_loader)(emit)
        engine = Engine(loaded, self.workspace)
        saved = self.workspace.get_setting(self.workspace.config_key(loaded.name))
        if self._config is not None:
            engine.config = self._config
        elif saved:
            engine.config = SealConfig.from_dict(saved)
        return engine

    def _default_loader(self, on_event: EventSink) -> "LoadedModel":
        from seal_desk.model.loader import load

        return load(self.model_name, self.device_name or "auto", self.quant, on_event, self.trust_remote_code,
                    self.learner)

    def _restore_active_adapter(self, engine: "Engine", job: Job) -> None:
        for record in self.workspace.adapters():
            if not record.active:
                continue
            if record.model != engine.loaded.name:
                continue
            try:
                engine.load_adapter(record.id)
            except SealDeskError as exc:
                self.workspace.set_adapter_active(record.id, False)
                job.emit(Message(f"adapter #{record.id} could not be loaded ({exc}); deactivated", "warning"))

    def _load_event(self, event: Any) -> None:
        if isinstance(event, Progress):
            self.status.set_loading(event)
        elif isinstance(event, Message) and event.level in ("warning", "error"):
            self.notify(event.text, severity=event.level)

    def _engine_loaded(self, engine: "Engine") -> None:
        self.status.set_model(engine.loaded.name, engine.loaded.placement.label)
        self.status.set_ready()
        from seal_desk.tui.components.self_edits import SelfEditPane

        cfg = engine.config.self_edit
        self.main.query_one(SelfEditPane).set_defaults(cfg.format, cfg.k)
        self.active_adapter_changed()
        self.workspace_changed.publish("engine")

    def _load_ended(self, state: str) -> None:
        if state != "done":
            self.status.set_failed(self._engine_error or "")

    def current_config(self) -> SealConfig:
        if self.engine is not None:
            return self.engine.config
        if self._config is not None:
            return self._config
        saved = self.workspace.get_setting(self.workspace.config_key(self.model_choice))
        return SealConfig.from_dict(saved) if saved else SealConfig()

    @property
    def model_choice(self) -> str:
        from seal_desk.model.presets import DEFAULT_PRESET

        return self.model_name or (self.engine.loaded.name if self.engine else None) or DEFAULT_PRESET

    def save_settings(self, cfg: SealConfig, model: Optional[str], device: str) -> None:
        ws = self.workspace
        model = model or self.model_choice
        try:
            from seal_desk.model.source import resolve

            resolve(model)
        except SealDeskError as exc:
            self.notify(str(exc), severity="error")
            return
        ws.set_setting(ws.config_key(model), cfg.to_dict())
        self._config = None
        if self.engine is not None:
            self.engine.config = cfg
        from seal_desk.tui.components.self_edits import SelfEditPane

        self.main.query_one(SelfEditPane).set_defaults(cfg.self_edit.format, cfg.self_edit.k)
        reload = model != self.model_choice or device != (self.device_name or "auto")
        ws.set_setting("model", model)
        ws.set_setting("device", device)
        if reload:
            self.model_name, self.device_name = model, device
            self.notify(f"Settings saved; loading {model} on {device}…")
            self.load_engine()
        else:
            self.notify("Settings saved; they apply from the next run.")
        self.workspace_changed.publish("config")

    # documents ---------------------------------------------------------------------------------
    def add_documents(self, paths: Sequence[str]) -> bool:
        """Load files/folders in the background and store them; False when refused at once."""
        for raw in paths:
            if not Path(raw).expanduser().exists():
                self.notify(f"{raw}: no such file or folder", severity="error")
                return False

        def work(job: Job):
            from seal_desk.knowledge.documents import load_documents

            while not self._engine_ready.wait(0.1):
                job.cancel.check()
            engine, tokenizer = self.engine, self._doc_tokenizer
            count = (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])) if tokenizer else None
            budget = 400
            if engine is not None:
                budget = engine.passage_budget
            docs = load_documents(list(paths), count_tokens=count, max_tokens=budget)
            added, known = [], []
            for doc in docs:
                job.cancel.check()
                if self.workspace.find_document(doc.path, doc.sha256) is not None:
                    known.append(doc)
                else:
                    added.append(self.workspace.add_document(doc))
            return added, known

        def done(result) -> None:
            added, known = result
            if known:
                self.notify(f"Already in the library: {', '.join(one_line(d.title, 30) for d in known)}",
                            severity="warning")
            if not added:
                return
            self.document_id = added[-1].id
            self.workspace_changed.publish("documents")
            from seal_desk.tui.components.library import LibraryPane

            library = self.main.query_one(LibraryPane)
            library.call_next(library.focus_document, added[-1].id, True, True)
            if len(added) == 1:
                d = added[0]
                self.notify(f"Added '{one_line(d.title, 40)}': {len(d.passages)} passage(s), "
                            f"{d.n_questions} question(s).")
            else:
                self.notify(f"Added {len(added)} documents.")

        title = "Adding " + (one_line(Path(paths[0]).name, 30) if len(paths) == 1 else f"{len(paths)} paths")
        job = Job("documents", title, needs_model=False, lock_model=False, on_done=done)
        return self.start_job(job, work) is not None

    def write_questions(self, doc_id: int, passage_idx: int, n: int = 5) -> None:
        passage = self.workspace.document(doc_id).passages[passage_idx]

        def work(job: Job) -> int:
            questions = self.require_engine().generate_questions(passage, n, on_event=job.emit, cancel=job.cancel)
            for q in questions:
                self.workspace.add_question(passage.id, q)
            return len(questions)

        def done(count: int) -> None:
            self.workspace_changed.publish("questions")
            if count:
                self.notify(f"The model wrote {count} question(s) for '{one_line(passage.title, 30)}'; "
                            "check their answers (e to edit).")

        self.start_job(Job("questions", "Writing questions", on_done=done), work)

    # learning ----------------------------------------------------------------------------------
    def start_learn(self, doc_id: int, fmt: str, k: int, self_edits: dict[int, list[str]]) -> Optional[Job]:
        doc = self.workspace.document(doc_id)
        picks = f" · your picks for {len(self_edits)}" if self_edits else ""
        detail = (f"{fmt} · k {k} · {len(doc.passages)} passage(s) · {doc.n_questions} question(s){picks}")
        pane = self.training

        def work(job: Job) -> "LearnResult":
            engine = self.require_engine()
            return engine.learn(doc, fmt, k, self_edits or None, on_event=job.emit, cancel=job.cancel)

        job = Job("learn", f"Learning '{one_line(doc.title, 28)}'", on_start=pane.started,
                  on_event=pane.handle_event, on_done=self._learned, on_end=self._learn_ended)
        if self.start_job(job, work) is None:
            return None
        pane.begin(doc.title, detail, doc.n_questions)
        if doc.n_questions == 0:
            self.notify("This document has no questions, so recall cannot be measured: add some in the Library (n).",
                        severity="warning")
        self.show_tab("train")
        return job

    # outer loop --------------------------------------------------------------------------------
    def start_rl(self, data: str, out: str, rounds: int, passages: int, k: int, evals: int) -> Optional[Job]:
        """Run (or resume) ReST-EM on a training file, from the RL tab."""
        from seal_desk.tui.components.rl import RlPane

        pane = self.main.query_one(RlPane)

        def work(job: Job):
            from dataclasses import asdict, replace

            from seal_desk.config import OuterLoopConfig
            from seal_desk.knowledge.documents import load_data_file
            from seal_desk.restem.loop import RestEM, without
            from seal_desk.restem.records import RlRecords

            engine = self.require_engine()
            cfg = OuterLoopConfig(rounds=rounds, passages=passages, k=k, eval_times=evals)
            engine.config = replace(engine.config, self_edit=replace(engine.config.self_edit, k=k))
            usable = without(load_data_file(Path(data).expanduser()), [])
            if not usable:
                raise InputError(f"{data}: no passages with questions")
            folder = str(Path(out).expanduser().resolve())
            records = RlRecords(self.workspace, folder, engine.loaded.name, str(Path(data).expanduser().resolve()),
                                {"outer": asdict(cfg), "inner": engine.config.to_dict(),
                                 "learner": str(Path(engine.loaded.learner).resolve()) if engine.loaded.learner else None})
            return RestEM(engine, records, cfg, folder, self._model_copy).run(usable, job.emit, job.cancel)

        job = Job("rl", "Outer loop (ReST-EM)", on_event=pane.handle_event, on_end=pane.finish)
        if self.start_job(job, work) is None:
            return None
        pane.begin()
        return job

    # few-shot (ARC) ---------------------------------------------------------------------------
    def start_arc(self, task: "ArcTask", mode: str, config: Optional["ArcConfig"] = None) -> Optional[Job]:
        """Solve one ARC task from the ARC tab: mode "icl" (in-context only), "self-edit" (the model
        writes the config first) or "config" (the given config)."""
        from seal_desk.tui.components.arc import ArcPane

        pane = self.main.query_one(ArcPane)

        def work(job: Job):
            from seal_desk.arc.ttt import sample_configs, solve
            from seal_desk.config import ArcSettings

            engine = self.require_engine()
            settings = ArcSettings()
            chosen = config
            condition = {"icl": "icl", "config": "config"}.get(mode, "ttt")
            if mode == "self-edit":
                parsed = sample_configs(engine, task, settings, 1, settings.seed, job.emit, job.cancel)[0]
                job.emit(Message(f"self-edit: {one_line(parsed.text, 200)!r} → "
                                 + (parsed.config.label() if parsed.valid else f"invalid: {parsed.error}"),
                                 "info" if parsed.valid else "warning"))
                chosen = parsed
            return solve(engine, task, settings, chosen, condition, job.emit, job.cancel)

        job = Job("arc", f"Solving ARC {one_line(task.id, 20)}", on_event=pane.handle_event, on_done=pane.done,
                  on_end=pane.finish)
        if self.start_job(job, work) is None:
            return None
        pane.begin(task.id, mode)
        return job

    def _model_copy(self, path: Optional[str]) -> "LoadedModel":
        """A fresh copy of the base model (path None) or a saved generator checkpoint, for the outer loop."""
        from seal_desk.events import ignore
        from seal_desk.model.loader import load

        if path is None:
            return (self._loader or self._default_loader)(ignore)
        return load(path, self.engine.loaded.device if self.engine else "cpu", self.quant, learner="none")

    def _learned(self, result: "LearnResult") -> None:
        b, a = result.before, result.after
        saved = f" · adapter #{result.adapter_id} saved" if result.adapter_id else ""
        if b.answers:
            line = (f"recall {b.correct}/{len(b.answers)} ({b.accuracy:.0%}) → {a.correct}/{len(a.answers)} "
                    f"({a.accuracy:.0%}), Δ {a.accuracy - b.accuracy:+.0%}{saved}")
        else:
            line = f"trained on {len(result.sequences)} sequence(s){saved}"
        self.training.finish("done", line)
        self.workspace_changed.publish("adapters")
        from seal_desk.tui.components.recall import RecallPane

        self.document_id = result.document.id
        self.main.query_one(RecallPane).refresh_runs(select=result.run_id)
        self.workspace_changed.publish("runs")
        self.notify(f"Learned '{one_line(result.document.title, 30)}': {line}.")
        if b.answers:
            self.show_tab("recall")

    def _learn_ended(self, state: str) -> None:
        if state != "done":
            self.training.finish(state)
            self.workspace_changed.publish("runs")

    # adapters ----------------------------------------------------------------------------------
    def active_adapter_changed(self) -> None:
        active = next((a for a in self.workspace.adapters() if a.active), None)
        self.status.set_adapter(f"adapter #{active.id}" if active else None)
        self.workspace_changed.publish("adapters")

    def activate_adapter(self, adapter_id: int) -> None:
        ws = self.workspace

        def work(job: Job) -> str:
            engine = self.require_engine()
            record = ws.adapter(adapter_id)
            if record.model != engine.loaded.name:
                raise InputError(f"adapter #{adapter_id} was trained on {record.model}; "
                                 f"the loaded model is {engine.loaded.name}")
            return engine.load_adapter(adapter_id)

        def done(_name: str) -> None:
            for record in ws.adapters():
                if record.active and record.id != adapter_id:
                    ws.set_adapter_active(record.id, False)
            ws.set_adapter_active(adapter_id, True)
            self.active_adapter_changed()
            self.notify(f"Adapter #{adapter_id} is active: the ask box uses it.")

        self.start_job(Job("adapter", f"Loading adapter #{adapter_id}", on_done=done), work)

    def delete_adapter(self, adapter_id: int) -> None:
        def work(job: Job) -> None:
            if self.engine is not None:
                self.engine.unload_adapter(adapter_id)
            self.workspace.delete_adapter(adapter_id)

        def done(_none) -> None:
            self.active_adapter_changed()
            self.notify(f"Deleted adapter #{adapter_id}.")

        self.start_job(Job("adapter", f"Deleting adapter #{adapter_id}", cancellable=False, needs_model=False,
                           on_done=done), work)

    def export_adapter(self, adapter_id: int, target: Path, merged: bool) -> None:
        def work(job: Job) -> Path:
            from seal_desk.model.export import export_adapter

            record = self.workspace.adapter(adapter_id)
            return export_adapter(record, target, self.require_engine() if merged else None)

        kind = "merged model" if merged else "adapter folder"
        self.start_job(Job("export", f"Exporting adapter #{adapter_id}", cancellable=False, needs_model=merged,
                           lock_model=merged,
                           on_done=lambda path: self.notify(f"Exported the {kind} to {display_path(path)}.")), work)

    # actions (keys and command palette) --------------------------------------------------------
    def action_help(self) -> None:
        from seal_desk.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_generate(self) -> None:
        from seal_desk.tui.components.self_edits import SelfEditPane

        self.show_tab("self-edits")
        self.main.query_one(SelfEditPane).action_generate()

    def action_train(self) -> None:
        from seal_desk.tui.components.self_edits import SelfEditPane

        self.main.query_one(SelfEditPane).action_apply()

    def action_add_path(self) -> None:
        from seal_desk.tui.components.library import LibraryPane

        self.show_tab("library")
        self.main.query_one(LibraryPane).action_add()

    def action_browse(self) -> None:
        from seal_desk.tui.components.library import LibraryPane

        self.show_tab("library")
        self.main.query_one(LibraryPane).action_browse()


def _spare_a_core() -> None:
    """Leave one core to the UI thread: torch's intra-op threads on every core make the interface
    stutter and, when the cores are busy, slow each step down many times."""
    import os

    import torch

    cores = os.cpu_count() or 1
    if cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


class _Held:
    """Release an already-acquired lock on exit."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        self.lock.release()
        return False
