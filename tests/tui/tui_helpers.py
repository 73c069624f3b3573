"""Helpers for the TUI tests: a fast tiny-model app, a Pilot session of it, waiting on background work,
a text screen dump."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Optional

from seal_desk.config import InnerLoopConfig, LoraSettings, RecallConfig, SealConfig, SelfEditConfig

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[2]
FACTS = DATA / "facts.json"
ARC = DATA / "arc_challenges.json"  # arc_solutions.json beside it holds the test outputs
SIZE = (100, 34)


def fast_config(epochs: int = 2) -> SealConfig:
    return SealConfig(
        inner=InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=epochs, lr=1e-2),
        self_edit=SelfEditConfig(max_new_tokens=16),
        recall=RecallConfig(max_new_tokens=8),
    )


def tiny_loader(_on_event):
    from seal_desk.model.loader import load_tiny

    return load_tiny()


def make_app(workspace, config: SealConfig | None = None, **kwargs):
    from seal_desk.tui.app import SealDeskApp

    return SealDeskApp(workspace=workspace, loader=tiny_loader, config=config or fast_config(), **kwargs)


def drive(
    app,
    scenario: Callable[..., Awaitable[None]],
    size: tuple[int, int] = SIZE,
    message_hook: Optional[Callable] = None,
    ready: bool = True,
) -> None:
    """Run `await scenario(pilot)` in a Pilot session of `app`, once the model is loaded and no job is
    pending (`ready=False`: at once)."""

    async def session() -> None:
        async with app.run_test(size=size, message_hook=message_hook) as pilot:
            if ready:
                await idle(pilot)
            await scenario(pilot)

    asyncio.run(session())


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Let the app run until `predicate()` holds (background workers post their results meanwhile)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def idle(pilot, timeout: float = 60.0) -> None:
    """The model is loaded and no job is pending."""
    app = pilot.app
    await wait_for(pilot, lambda: app.engine is not None and not app.jobs, timeout, "the app to be idle")
    await pilot.pause()


def job_events(kind: type) -> tuple[list, Callable]:
    """A list and a `run_test(message_hook=...)` that appends every `kind` event a job posts to it."""
    from seal_desk.tui.jobs import JobEvent

    seen: list = []

    def hook(message) -> None:
        if isinstance(message, JobEvent) and isinstance(message.event, kind):
            seen.append(message.event)

    return seen, hook


def screen_text(app) -> str:
    """The current screen as plain text (for assertions and failure messages)."""
    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=None,
        record=True,
        legacy_windows=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens, simplify=True))
    return console.export_text()


def errors(app) -> list[str]:
    return [text for severity, text in app.notices if severity == "error"]
