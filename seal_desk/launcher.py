"""The `seal-desk` program: with no subcommand it starts the TUI, with one it runs headless (seal_desk/cli).

The only module that knows both faces; the faces never import each other (see .importlinter).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional


def main(argv: Optional[Sequence[str]] = None) -> int:
    from seal_desk.cli.main import main as run

    return run(argv, tui=run_tui)


def run_tui(args: argparse.Namespace) -> int:
    """Start the Textual app with the global options of the command line."""
    from seal_desk.cli.setup import learner_arg
    from seal_desk.tui.app import SealDeskApp

    model = args.model
    if getattr(args, "generator_mode", "default") == "base" and model is None:  # the model the app will load
        from seal_desk.workspace.database import Workspace

        ws = Workspace(args.workspace)
        model = ws.get_setting("model")
        ws.close()
    SealDeskApp(
        model=args.model,
        device=args.device,
        quant=args.quant,
        workspace=args.workspace,
        learner=learner_arg(args, model),  # --learner, or with --generator base the learner under it
        trust_remote_code=args.trust_remote_code,
    ).run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
