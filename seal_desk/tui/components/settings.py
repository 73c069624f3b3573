"""Settings: model preset, device, self-edit and inner-loop hyperparameters (paper defaults shown).

Saved in the workspace ("model", "device", "config" = SealConfig.to_dict()), so they persist across
runs; the CLI reads the same keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Optional

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select

from seal_desk.config import PRECISIONS, SealConfig
from seal_desk.errors import InputError, SealDeskError
from seal_desk.knowledge.self_edit import FORMATS
from seal_desk.model.device import DEVICES
from seal_desk.tui.host import host
from seal_desk.tui.messages import ReloadModelRequested, SaveSettingsRequested

PAPER = SealConfig()


def _int(name: str, low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise InputError(f"{name}: '{raw}' is not a whole number") from None
        if not low <= value <= high:
            raise InputError(f"{name} must be between {low} and {high}")
        return value

    return parse


def _float(name: str, low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"{name}: '{raw}' is not a number") from None
        if not low <= value <= high:
            raise InputError(f"{name} must be between {low:g} and {high:g}")
        return value

    return parse


# (id, label, paper default, parser, getter) for the numeric fields
FIELDS: list[tuple[str, str, Any, Callable[[str], Any], Callable[[SealConfig], Any]]] = [
    ("k", "samples k", PAPER.self_edit.k, _int("k", 1, 16), lambda c: c.self_edit.k),
    (
        "temperature",
        "temperature",
        PAPER.self_edit.temperature,
        _float("temperature", 0.0, 2.0),
        lambda c: c.self_edit.temperature,
    ),
    (
        "max_new_tokens",
        "max tokens",
        PAPER.self_edit.max_new_tokens,
        _int("max tokens", 8, 4096),
        lambda c: c.self_edit.max_new_tokens,
    ),
    ("epochs", "epochs", PAPER.inner.epochs, _int("epochs", 1, 10000), lambda c: c.inner.epochs),
    (  # convergence stop (0: every epoch); learning here defaults to config.INTERACTIVE's
        "stop_loss",
        "stop at loss",
        PAPER.inner.stop_loss,
        _float("stop at loss", 0.0, 10.0),
        lambda c: c.inner.stop_loss,
    ),
    ("lr", "learning rate", PAPER.inner.lr, _float("learning rate", 1e-7, 1.0), lambda c: c.inner.lr),
    ("rank", "LoRA rank r", PAPER.inner.lora.r, _int("LoRA rank", 1, 512), lambda c: c.inner.lora.r),
    ("alpha", "LoRA alpha", PAPER.inner.lora.alpha, _int("LoRA alpha", 1, 1024), lambda c: c.inner.lora.alpha),
    ("batch_size", "batch size", PAPER.inner.batch_size, _int("batch size", 1, 256), lambda c: c.inner.batch_size),
]
SELF_EDIT_FIELDS = ("k", "temperature", "max_new_tokens")


class SettingsPane(Vertical):
    BINDINGS = [Binding("ctrl+s", "save", "Save settings")]

    def compose(self) -> ComposeResult:
        from seal_desk.model.presets import all_presets

        try:
            presets = all_presets()
        except SealDeskError:
            presets = {}
        self._presets = presets
        with VerticalScroll(id="settings-form"):
            with Horizontal(classes="settings-cols"):
                with Vertical(classes="settings-col"):
                    yield Label("Model", classes="section")
                    yield from self._row(
                        "model",
                        "preset",
                        Select(
                            [(name, name) for name in presets] + [("tiny-random", "tiny-random")],
                            allow_blank=True,
                            prompt="(default)",
                            compact=True,
                            id="set-model",
                        ),
                        "",
                    )
                    yield from self._row(
                        "device",
                        "device",
                        Select(
                            [(d, d) for d in DEVICES], value="auto", allow_blank=False, compact=True, id="set-device"
                        ),
                        "",
                    )
                    yield Label("", id="set-model-info", classes="dim")
                    yield Label("Self-edits", classes="section")
                    yield from self._row(
                        "format",
                        "format",
                        Select(
                            [(f, f) for f in FORMATS],
                            value=PAPER.self_edit.format,
                            allow_blank=False,
                            compact=True,
                            id="set-format",
                        ),
                        "",
                    )
                    for fid, label, paper, _p, _g in FIELDS:
                        if fid in SELF_EDIT_FIELDS:
                            yield from self._row(fid, label, Input(str(paper), compact=True, id=f"set-{fid}"), paper)
                with Vertical(classes="settings-col"):
                    yield Label("Inner loop (LoRA fine-tune)", classes="section")
                    for fid, label, paper, _p, _g in FIELDS:
                        if fid not in SELF_EDIT_FIELDS:
                            yield from self._row(fid, label, Input(str(paper), compact=True, id=f"set-{fid}"), paper)
                    yield from self._row(
                        "schedule",
                        "lr schedule",
                        Select(
                            [("linear", "linear"), ("constant", "constant")],
                            value=PAPER.inner.schedule,
                            allow_blank=False,
                            compact=True,
                            id="set-schedule",
                        ),
                        PAPER.inner.schedule,
                    )
                    yield from self._row(
                        "precision",
                        "training in",
                        Select(
                            [(p, p) for p in PRECISIONS],
                            value=PAPER.inner.precision,
                            allow_blank=False,
                            compact=True,
                            id="set-precision",
                        ),
                        "",
                        wide=False,
                    )
                    yield Label("Paper: SEAL (Zweiger et al., 2025), knowledge incorporation.", classes="dim")
        with Horizontal(id="settings-buttons"):
            yield Button("Save", variant="primary", id="set-save", compact=True)
            yield Button("Paper defaults", id="set-defaults", compact=True)
            yield Button("Reload model", id="set-reload", compact=True)
            yield Label("ctrl+s saves; a new model or device reloads the model", classes="dim")

    @staticmethod
    def _row(fid: str, label: str, widget, paper, wide: Optional[bool] = None) -> ComposeResult:
        """label, widget, "paper X"; rows without a paper value widen the widget unless `wide` is False."""
        with Horizontal(classes="set-row wide" if (paper == "" if wide is None else wide) else "set-row"):
            yield Label(label, classes="set-label")
            yield widget
            if paper != "":
                yield Label(f"paper {paper:g}" if isinstance(paper, float) else f"paper {paper}", classes="set-paper")

    def on_mount(self) -> None:
        host(self).workspace_changed.subscribe(self, self._workspace_changed)
        self.fill(host(self).current_config())

    def _workspace_changed(self, topic: str) -> None:
        if topic == "engine":
            self.fill(host(self).current_config())

    # fill / read -------------------------------------------------------------------------------
    def fill(self, cfg: SealConfig) -> None:
        model = host(self).model_choice
        select = self.query_one("#set-model", Select)
        names = [name for name in self._presets] + ["tiny-random"]
        if model not in names:
            select.set_options([(n, n) for n in names] + [(model, model)])
        select.value = model
        self.query_one("#set-device", Select).value = host(self).device_name or "auto"
        self.query_one("#set-format", Select).value = cfg.self_edit.format
        self.query_one("#set-schedule", Select).value = cfg.inner.schedule
        self.query_one("#set-precision", Select).value = cfg.inner.precision
        for fid, _label, _paper, _parse, get in FIELDS:
            value = get(cfg)
            self.query_one(f"#set-{fid}", Input).value = f"{value:g}" if isinstance(value, float) else str(value)
        self._model_info(model)

    def _model_info(self, model: str) -> None:
        preset = self._presets.get(model)
        info = (
            preset.description
            if preset
            else (
                "random 2-layer test model (no real weights)"
                if model == "tiny-random"
                else "a local folder, .gguf file or hub id"
            )
        )
        self.query_one("#set-model-info", Label).update(info)

    @on(Select.Changed, "#set-model")
    def _model_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self._model_info(event.value)

    def read(self) -> SealConfig:
        base = host(self).current_config()
        values = {fid: parse(self.query_one(f"#set-{fid}", Input).value.strip()) for fid, _l, _p, parse, _g in FIELDS}
        fmt = self.query_one("#set-format", Select).value
        schedule = self.query_one("#set-schedule", Select).value
        precision = self.query_one("#set-precision", Select).value
        lora = replace(base.inner.lora, r=values["rank"], alpha=values["alpha"])
        inner = replace(
            base.inner,
            lora=lora,
            epochs=values["epochs"],
            stop_loss=values["stop_loss"],
            lr=values["lr"],
            batch_size=values["batch_size"],
            schedule=str(schedule),
            precision=str(precision),
        )
        edit = replace(
            base.self_edit,
            format=str(fmt),
            k=values["k"],
            temperature=values["temperature"],
            max_new_tokens=values["max_new_tokens"],
        )
        return replace(base, inner=inner, self_edit=edit)

    # actions -----------------------------------------------------------------------------------
    @on(Button.Pressed, "#set-save")
    def action_save(self) -> None:
        try:
            cfg = self.read()
        except SealDeskError as exc:
            self.app.notify(str(exc), severity="error")
            return
        model = self.query_one("#set-model", Select).value
        device = self.query_one("#set-device", Select).value
        model = model if isinstance(model, str) else None
        device = device if isinstance(device, str) else "auto"
        self.post_message(SaveSettingsRequested(cfg, model, device))

    @on(Button.Pressed, "#set-defaults")
    def _defaults(self) -> None:
        self.fill(replace(SealConfig(), recall=host(self).current_config().recall))
        self.app.notify("Paper defaults filled in; press Save to keep them.")

    @on(Button.Pressed, "#set-reload")
    def _reload(self) -> None:
        self.post_message(ReloadModelRequested())
