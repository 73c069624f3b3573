"""`seal-desk update DIR`: the new and changed files of a folder learned (core: continual.update), shown
as a table or as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from seal_desk.cli.progress import RichReporter
from seal_desk.cli.setup import make_engine, open_workspace
from seal_desk.config import ContinualConfig
from seal_desk.errors import InputError
from seal_desk.events import FileUpdated, Message

STYLES = {"learned": "info", "unchanged": "info", "failed": "warning", "gone": "warning"}


def cmd_update(args, err: Console) -> int:
    """Exit code 0 when every file was learned or unchanged, 1 when some failed (2: bad input, busy)."""
    from seal_desk.continual.update import counts, update_folder
    from seal_desk.model.source import resolve

    ws = open_workspace(args)
    cfg = ContinualConfig(strategy=args.strategy, replay_budget=args.replay_budget)
    if cfg.replay_budget < 0:
        raise InputError("--replay-budget must be 0 or more")
    model = resolve(args.model or ws.get_setting("model")).name
    with RichReporter(err) as reporter:

        def report(event):
            if isinstance(event, FileUpdated):
                reporter(
                    Message(
                        f"{event.status}: {event.path}" + (f" — {event.detail}" if event.detail else ""),
                        STYLES[event.status],
                    )
                )
            else:
                reporter(event)

        outcomes = update_folder(ws, args.dir, model, lambda: make_engine(args, err, ws), cfg.strategy, cfg, report)
    n = counts(outcomes)
    if args.json:
        print(
            json.dumps(
                {
                    "model": model,
                    "strategy": cfg.strategy,
                    "workspace": str(ws.folder),
                    **n,
                    "files": [asdict(o) for o in outcomes],
                },
                indent=2,
            )
        )
    else:
        Console().print(outcome_table(outcomes, args.dir, cfg.strategy, model))
        Console().print(
            f"learned {n['learned']} · unchanged {n['unchanged']} · failed {n['failed']}"
            + (f" · gone {n['gone']}" if n["gone"] else "")
        )
    return 1 if n["failed"] else 0


def outcome_table(outcomes, folder, strategy: str, model: str) -> Table:
    """One row per file, its path relative to `folder`."""
    table = Table(title=f"update — {folder} ({strategy}, {model})")
    root = Path(folder).resolve()
    for col in ("file", "status", "passages", "sequences", "s", "adapter", "detail"):
        table.add_column(col, justify="right" if col in ("passages", "sequences", "s", "adapter") else "left")
    for o in outcomes:
        learned = o.status == "learned"
        shown = Path(o.path).relative_to(root) if Path(o.path).is_relative_to(root) else o.path
        table.add_row(
            str(shown),
            o.status,
            str(o.passages) if learned else "",
            str(o.sequences) if learned else "",
            f"{o.seconds:.1f}" if learned else "",
            f"#{o.adapter_id}" if o.adapter_id else "",
            o.detail,
        )
    return table
