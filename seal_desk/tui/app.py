"""SealDeskApp: the Textual app that drives the UI-free core (seal_desk.engine and friends).

The app owns the global state: the workspace, the engine (loaded in the background), the self-edit
drafts and the job runner (one model job at a time). The main screen holds one pane per concept
(components/); dialogs are screens. Panes see the app only as a `PaneHost` (host.py) and ask it for
work by posting messages (messages.py), which it hands to workflows.py. Every model action runs in a
thread worker (jobs.py); the engine's typed events come back as messages, rendered on the UI thread.
"""

from __future__ import annotations

import copy
import gc
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from textual.app import App
from textual.reactive import reactive
from textual.signal import Signal

from seal_desk.config import SealConfig
from seal_desk.errors import Cancelled, ModelError, SealDeskError
from seal_desk.events import EventSink, Message, Progress
from seal_desk.tui import messages as msg
from seal_desk.tui import workflows
from seal_desk.tui.components.guide_bar import GuideBar
from seal_desk.tui.components.self_edits import SelfEditPane
from seal_desk.tui.components.status_bar import StatusBar
from seal_desk.tui.components.training import TrainingPane
from seal_desk.tui.drafts import Drafts
from seal_desk.tui.formatting import display_path
from seal_desk.tui.guide import Guide
from seal_desk.tui.jobs import Job, JobEvent, JobFinished, JobStarted
from seal_desk.tui.palette import SealDeskCommands
from seal_desk.tui.screens.main import MainScreen
from seal_desk.workspace.database import Workspace

if TYPE_CHECKING:
    from seal_desk.engine import Engine
    from seal_desk.model.loader import LoadedModel
    from seal_desk.restem.start import ModelCopier

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
        self.engine: Optional[Engine] = None
        self._doc_tokenizer: Any = None
        self._engine_error: Optional[str] = None
        self._engine_ready = threading.Event()
        self._model_lock = threading.Lock()
        self.jobs: list[Job] = []
        self.drafts = Drafts()
        self.notices: list[tuple[str, str]] = []  # (severity, message): every notification, for tests and logs
        self.guide: Optional[Guide] = None  # the guided first run on the bundled sample, while it runs
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
    def status(self) -> StatusBar:
        return self.main.query_one(StatusBar)

    @property
    def training(self) -> TrainingPane:
        return self.main.query_one(TrainingPane)

    def show_tab(self, tab: str) -> None:
        self.main.show_tab(tab)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: str = "information",
        timeout: float | None = None,
        markup: bool = False,
        **kwargs: Any,
    ) -> None:
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

    # pane requests (messages.py) ---------------------------------------------------------------
    def on_document_selected(self, message: msg.DocumentSelected) -> None:
        self.document_id = message.doc_id

    def on_add_documents_requested(self, message: msg.AddDocumentsRequested) -> None:
        workflows.add_documents(self, message.paths)

    def on_remove_document_requested(self, message: msg.RemoveDocumentRequested) -> None:
        workflows.remove_document(self, message.doc_id)

    def on_sample_requested(self, _message: msg.SampleRequested) -> None:
        workflows.add_sample(self)

    def on_import_questions_requested(self, message: msg.ImportQuestionsRequested) -> None:
        workflows.import_questions(self, message.doc_id, message.path)

    def on_self_edits_written(self, message: msg.SelfEditsWritten) -> None:
        if message.count:
            self.advance_guide(message.doc_id, "written")

    def on_questions_requested(self, message: msg.QuestionsRequested) -> None:
        workflows.write_questions(self, message.doc_id, message.passage_idx, message.n)

    def on_learn_requested(self, message: msg.LearnRequested) -> None:
        workflows.learn(self, message.doc_id, message.fmt, message.k, message.self_edits)

    def on_outer_loop_requested(self, message: msg.OuterLoopRequested) -> None:
        workflows.run_outer_loop(
            self, message.data, message.out, message.rounds, message.passages, message.k, message.evals, message.ray
        )

    def on_arc_requested(self, message: msg.ArcRequested) -> None:
        workflows.solve_arc(self, message.task, message.mode, message.config)

    def on_activate_adapter_requested(self, message: msg.ActivateAdapterRequested) -> None:
        workflows.activate_adapter(self, message.adapter_id)

    def on_deactivate_adapter_requested(self, message: msg.DeactivateAdapterRequested) -> None:
        workflows.deactivate_adapter(self, message.adapter_id)

    def on_delete_adapter_requested(self, message: msg.DeleteAdapterRequested) -> None:
        workflows.delete_adapter(self, message.adapter_id)

    def on_export_adapter_requested(self, message: msg.ExportAdapterRequested) -> None:
        workflows.export_adapter(self, message.adapter_id, message.target, message.merged)

    def on_save_settings_requested(self, message: msg.SaveSettingsRequested) -> None:
        self.save_settings(message.config, message.model, message.device)

    def on_reload_model_requested(self, _message: msg.ReloadModelRequested) -> None:
        self.load_engine()

    def on_cancel_requested(self, _message: msg.CancelRequested) -> None:
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

    # the guided first run (guide.py) -----------------------------------------------------------
    def start_guide(self, doc_id: int, n_questions: int) -> None:
        self.guide = Guide(doc_id, n_questions)
        self._show_guide()

    def advance_guide(self, doc_id: int, step: str, detail: str = "") -> None:
        if self.guide is not None and self.guide.doc_id == doc_id:
            self.guide.advance(step, detail)
            self._show_guide()

    def end_guide(self, doc_id: Optional[int] = None) -> None:
        if self.guide is not None and doc_id in (None, self.guide.doc_id):
            self.guide = None
            self._show_guide()

    def _show_guide(self) -> None:
        self.main.query_one(GuideBar).show(self.guide.text() if self.guide else None)

    # jobs --------------------------------------------------------------------------------------
    def start_job(self, job: Job, work: Callable[[Job], Any]) -> Optional[Job]:
        """Run `work(job)` in a thread worker; None (and a warning) if a job of that kind is pending."""
        pending = next((j for j in self.jobs if j.kind == job.kind and not j.finished), None)
        if pending is not None:
            self.notify(f"{pending.title} is still running.", severity="warning")
            return None
        job.post = self.post_message
        self.jobs.append(job)
        self.run_worker(
            partial(self._run_job, job, work), name=job.title, group="jobs", thread=True, exit_on_error=False
        )
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
            with self._model_held(job) if job.lock_model else nullcontext():
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

    @contextmanager
    def _model_held(self, job: Job) -> Iterator[None]:
        """Hold the model lock (waiting for it can be cancelled)."""
        while not self._model_lock.acquire(timeout=0.1):
            job.cancel.check()
        try:
            yield
        finally:
            self._model_lock.release()

    def _await_engine(self, job: Job) -> None:
        while not self._engine_ready.wait(0.1):
            job.cancel.check()
        self.require_engine()

    def require_engine(self) -> Engine:
        engine = self.engine
        if engine is None:
            reason = f": {self._engine_error}" if self._engine_error else ""
            raise ModelError(f"the model is not loaded{reason}")
        return engine

    def wait_for_load(self, job: Job) -> tuple[Optional[Engine], Any]:
        """Block until a model load ended: the engine (None if it failed) and a tokenizer to count with."""
        while not self._engine_ready.wait(0.1):
            job.cancel.check()
        return self.engine, self._doc_tokenizer

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
        main = getattr(self, "main", None)
        if main is not None and main.is_attached:
            self.status.set_job(text)
            self.main.refresh_bindings()

    # the engine --------------------------------------------------------------------------------
    def load_engine(self) -> Optional[Job]:
        """(Re)load the model in the background; jobs that need it wait until it is ready."""
        if self.job_running("load"):
            self.notify("The model is already loading.", severity="warning")
            return None
        name = self.model_name or ("custom model" if self._loader or self._engine_factory else "smollm2-135m")
        job = Job(
            "load",
            f"Loading {name}",
            cancellable=False,
            needs_model=False,
            lock_model=True,
            on_event=self._load_event,
            on_done=self._engine_loaded,
            on_end=self._load_ended,
        )
        self._engine_ready.clear()
        self.status.set_model(name)
        self.status.set_loading(text="loading the model…")
        return self.start_job(job, self._load_work)

    def _load_work(self, job: Job) -> Engine:
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

    def _make_engine(self, emit: EventSink) -> Engine:
        if self._engine_factory is not None:
            engine = self._engine_factory(emit)
            if engine.workspace is None:
                engine.workspace = self.workspace
            return engine
        from seal_desk.engine import Engine

        loaded = (self._loader or self._default_loader)(emit)
        if self._config is not None:  # given to the app (tests, embedding): no other layer applies
            return Engine(loaded, self.workspace, self._config)
        return Engine.open(loaded, self.workspace, interactive=True)  # defaults → preset → interactive → saved

    def _default_loader(self, on_event: EventSink) -> LoadedModel:
        from seal_desk.model.loader import load

        return load(
            self.model_name, self.device_name or "auto", self.quant, on_event, self.trust_remote_code, self.learner
        )

    def model_copy(self, path: Optional[str]) -> LoadedModel:
        """A fresh copy of the base model (path None) or a saved generator checkpoint, for the outer loop."""
        return self.model_copier()(path)

    def model_copier(self, device: Optional[str] = None) -> ModelCopier:
        """The outer loop's `load_copy` as a value (restem.start.ModelCopier): what cluster workers load
        too. `device`: where copies go (default: where the engine is)."""
        from seal_desk.events import ignore
        from seal_desk.restem.start import model_copier

        device = device or (self.engine.loaded.device if self.engine else "cpu")
        return model_copier(
            self.model_choice,
            device,
            self.quant,
            self.trust_remote_code,
            self.learner,
            base=lambda: (self._loader or self._default_loader)(ignore),
        )

    def _restore_active_adapter(self, engine: Engine, job: Job) -> None:
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

    def _engine_loaded(self, engine: Engine) -> None:
        self.status.set_model(engine.loaded.name, engine.loaded.placement.label)
        self.status.set_ready()
        cfg = engine.config.self_edit
        self.main.query_one(SelfEditPane).set_defaults(cfg.format, cfg.k)
        self.active_adapter_changed()
        self.workspace_changed.publish("engine")

    def _load_ended(self, state: str) -> None:
        if state != "done":
            self.status.set_failed(self._engine_error or "")

    def active_adapter_changed(self) -> None:
        active = next((a for a in self.workspace.adapters() if a.active), None)
        self.status.set_adapter(f"adapter #{active.id}" if active else None)
        self.workspace_changed.publish("adapters")

    # settings ----------------------------------------------------------------------------------
    def current_config(self) -> SealConfig:
        if self.engine is not None:
            return self.engine.config
        if self._config is not None:
            return self._config
        return self._layered(self.model_choice, saved=True, interactive=True)

    def measuring_config(self) -> SealConfig:
        """The settings without the interactive defaults (config.INTERACTIVE), as `seal-desk rl` and the
        benchmarks get them: for the outer loop, which measures rewards with the paper's inner loop."""
        if self._config is not None:
            return self._config
        model = self.engine.loaded.name if self.engine is not None else self.model_choice
        return self._layered(model, saved=True, interactive=False)

    def _layered(self, model: str, saved: bool, interactive: bool) -> SealConfig:
        """The same layers as Engine.open for `model` (the saved settings if `saved`), with its learner as the
        loaded engine holds it or, not loaded yet, as the load will merge it."""
        from seal_desk.config import layered
        from seal_desk.model.loader import holds_preset_learner, preset_learner_expected
        from seal_desk.model.presets import get_preset

        if self.engine is not None and self.engine.loaded.name == model:
            merged = holds_preset_learner(self.engine.loaded)
        else:
            merged = preset_learner_expected(model, self.device_name, self.quant, self.learner)
        settings = self.workspace.get_setting(self.workspace.config_key(model)) if saved else None
        return layered(get_preset(model), settings, learner_merged=merged, interactive=interactive)

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
        from seal_desk.config import to_saved

        # only what differs from the form's defaults: a default left alone is not frozen in, and `rl` and the
        # benchmarks, which read these settings too, do not inherit the app's interactive ones
        ws.set_setting(ws.config_key(model), to_saved(cfg, self._layered(model, saved=False, interactive=True)))
        self._config = None
        if self.engine is not None:
            self.engine.config = cfg
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


def _spare_a_core() -> None:
    """Leave one core to the UI thread: torch's intra-op threads on every core make the interface
    stutter and, when the cores are busy, slow each step down many times."""
    import os

    import torch

    cores = os.cpu_count() or 1
    if cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)
