"""`seal-desk arc …`: show, solve, bench and rl for the few-shot (ARC) mode.

The parser is built without heavy imports; the commands load the model only when they need it.
Bad input ends with one line on stderr and exit code 2 (SealDeskError), as everywhere else.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

from seal_desk.config import INNER_FROM, MIN_SEQ_LEN, FewShotConfig
from seal_desk.errors import InputError


def _train_args(p: argparse.ArgumentParser) -> None:
    d = FewShotConfig()
    g = p.add_argument_group("test-time training (defaults sized for a small model; paper values in config.py)")
    g.add_argument(
        "--solutions",
        default=None,
        metavar="F",
        help="test outputs (default: the *solutions* file next to the challenges, when there is one)",
    )
    g.add_argument(
        "--max-examples", type=int, default=None, help=f"training episodes per task (default {d.max_examples})"
    )
    g.add_argument("--max-epochs", type=int, default=None, help=f"cap on the config's epochs (default {d.max_epochs})")
    g.add_argument(
        "--max-seq-len",
        type=int,
        default=None,
        metavar="N",
        help=f"longest training episode in tokens, longer ones left out (default {d.max_seq_len}, capped by the "
        f"model's context; at least {MIN_SEQ_LEN})",
    )
    g.add_argument(
        "--leave-out", default=None, metavar="N,M", help="episodes holding out N (and M) demonstrations (default 1,2)"
    )
    g.add_argument("--no-colour-permutations", action="store_true", help="augmented copies keep their colours")
    g.add_argument("--vote", action="store_true", help="also predict on the 7 basic transforms, invert, majority vote")
    g.add_argument("--rank", type=int, default=None, help=f"LoRA r (default {d.lora.r}; paper 128)")
    g.add_argument("--alpha", type=int, default=None, help=f"LoRA alpha (default {d.lora.alpha}; paper 16)")
    g.add_argument("--temperature", type=float, default=None, help="config sampling temperature (default 1.0)")
    g.add_argument("--max-new-tokens", type=int, default=None, help="config length limit in tokens (default 160)")
    g.add_argument("--seed", type=int, default=None)


def add_parser(sub) -> None:
    arc = sub.add_parser("arc", help="few-shot mode: SEAL on ARC tasks (self-edit = augmentation + training config)")
    asub = arc.add_subparsers(dest="arc", required=True)

    show = asub.add_parser("show", help="draw a task's grids in colour")
    show.add_argument("taskfile", help="ARC challenges JSON (or one task's JSON)")
    show.add_argument("--task", default=None, help="task id (default: list the tasks, then show the first)")
    show.add_argument("--solutions", default=None, metavar="F")
    show.add_argument("--digits", action="store_true", help="print the digits on the cells")

    solve = asub.add_parser("solve", help="one task: config → test-time training → prediction vs truth")
    solve.add_argument("taskfile")
    solve.add_argument("--task", default=None, help="task id (default: the first in the file)")
    how = solve.add_mutually_exclusive_group()
    how.add_argument("--config", default=None, metavar="JSON|FILE", help="a self-edit config (JSON text or a file)")
    how.add_argument("--self-edit", action="store_true", help="let the model write the config (default)")
    how.add_argument("--icl", action="store_true", help="no training: in-context prediction only")
    solve.add_argument(
        "--generator",
        default=None,
        metavar="PATH",
        help="write the config with this generator checkpoint (from `seal-desk arc rl`)",
    )
    solve.add_argument("--digits", action="store_true")
    solve.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    _train_args(solve)

    bench = asub.add_parser("bench", help="in-context / TTT with untrained self-edits / SEAL / oracle config table")
    bench.add_argument(
        "--challenges",
        required=True,
        metavar="F|ID",
        help="ARC challenges JSON, or a table of tasks (id, train, test): .jsonl/.parquet or a Hugging Face data set id",
    )
    bench.add_argument("--n", type=int, default=None, help="first n tasks (default all)")
    bench.add_argument("--conditions", default="icl,ttt,oracle", help="from icl, ttt, seal, oracle")
    bench.add_argument("--samples", type=int, default=1, help="configs sampled per task for ttt/seal")
    bench.add_argument("--oracle", type=int, default=None, metavar="N", help="use the first N oracle-grid configs")
    bench.add_argument(
        "--generator",
        action="append",
        default=[],
        metavar="PATH",
        help="generator checkpoint from `seal-desk arc rl` (adds a SEAL row); repeatable",
    )
    bench.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write results JSON here")
    bench.add_argument("--markdown", default=None, metavar="OUT", help="write the table as Markdown here")
    _train_args(bench)

    rl = asub.add_parser("rl", help="ReST-EM over configs on ARC training tasks; resumable with the same --out")
    rl.add_argument(
        "--challenges",
        required=True,
        metavar="F|ID",
        help="ARC training challenges JSON (with solutions), or a table of tasks (.jsonl/.parquet, data set id)",
    )
    rl.add_argument("--out", required=True, help="run folder: generator checkpoints, SFT sets, summary.json")
    rl.add_argument("--rounds", type=int, default=1)
    rl.add_argument("--tasks", type=int, default=None, help="tasks per round (default all)")
    rl.add_argument("--k", type=int, default=5, help="configs sampled per task")
    rl.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="F",
        help="never train on tasks that also appear in F (e.g. the evaluation set); repeatable",
    )
    rl.add_argument("--sft-lr", type=float, default=None)
    rl.add_argument("--sft-epochs", type=int, default=None)
    rl.add_argument(
        "--inner-from",
        choices=INNER_FROM,
        default=None,
        help="after a round, train the inner loop on the new generator (default, as SEAL's reference) "
        "or always on the starting model (base)",
    )
    rl.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write the reward summary JSON here")
    _train_args(rl)


def settings_from(args) -> FewShotConfig:
    """FewShotConfig with the command-line overrides."""
    s = FewShotConfig()
    lora = s.lora
    if getattr(args, "rank", None):
        lora = replace(lora, r=args.rank)
    if getattr(args, "alpha", None):
        lora = replace(lora, alpha=args.alpha)
    over = {
        "max_examples": getattr(args, "max_examples", None),
        "max_epochs": getattr(args, "max_epochs", None),
        "max_seq_len": getattr(args, "max_seq_len", None),
        "seed": getattr(args, "seed", None),
        "config_temperature": getattr(args, "temperature", None),
        "config_max_new_tokens": getattr(args, "max_new_tokens", None),
    }
    s = replace(s, lora=lora, **{k: v for k, v in over.items() if v is not None})
    if getattr(args, "leave_out", None):
        try:
            leave = tuple(int(x) for x in args.leave_out.split(",") if x.strip())
        except ValueError:
            raise InputError(f"--leave-out takes numbers like 1,2 (got {args.leave_out!r})") from None
        if not leave or min(leave) < 1:
            raise InputError("--leave-out numbers must be at least 1")
        s = replace(s, leave_out=leave)
    if getattr(args, "no_colour_permutations", False):
        s = replace(s, permute_colours=False)
    if getattr(args, "vote", False):
        s = replace(s, vote=True)
    for name in ("max_examples", "max_epochs", "config_max_new_tokens"):
        if getattr(s, name) < 1:
            raise InputError(f"--{name.replace('config_', '').replace('_', '-')} must be at least 1")
    return s


def run(args, err) -> int:
    return {"show": cmd_show, "solve": cmd_solve, "bench": cmd_bench, "rl": cmd_rl}[args.arc](args, err)


def _tasks(path, solutions=None):
    from seal_desk.arc.task import load_tasks

    return load_tasks(path, solutions)


class _Reporter:
    """Arc events as log lines on the rich reporter; token streams are not shown."""

    def __init__(self, reporter) -> None:
        self.reporter = reporter

    def __call__(self, event) -> None:
        from seal_desk import events as ev

        if isinstance(event, ev.ArcTaskScored):
            mark = "✔" if event.solved else ("?" if event.solved is None else "✘")
            what = _config_label(event.config) if event.valid else "invalid config"
            if event.valid and event.config is None:
                what = "in-context"
            self.reporter(ev.Message(f"{event.task_id} [{event.condition}] {mark} {what} · {event.seconds:.1f}s"))
        elif isinstance(event, ev.RewardScored):
            rewards = " ".join(f"{x:.0f}" for x in event.rewards)
            note = " (resumed)" if event.resumed else ""
            self.reporter(
                ev.Message(
                    f"round {event.round} [{event.index + 1}/{event.passages}] {event.title}: "
                    f"rewards {rewards} · {'kept' if event.kept else '—'}{note}"
                )
            )
        elif isinstance(event, ev.RoundFinished):
            self.reporter(
                ev.Message(
                    f"round {event.round} done: kept {event.kept}/{event.passages} tasks, mean "
                    f"reward {event.mean_reward:.3f}, generator {event.generator or 'unchanged (base)'}"
                )
            )
        elif not isinstance(event, ev.TokenGenerated):
            self.reporter(event)


def _config_label(text) -> str:
    from seal_desk.arc.self_edit import from_dict

    return from_dict(json.loads(text)).label() if text else "in-context"


# show --------------------------------------------------------------------------------------------
def cmd_show(args, err) -> int:
    from rich.console import Console

    from seal_desk.arc.render import task_view
    from seal_desk.arc.task import pick

    tasks = _tasks(args.taskfile, args.solutions)
    out = Console()
    if args.task is None and len(tasks) > 1:
        out.print(f"{len(tasks)} tasks: " + ", ".join(t.id for t in tasks))
    out.print(task_view(pick(tasks, args.task), args.digits))
    return 0


# solve -------------------------------------------------------------------------------------------
def _config_arg(value: str):
    from seal_desk.arc.self_edit import parse_config

    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value).expanduser()
        if not path.is_file():
            raise InputError(f"--config {value}: neither JSON nor an existing file")
        text = path.read_text(encoding="utf-8")
    parsed = parse_config(text)
    if not parsed.valid:
        raise InputError(f"--config: not a usable config ({parsed.error})")
    return parsed.config


def cmd_solve(args, err) -> int:
    from rich.console import Console

    from seal_desk.arc.render import comparison
    from seal_desk.arc.self_edit import ParsedConfig
    from seal_desk.arc.task import pick
    from seal_desk.arc.ttt import sample_configs, solve
    from seal_desk.cli.progress import RichReporter
    from seal_desk.cli.setup import make_engine

    settings = settings_from(args)
    if args.generator and (args.config or args.icl):
        raise InputError("--generator writes the config: it does not go with --config or --icl")
    task = pick(_tasks(args.taskfile, args.solutions), args.task)
    config = _config_arg(args.config) if args.config else None
    engine = make_engine(args, err, None)
    out = Console()
    with RichReporter(err) as reporter:
        report = _Reporter(reporter)
        if args.icl:
            condition = "icl"
        elif config is not None:
            condition = "config"
        else:
            condition = "seal" if args.generator else "ttt"
            with engine.writing_with(_generator(args, engine) if args.generator else None):
                config = sample_configs(engine, task, settings, 1, settings.seed, report)[0]
        if not args.json and config is not None:
            if isinstance(config, ParsedConfig):  # the model wrote it: show what it wrote
                err.print(f"[bold]self-edit[/] ({condition}): {config.text!r}", highlight=False)
                err.print(f"→ {config.config.label() if config.valid else 'invalid: ' + config.error}", highlight=False)
            else:
                err.print(f"[bold]config[/]: {config.label()}", highlight=False)
        result = solve(engine, task, settings, config, condition, report)
    if args.json:
        print(json.dumps({"model": engine.loaded.name, "settings": asdict(settings), **result.to_json()}, indent=2))
        return 0
    if result.train is not None:
        t = result.train
        out.print(
            f"[dim]trained {result.episodes} episodes: {t.steps} steps, {t.tokens} loss tokens, loss "
            f"{t.first_loss:.3f}→{t.final_loss:.3f}, {t.seconds:.1f}s[/]"
        )
    for i, (pred, exp) in enumerate(zip(result.predictions, result.expected), 1):
        out.print(f"test {i}:")
        out.print(comparison(pred, exp, args.digits))
    verdict = {True: "[green]solved[/]", False: "[red]not solved[/]", None: "[yellow]no solution to grade against[/]"}
    out.print(f"{task.id}: {verdict[result.solved]} in {result.seconds:.1f}s")
    return 0


def _generator(args, engine):
    from seal_desk.model.loader import load
    from seal_desk.model.source import check_generator

    check_generator(args.generator, engine.loaded.name, "seal-desk arc rl")
    return load(args.generator, args.device, args.quant)


# bench -------------------------------------------------------------------------------------------
def cmd_bench(args, err) -> int:
    from rich.console import Console
    from rich.table import Table

    from seal_desk.arc.bench import ORACLE_GRID, conditions_from, markdown_table, run_bench
    from seal_desk.cli.progress import RichReporter
    from seal_desk.cli.reports import write_reports
    from seal_desk.cli.setup import make_engine
    from seal_desk.model.loader import load
    from seal_desk.model.source import check_generator

    settings = settings_from(args)
    conditions = conditions_from(args.conditions, args.generator)
    if args.samples < 1:
        raise InputError("--samples must be at least 1")
    oracle = ORACLE_GRID[: args.oracle] if args.oracle else ORACLE_GRID
    if args.oracle is not None and not 1 <= args.oracle <= len(ORACLE_GRID):
        raise InputError(f"--oracle must be 1–{len(ORACLE_GRID)}")
    tasks = _tasks(args.challenges, args.solutions)
    tasks = tasks[: args.n] if args.n else tasks
    engine = make_engine(args, err, None)
    for path in args.generator:
        check_generator(path, engine.loaded.name, "seal-desk arc rl")
    err.print(
        f"[bold]arc bench[/]: {len(tasks)} tasks, conditions {', '.join(conditions)}, {args.samples} "
        f"config(s) per task, {engine.loaded.name} on {engine.loaded.placement.label}"
    )
    with RichReporter(err) as reporter:
        result = run_bench(
            engine,
            tasks,
            settings,
            conditions,
            args.samples,
            oracle,
            args.generator,
            lambda p: load(p, args.device, args.quant),
            _Reporter(reporter),
        )
    result["challenges"] = str(args.challenges)
    table = Table(title=f"arc bench — {result['model']}, {result['n']} tasks")
    for col in ("condition", "success rate", "tasks solved", "outputs right", "invalid configs", "s/task"):
        table.add_column(col, justify="left" if col == "condition" else "right")
    for s in result["conditions"].values():
        table.add_row(
            s["label"],
            f"{s['success_rate']:.1%} ({s['solved']}/{s['attempts']})",
            f"{s['tasks_solved']}/{s['tasks']}",
            f"{s['outputs_solved']}/{s['outputs']}",
            str(s["invalid"]),
            f"{s['seconds_per_task']:.1f}",
        )
    Console().print(table)
    err.print(f"wall time {result['wall_seconds']:.0f}s")
    write_reports(args, result, markdown_table, err)
    return 0


# rl ----------------------------------------------------------------------------------------------
def cmd_rl(args, err) -> int:
    from rich.console import Console
    from rich.table import Table

    from seal_desk.arc.restem import ArcRestEM
    from seal_desk.cli.progress import RichReporter
    from seal_desk.cli.reports import write_reports
    from seal_desk.cli.setup import make_engine, model_copier, open_workspace
    from seal_desk.config import OuterLoopConfig
    from seal_desk.restem.start import check_run_folder, run_outer_loop

    settings = settings_from(args)
    tasks = _tasks(args.challenges, args.solutions)
    banned = {t.id for f in args.exclude for t in _tasks(f)}
    usable = [t for t in tasks if t.id not in banned]
    if len(usable) < len(tasks):
        err.print(f"[yellow]left out {len(tasks) - len(usable)} task(s) that also appear in --exclude[/]")
    if not usable:
        raise InputError(f"{args.challenges}: no training tasks left (after --exclude)")
    base = OuterLoopConfig()
    over = {
        "rounds": args.rounds,
        "passages": args.tasks or len(usable),
        "k": args.k,
        "eval_times": 1,
        "sft_lr": args.sft_lr,
        "sft_epochs": args.sft_epochs,
        "seed": args.seed,
        "inner_from": args.inner_from,
    }
    cfg = replace(base, **{k: v for k, v in over.items() if v is not None})
    for name, flag in (("rounds", "rounds"), ("passages", "tasks"), ("k", "k"), ("sft_epochs", "sft-epochs")):
        if getattr(cfg, name) < 1:
            raise InputError(f"--{flag} must be at least 1")
    if cfg.sft_lr <= 0:
        raise InputError("--sft-lr must be above 0")
    check_run_folder(args.out)
    ws = open_workspace(args)
    engine = make_engine(args, err, ws)
    out_dir = str(Path(args.out).expanduser().resolve())
    meta = {"mode": "arc", "outer": asdict(cfg), "arc": json.loads(json.dumps(asdict(settings)))}
    model_name = engine.loaded.name
    err.print(
        f"[bold]arc rl[/]: {cfg.rounds} round(s) × {min(cfg.passages, len(usable))} tasks, k={cfg.k}, "
        f"{model_name} on {engine.loaded.placement.label} → {out_dir}"
    )
    with RichReporter(err) as reporter:
        result = run_outer_loop(
            engine,
            ws,
            usable,
            str(Path(args.challenges).resolve()),
            out_dir,
            cfg,
            model_copier(args, model_name),
            loop=partial(ArcRestEM, settings=settings),
            meta=meta,
            on_event=_Reporter(reporter),
        )
    table = Table(title=f"arc rl — {model_name}, {out_dir}")
    for col in (
        "round",
        "tasks",
        "configs",
        "solve rate",
        "tasks kept",
        "SFT examples",
        "SFT loss",
        "s/task",
        "generator",
    ):
        table.add_column(col, justify="left" if col == "generator" else "right")
    for r in result["rounds"]:
        table.add_row(
            str(r["round"]),
            str(r["passages"]),
            str(r["candidates"]),
            f"{r['mean_reward']:.3f}",
            str(r["kept"]),
            str(r["sft_examples"]),
            "—" if r["sft_loss"] is None else f"{r['sft_loss']:.3f}",
            f"{r['seconds_per_passage']:.1f}",
            r["generator"] or "base (nothing kept)",
        )
    Console().print(table)
    write_reports(args, result, None, err)
    return 0
