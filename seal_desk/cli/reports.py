"""A command's `--json OUT` and `--markdown OUT` files, each written atomically and announced on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from rich.console import Console

from seal_desk.files import write_atomic


def write_reports(args, result: dict, markdown: Optional[Callable[[dict], str]], err: Console) -> None:
    """`--json OUT` (and `--markdown OUT`, where the command has one and `markdown` renders it)."""
    if getattr(args, "json_out", None):
        write_atomic(Path(args.json_out), json.dumps(result, indent=2))
        err.print(f"wrote {args.json_out}")
    if markdown is not None and getattr(args, "markdown", None):
        write_atomic(Path(args.markdown), markdown(result))
        err.print(f"wrote {args.markdown}")
