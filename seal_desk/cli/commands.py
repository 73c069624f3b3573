"""Headless subcommands: each builds an Engine, runs it with a RichReporter, prints tables or JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from seal_desk.config import SELECT, SealConfig
from seal_desk.errors import InputError
from seal_desk.cli.progress import RichReporter, accuracy_line, recall_table
from seal_desk.files import write_reports


def dispatch(args, err: Console) -> int:
    handler = {
        "models": cmd_models, "learn": cmd_learn, "eval": cmd_eval, "adapters": cmd_adapters, "bench": cmd_bench,
        "rl": cmd_rl, "update": cmd_update, "arc": cmd_arc, "learner": cmd_learner,
    }[args.command]
    return handler(args, err)


def configure(args, base: SealConfig) -> SealConfig:
    """Lay command-line overrides over a config."""
    inner, edit = base.inner, base.self_edit
    lora = inner.lora
    if getattr(args, "rank", None):
        lora = replace(lora, r=args.rank)
    if getattr(args, "alpha", None):
        lora = replace(lora, alpha=args.alpha)
    over = {k: getattr(args, k, None) for k in ("epochs", "lr", "batch_size", "seed", "precision")}
    inner = replace(inner, lora=lora, **{k: v for k, v in over.items() if v is not None})
    over = {"format": getattr(args, "format", None), "k": getattr(args, "k", None),
            "max_new_tokens": getattr(args, "max_new_tokens", None), "temperature": getattr(args, "temperature", None),
            "seed": getattr(args, "seed", None), "qa_prompt": getattr(args, "qa_prompt", None),
            "min_grounding": getattr(args, "min_grounding", None), "select": getattr(args, "select", None)}
    edit = replace(edit, **{k: v for k, v in over.items() if v is not None})
    recall = replace(base.recall, judge=True) if getattr(args, "judge", False) else base.recall
    if not 0.0 <= edit.min_grounding <= 1.0:
        raise InputError("--min-grounding must be between 0 and 1")
    if edit.select not in SELECT:
        raise InputError(f"self-edit selection '{edit.select}' is not one of {', '.join(SELECT)}")
    for name, value in (("epochs", inner.epochs), ("batch_size", inner.batch_size), ("k", edit.k)):
        if value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    return replace(base, inner=inner, self_edit=edit, recall=recall)


def open_workspace(args):
    from seal_desk.workspace.database import Workspace

    ws = Workspace(args.workspace)
    ws.mark_stale_runs()
    return ws


def make_engine(args, err: Console, ws=None):
    from seal_desk.knowledge.engine import Engine
    from seal_desk.model.loader import load

    model = args.model or (ws.get_setting("model") if ws is not None else None)
    with RichReporter(err) as reporter:
        loaded = load(model, args.device, args.quant, reporter, args.trust_remote_code, getattr(args, "learner", None))
    engine = Engine(loaded, ws)
    saved = ws.get_setting(ws.config_key(loaded.name)) if ws is not None else None
    base = SealConfig.from_dict(saved) if saved else engine.config
    engine.config = configure(args, base)
    return engine


def model_copier(args, model_name: str):
    """The outer loop's `load_copy`: a fresh copy of the starting model (None, with --learner merged) or a checkpoint."""
    from seal_desk.model.loader import load

    def load_copy(path):  # a checkpoint already holds whatever learner its starting model had
        return load(path or args.model or model_name, args.device, args.quant, trust_remote_code=args.trust_remote_code,
                    learner=getattr(args, "learner", None) if path is None else "none")

    return load_copy


# models ------------------------------------------------------------------------------------------
def cmd_models(args, err: Console) -> int:
    from seal_desk.model.source import available_offline, cached_dir, resolve
    from seal_desk.model.presets import DEFAULT_PRESET, all_presets

    table = Table(title="model presets (models/*.toml)", show_lines=True)
    table.add_column("preset", no_wrap=True)
    table.add_column("style")
    table.add_column("params", justify="right")
    table.add_column("offline now")
    table.add_column("source and description", ratio=1)
    for name, preset in all_presets().items():
        try:
            source = resolve(name)
            offline = available_offline(source)
            where = "converted" if cached_dir(source) else ("embedded GGUF" if source.kind == "gguf" else "hub cache")
            status = f"[green]yes[/] ({where})" if offline else "[yellow]no[/] (needs the hub)"
        except Exception as exc:  # a preset whose package is missing
            status = f"[red]no[/] ({exc})"
        label = f"[bold]{name}[/]" + (" [dim](default)[/]" if name == DEFAULT_PRESET else "")
        origin = f"{preset.gguf_package}/{preset.gguf_file}" if preset.gguf_package else preset.hf_id
        table.add_row(label, preset.prompt_style, preset.params, status, f"{origin}\n[dim]{preset.description}[/]")
    Console().print(table)
    return 0


# learn -------------------------------------------------------------------------------------------
def _documents(paths, engine, questions_file=None):
    from seal_desk.knowledge.documents import load_documents
    from seal_desk.knowledge.questions import attach, load_questions

    docs = load_documents(paths, count_tokens=engine.count_tokens, max_tokens=engine.passage_budget)
    if questions_file:
        extra = load_questions(questions_file)
        if len(docs) != 1:
            raise InputError("--questions needs exactly one document")
        attach(docs[0], extra)
    return docs


def cmd_learn(args, err: Console) -> int:
    ws = open_workspace(args)
    engine = make_engine(args, err, ws)
    docs = _documents(args.paths, engine, args.questions)
    out = Console()
    results = []
    for doc in docs:
        if args.generate_questions and doc.n_questions == 0:
            for passage in doc.passages:
                passage.questions += engine.generate_questions(passage, args.generate_questions)
        if doc.n_questions == 0:
            err.print(f"[yellow]{doc.path}: no questions — learning without a recall check "
                      f"(add --questions F or --generate-questions N)[/]")
        err.print(f"[bold]Learning[/] {doc.title} ({len(doc.passages)} passage(s), {doc.n_questions} question(s)) "
                  f"with {engine.loaded.name} on {engine.loaded.placement.label}")
        with RichReporter(err, show_tokens=args.show_edits) as reporter:
            result = engine.learn(doc, save=not args.no_save, on_event=reporter)
        if args.show_edits:
            err.print()
        results.append(result)
        if not args.json:
            if result.before.answers:
                out.print(recall_table(doc.title, result.before, result.after))
                out.print(accuracy_line(result.before, result.after))
            t = result.timings
            out.print(f"[dim]self-edit {t['self_edit']:.1f}s · train {t['train']:.1f}s "
                      f"({result.train.steps} steps, {result.train.tokens} tokens, loss {result.train.first_loss:.2f}"
                      f"→{result.train.final_loss:.2f}) · recall {t['recall_before'] + t['recall_after']:.1f}s[/]")
            if result.adapter_id:
                out.print(f"saved adapter #{result.adapter_id}: {result.adapter_path}")
    if args.json:
        print(json.dumps({"model": engine.loaded.name, "device": engine.loaded.placement.label,
                          "results": [r.to_json() for r in results]}, indent=2))
    return 0


# eval --------------------------------------------------------------------------------------------
def cmd_eval(args, err: Console) -> int:
    from seal_desk.knowledge.engine import asked_for

    ws = open_workspace(args)
    engine = make_engine(args, err, ws)
    docs = _documents([args.path], engine, args.questions)
    adapter = engine.load_adapter(args.adapter) if args.adapter is not None else None
    questions = [q for doc in docs for q in asked_for(doc.passages)]
    if not questions:
        raise InputError(f"{args.path}: no questions to evaluate (add --questions F)")
    with RichReporter(err) as reporter:
        report = engine.recall(questions, adapter, "eval", reporter)
    if args.json:
        print(json.dumps({"accuracy": report.accuracy, "lax_accuracy": report.lax_accuracy, "f1": report.mean_f1, "adapter": args.adapter,
                          "per_question": [{"question": a.asked.question, "gold": a.asked.answer, "answer": a.text,
                                            "correct": a.grade.correct, "lax": a.grade.lax_correct, "f1": a.grade.f1} for a in report.answers]},
                         indent=2))
    else:
        Console().print(recall_table(f"{docs[0].title} — {'adapter #' + str(args.adapter) if adapter else 'base model'}", report))
        Console().print(accuracy_line(report))
    return 0


# adapters ----------------------------------------------------------------------------------------
def cmd_adapters(args, err: Console) -> int:
    import datetime

    ws = open_workspace(args)
    if args.action == "list":
        table = Table(title=f"adapters in {ws.folder}")
        for col in ("id", "name", "model", "created", "active", "path"):
            table.add_column(col)
        for a in ws.adapters():
            table.add_row(str(a.id), a.name, a.model, datetime.datetime.fromtimestamp(a.created_at).strftime("%Y-%m-%d %H:%M"),
                          "yes" if a.active else "", a.path)
        Console().print(table)
        return 0
    if args.id is None:
        raise InputError(f"adapters {args.action} needs an adapter id")
    if args.action == "delete":
        ws.delete_adapter(args.id)
        err.print(f"deleted adapter #{args.id}")
        return 0
    if not args.to:
        raise InputError("adapters export needs --to FOLDER")
    from seal_desk.model.export import export_adapter

    record = ws.adapter(args.id)
    engine = make_engine(args, err, ws) if args.merged else None
    path = export_adapter(record, Path(args.to), engine)
    err.print(f"exported adapter #{args.id} to {path}")
    return 0


# bench -------------------------------------------------------------------------------------------
def cmd_bench(args, err: Console) -> int:
    if args.bench == "table":
        from seal_desk.bench.knowledge import combine_reports

        return combine_reports(args, err)
    engine = make_engine(args, err, None)
    if args.bench == "speed":
        from seal_desk.bench.speed import run_speed_bench

        return run_speed_bench(engine, args, err)
    if args.bench == "continual":
        from seal_desk.bench.continual import run_continual_bench

        return run_continual_bench(engine, args, err)
    from seal_desk.bench.knowledge import run_knowledge_bench

    return run_knowledge_bench(engine, args, err)


# arc ---------------------------------------------------------------------------------------------
def cmd_arc(args, err: Console) -> int:
    from seal_desk.cli.arc import run

    return run(args, err)


# update ------------------------------------------------------------------------------------------
def cmd_update(args, err: Console) -> int:
    from seal_desk.continual.update import run_update

    return run_update(args, err)


# learner -----------------------------------------------------------------------------------------
def cmd_learner(args, err: Console) -> int:
    from seal_desk.knowledge import self_edit as se
    from seal_desk.knowledge.documents import load_data_file
    from seal_desk.knowledge.learner import check_out, train_learner
    from seal_desk.restem.loop import without

    if args.learner not in (None, "none"):
        raise InputError("a learner is trained on the plain base model: drop --learner")
    args.learner = "none"  # not on the preset's learner either
    check_out(args.out)
    if args.write is not None:
        se.check_format(args.write)
    engine = make_engine(args, err, None)
    passages = [p for f in args.data for p in load_data_file(Path(f))]
    held_out = [p for f in args.exclude for p in load_data_file(Path(f))]
    usable = without(passages, held_out)
    if not usable:
        raise InputError("no passages with questions to train the learner on (after --exclude)")
    cfg = replace(engine.config.inner, group_by_length=True)  # passages, questions and self-edits differ in length
    err.print(f"[bold]learner[/]: {len(usable)} passages, {sum(len(p.questions) for p in usable)} questions, "
              f"r={cfg.lora.r}, lr {cfg.lr}, {cfg.epochs} epoch(s), batch {cfg.batch_size} → {args.out}")
    with RichReporter(err) as reporter:
        card = train_learner(engine, usable, cfg, args.out, [str(Path(f)) for f in args.data], args.write, reporter)
    err.print(f"saved {args.out}: loss {card['train']['first_loss']:.3f} → {card['train']['final_loss']:.3f} "
              f"in {card['train']['seconds']:.0f} s")
    return 0


# rl ----------------------------------------------------------------------------------------------
def outer_config(args, engine):
    """The outer-loop settings from the command line (paper defaults otherwise)."""
    from seal_desk.config import OuterLoopConfig

    base = OuterLoopConfig()
    over = {"rounds": args.rounds, "passages": args.passages, "eval_times": args.eval_times,
            "k": args.k if args.k is not None else base.k, "parallel": args.parallel, "sft_lr": args.sft_lr,
            "sft_epochs": args.sft_epochs, "seed": args.seed, "inner_from": args.inner_from,
            "min_grounding": getattr(args, "min_grounding", None)}
    cfg = replace(base, **{k: v for k, v in over.items() if v is not None})
    for name in ("rounds", "passages", "eval_times", "k", "parallel", "sft_epochs"):
        if getattr(cfg, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    return cfg


def cmd_rl(args, err: Console) -> int:
    from seal_desk import events as ev
    from seal_desk.knowledge.documents import load_data_file
    from seal_desk.restem.loop import RestEM, summary, without
    from seal_desk.restem.records import RlRecords

    ws = open_workspace(args)
    engine = make_engine(args, err, ws)
    cfg = outer_config(args, engine)
    engine.config = replace(engine.config, self_edit=replace(engine.config.self_edit, k=cfg.k))
    passages = [p for f in args.data for p in load_data_file(Path(f)) if p.questions]
    held_out = [p for f in args.exclude for p in load_data_file(Path(f))]
    usable = without(passages, held_out)
    if len(usable) < len(passages):
        err.print(f"[yellow]left out {len(passages) - len(usable)} training passage(s) that also appear in --exclude[/]")
    if not usable:
        raise InputError(f"{', '.join(args.data)}: no training passages with questions (after --exclude)")
    out_dir = str(Path(args.out).expanduser().resolve())
    records = RlRecords(ws, out_dir, engine.loaded.name, "; ".join(str(Path(f).resolve()) for f in args.data),
                        {"outer": summary_config(cfg), "inner": engine.config.to_dict(),
                         "learner": str(Path(engine.loaded.learner).resolve()) if engine.loaded.learner else None})
    model_name = engine.loaded.name
    load_copy = model_copier(args, model_name)
    err.print(f"[bold]rl[/]: {cfg.rounds} round(s) × {min(cfg.passages, len(usable))} passages, k={cfg.k}, "
              f"eval-times {cfg.eval_times}, {model_name} on {engine.loaded.placement.label} → {out_dir}")

    def report(event):
        if isinstance(event, ev.RewardScored):
            rewards = " ".join(f"{x:.2f}" for x in event.rewards)
            mark = "kept" if event.kept else "—"
            note = " (resumed)" if event.resumed else ""
            reporter(ev.Message(f"round {event.round} [{event.index + 1}/{event.passages}] {event.title[:36]}: "
                                f"baseline {event.baseline:.2f} · rewards {rewards} · {mark}{note}"))
        elif isinstance(event, ev.RoundFinished):
            reporter(ev.Message(f"round {event.round} done: kept {event.kept}/{event.passages}, mean reward "
                                f"{event.mean_reward:.3f} (baseline {event.mean_baseline:.3f}), generator "
                                f"{event.generator or 'unchanged (base)'}", "info"))
        elif not isinstance(event, ev.TokenGenerated):
            reporter(event)

    with RichReporter(err) as reporter:
        RestEM(engine, records, cfg, out_dir, load_copy).run(usable, report)
    result = summary(records, cfg)
    table = Table(title=f"rl — {model_name}, {out_dir}")
    for col in ("round", "passages", "candidates", "mean reward", "mean best", "baseline", "kept", "SFT loss",
                "s/passage", "generator"):
        table.add_column(col, justify="left" if col == "generator" else "right")
    for r in result["rounds"]:
        table.add_row(str(r["round"]), str(r["passages"]), str(r["candidates"]), f"{r['mean_reward']:.3f}",
                      f"{r['mean_best_reward']:.3f}", f"{r['mean_baseline']:.3f}", str(r["kept"]),
                      "—" if r["sft_loss"] is None else f"{r['sft_loss']:.3f}", f"{r['seconds_per_passage']:.1f}",
                      r["generator"] or "base")
    Console().print(table)
    write_reports(args, result, None, err)
    return 0


def summary_config(cfg) -> dict:
    from dataclasses import asdict

    return asdict(cfg)
