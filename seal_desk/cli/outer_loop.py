"""`seal-desk rl` (SEAL's outer loop, ReST-EM) and `seal-desk learner` (the one-time learner LoRA)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from seal_desk.cli.progress import RichReporter, worker_line
from seal_desk.cli.reports import write_reports
from seal_desk.cli.setup import make_engine, model_copier, open_workspace
from seal_desk.errors import InputError


def outer_config(args, engine):
    """The outer-loop settings from the command line (paper defaults otherwise)."""
    from seal_desk.config import OuterLoopConfig

    base = OuterLoopConfig()
    over = {
        "rounds": args.rounds,
        "passages": args.passages,
        "eval_times": args.eval_times,
        "k": args.k if args.k is not None else base.k,
        "parallel": args.parallel,
        "sft_lr": args.sft_lr,
        "sft_epochs": args.sft_epochs,
        "seed": args.seed,
        "inner_from": args.inner_from,
        "reward": getattr(args, "reward", None),
        "min_grounding": getattr(args, "min_grounding", None),
    }
    cfg = replace(base, **{k: v for k, v in over.items() if v is not None})
    for name in ("rounds", "passages", "eval_times", "k", "parallel", "sft_epochs"):
        if getattr(cfg, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    if cfg.sft_lr <= 0:
        raise InputError("--sft-lr must be above 0")
    return cfg


def read_data(args) -> tuple[list, list]:
    """The --data passages (with --data-columns) and the --exclude passages, each a file or a data set id."""
    from seal_desk.knowledge.data import load_data

    passages = [p for spec in args.data for p in load_data(spec, getattr(args, "data_columns", "") or "")]
    return passages, [p for spec in args.exclude for p in load_data(spec)]


def _named(spec: str) -> str:
    """A --data spec as the run records it: a file by its full path, a data set id as given."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def cmd_rl(args, err: Console) -> int:
    passages, held_out = read_data(args)  # before torch and the model: a typo fails at once
    from seal_desk import events as ev
    from seal_desk.restem.start import check_run_folder, run_outer_loop, training_passages

    check_run_folder(args.out)  # before the model loads
    ws = open_workspace(args)
    engine = make_engine(args, err, ws)
    cfg = outer_config(args, engine)
    with RichReporter(err) as reporter:
        usable = training_passages(passages, held_out, ", ".join(args.data), "--exclude", reporter)
    out_dir = str(Path(args.out).expanduser().resolve())
    if getattr(args, "pack", None):  # before the run: a bad target must not wait hours to fail
        from seal_desk.restem.pack import check_target

        check_target(args.pack, out_dir, engine.loaded.learner)
    model_name = engine.loaded.name
    err.print(
        f"[bold]rl[/]: {cfg.rounds} round(s) × {min(cfg.passages, len(usable))} passages, k={cfg.k}, "
        f"eval-times {cfg.eval_times}, reward {cfg.reward}, {model_name} on {engine.loaded.placement.label} → {out_dir}"
    )

    def report(event):
        if isinstance(event, ev.RewardScored):
            rewards = " ".join(f"{x:.2f}" for x in event.rewards)
            mark = "kept" if event.kept else "—"
            note = " (resumed)" if event.resumed else ""
            reporter(
                ev.Message(
                    f"round {event.round} [{event.index + 1}/{event.passages}] {event.title[:36]}: "
                    f"baseline {event.baseline:.2f} · rewards {rewards} · {mark}{note}"
                )
            )
        elif isinstance(event, ev.RoundFinished):
            reporter(
                ev.Message(
                    f"round {event.round} done: kept {event.kept}/{event.passages}, mean reward "
                    f"{event.mean_reward:.3f} (baseline {event.mean_baseline:.3f}), generator "
                    f"{event.generator or 'unchanged (base)'}",
                    "info",
                )
            )
        elif not isinstance(event, ev.TokenGenerated):
            if isinstance(event, ev.WorkerProgress):  # --ray: shown live by the reporter, summed up at the end
                workers[event.worker] = event
            reporter(event)

    workers: dict = {}
    with RichReporter(err) as reporter:
        result = run_outer_loop(
            engine,
            ws,
            usable,
            "; ".join(_named(f) for f in args.data),
            out_dir,
            cfg,
            model_copier(args, model_name),
            on_event=report,
        )
    table = Table(title=f"rl — {model_name}, {out_dir}")
    for col in (
        "round",
        "passages",
        "candidates",
        "mean reward",
        "mean best",
        "baseline",
        "kept",
        "SFT loss",
        "s/passage",
        "generator",
    ):
        table.add_column(col, justify="left" if col == "generator" else "right")
    for r in result["rounds"]:
        table.add_row(
            str(r["round"]),
            str(r["passages"]),
            str(r["candidates"]),
            f"{r['mean_reward']:.3f}",
            f"{r['mean_best_reward']:.3f}",
            f"{r['mean_baseline']:.3f}",
            str(r["kept"]),
            "—" if r["sft_loss"] is None else f"{r['sft_loss']:.3f}",
            f"{r['seconds_per_passage']:.1f}",
            r["generator"] or "base",
        )
    Console().print(table)
    for event in workers.values():
        err.print(f"worker {event.worker}: {event.passages_done} passage(s) · {worker_line(event)}", highlight=False)
    write_reports(args, result, None, err)
    if getattr(args, "pack", None):
        card = pack_run(args, engine, cfg, out_dir, result)
        err.print(f"packed rounds {card['packed_rounds']} into {args.pack} (rank {card['lora']['r']})")
    return 0


def pack_run(args, engine, cfg, out_dir: str, result: dict) -> dict:
    """`rl --pack DIR`: the run's round updates as one learner folder beside the learner the run started from."""
    from dataclasses import asdict

    from seal_desk.restem.pack import check_target, pack_generator

    learner = engine.loaded.learner
    target = check_target(args.pack, out_dir, learner)
    edit = engine.run_config.self_edit
    meta = {
        "base": engine.loaded.name,
        "on_top_of": Path(learner).name if learner else None,
        "data": list(args.data),
        "writes": edit.format,
        "qa_prompt": edit.qa_prompt,
        "outer": asdict(cfg),
        "inner": asdict(engine.run_config.inner),
        "run": out_dir,
    }
    return pack_generator(out_dir, target, result, meta)


def cmd_shrink(args, err: Console) -> int:
    """`seal-desk shrink LEARNER --rank R --out DIR`: no model is loaded, only the adapter's factors."""
    from seal_desk.restem.pack import shrink

    target, card = shrink(args.src, args.out, args.rank)
    step = card["shrunk"][-1]
    size = (target / "adapter_model.safetensors").stat().st_size
    err.print(
        f"saved {args.out}: rank {step['from_rank']} → {step['rank']}, "
        f"{100 * step['energy_kept']:.1f}% of the update's energy kept, {size / 1e6:.1f} MB"
    )
    return 0


def cmd_learner(args, err: Console) -> int:
    if args.learner not in (None, "none"):
        raise InputError("a learner is trained on the plain base model: drop --learner")
    passages, held_out = read_data(args)  # before torch and the model: a typo fails at once
    from seal_desk.knowledge import self_edit as se
    from seal_desk.knowledge.learner import check_out, train_learner
    from seal_desk.restem.loop import without

    args.learner = "none"  # not on the preset's learner either
    check_out(args.out)
    if args.write is not None:
        se.check_format(args.write)
    engine = make_engine(args, err, None)
    usable = without(passages, held_out)
    if not usable:
        raise InputError("no passages with questions to train the learner on (after --exclude)")
    cfg = replace(engine.config.inner, group_by_length=True)  # passages, questions and self-edits differ in length
    err.print(
        f"[bold]learner[/]: {len(usable)} passages, {sum(len(p.questions) for p in usable)} questions, "
        f"r={cfg.lora.r}, lr {cfg.lr}, {cfg.epochs} epoch(s), batch {cfg.batch_size} → {args.out}"
    )
    with RichReporter(err) as reporter:
        card = train_learner(engine, usable, cfg, args.out, [str(Path(f)) for f in args.data], args.write, reporter)
    err.print(
        f"saved {args.out}: loss {card['train']['first_loss']:.3f} → {card['train']['final_loss']:.3f} "
        f"in {card['train']['seconds']:.0f} s"
    )
    return 0
