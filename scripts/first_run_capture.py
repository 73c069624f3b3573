"""Drive the TUI's guided first run on the real default model, as a new user would, and record it.

    python scripts/first_run_capture.py --out bench-out/first-run      # [--workspace DIR] [--learner none]

Starts the app in a fresh workspace, presses the keys the guide names (enter on "Load the sample",
ctrl+g, ctrl+t), and writes `first-run.md` (each step: key, seconds since the first screen, the
guide line) plus an SVG screenshot of every screen to --out. Issue #16's goal: a before/after recall
comparison on the bundled sample in under 2 minutes from the first screen.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench-out/first-run", help="folder for first-run.md and the screenshots")
    parser.add_argument("--workspace", default=None, help="workspace folder (default: a new temporary one)")
    parser.add_argument("--learner", default=None, help="as seal-desk --learner (default: the preset's)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a step after this many seconds")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workspace = args.workspace or tempfile.mkdtemp(prefix="seal-desk-first-run-")
    steps, answers = asyncio.run(capture(workspace, out, args.learner, args.timeout))
    lines = [
        "# The guided first run, driven by scripts/first_run_capture.py",
        "",
        "| step | key | seconds from the first screen | guide line |",
        "|---|---|---|---|",
    ]
    lines += [f"| {i} | {key} | {t:.1f} | {guide or '—'} |" for i, (key, t, guide) in enumerate(steps)]
    lines += ["", "| question | gold | before | after |", "|---|---|---|---|"]
    lines += [f"| {q} | {g} | {b} | {a} |" for q, g, b, a in answers]
    lines += ["", f"Workspace: {workspace}; screenshots: {out}/NN.svg (NN = step)."]
    (out / "first-run.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


async def capture(workspace: str, out: Path, learner: str | None, timeout: float) -> tuple[list, list]:
    from textual.widgets import Button

    from seal_desk.tui.app import SealDeskApp

    app = SealDeskApp(workspace=workspace, learner=learner)
    steps: list[tuple[str, float, str]] = []

    def guide() -> str:
        bar = app.screen.query_one("#guide-bar")
        return str(bar.render()) if bar.display else ""

    async with app.run_test(size=(120, 36)) as pilot:
        start = time.monotonic()

        async def until(predicate, what: str) -> None:
            deadline = time.monotonic() + timeout
            while not predicate():
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out waiting for {what}")
                await pilot.pause(0.1)
            await pilot.pause()

        def shot(key: str) -> None:
            steps.append((key, time.monotonic() - start, guide()))
            app.save_screenshot(filename=f"{len(steps) - 1:02d}.svg", path=str(out))

        shot("(first screen)")
        await until(lambda: app.engine is not None and not app.jobs, "the model to load")
        shot("(model loaded)")
        app.screen.query_one("#lib-sample", Button).focus()
        await pilot.press("enter")
        await until(lambda: app.workspace.documents() and not app.jobs, "the sample to load")
        shot("enter")
        await pilot.press("ctrl+g")
        await pilot.pause()
        await until(lambda: not app.jobs, "the self-edit")
        shot("ctrl+g")
        await pilot.press("ctrl+t")
        await pilot.pause()
        await until(lambda: not app.jobs, "learning and recall")
        shot("ctrl+t")
    runs = [r for r in app.workspace.runs() if r.kind == "learn"]
    if not runs:
        raise SystemExit("the guided run ended without a learn run in the workspace")
    rows = app.workspace.results(max(runs, key=lambda r: r.id).id)
    after = {r["question"]: r for r in rows if r["phase"] == "after"}

    def mark(row) -> str:
        return f"{'✓' if row['correct'] else '✗'} {row['answer']}"

    answers = [
        (r["question"], r["gold"], mark(r), mark(after[r["question"]]) if r["question"] in after else "—")
        for r in rows
        if r["phase"] == "before"
    ]
    return steps, answers


if __name__ == "__main__":
    raise SystemExit(main())
