"""`seal-desk models`, `learn`, `eval` and `adapters`: presets, learning documents, recall, saved adapters."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seal_desk.cli.progress import RichReporter, accuracy_line, recall_table
from seal_desk.cli.setup import make_engine, open_workspace
from seal_desk.errors import InputError


def cmd_models(args, err: Console) -> int:
    from seal_desk.model.presets import DEFAULT_PRESET, all_presets
    from seal_desk.model.source import available_offline, cached_dir, random_presets, resolve

    if getattr(args, "vram", None) is not None:
        return _vram_tables(args)
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
    names = random_presets()
    if names:
        Console().print(
            f"[dim]random:NAME builds NAME's architecture with random weights (speed and memory runs, no hub): "
            f"{', '.join(names)}. `seal-desk models --vram GB` plans GPU memory.[/]"
        )
    return 0


def _vram_tables(args) -> int:
    """`models --vram GB`: each preset's estimated peak GPU memory (k=1, k=5) and the largest k that fits."""
    from dataclasses import replace

    from seal_desk.config import layered
    from seal_desk.model import vram_plan as vp
    from seal_desk.model.presets import all_presets

    if args.vram <= 0:
        raise InputError("--vram must be a positive number of GiB")
    budget = int(args.vram * vp.GiB)
    plans = []
    for name, preset in all_presets().items():
        arch = vp.architecture_of(preset)
        if arch is None:
            continue
        cfg = layered(preset)
        quant = args.quant or preset.quantization.get("cuda", "nf4")
        changes = {"checkpointing": args.checkpointing} | ({"seq_len": args.seq_len} if args.seq_len else {})
        settings = vp.settings_for(cfg.inner, cfg.self_edit, quant, cfg.recall, **changes)
        plans.append((name, preset, arch, settings))
    how = "with gradient checkpointing" if args.checkpointing else "no gradient checkpointing"
    table = Table(title=f"estimated peak GPU memory of the inner loop, GiB ({how})")
    columns = ["preset", "params", "quant, LoRA r, seq", "k=1", "k=5", f"largest k in {args.vram:g} GiB"]
    columns += [] if args.checkpointing else ["with checkpointing"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("preset", "quant, LoRA r, seq") else "right")
    for name, _, arch, settings in plans:
        one, five = (vp.estimate(arch, replace(settings, k=k)).total for k in (1, 5))
        fits = [vp.largest_k(budget, arch, settings)]
        if not args.checkpointing:
            fits.append(vp.largest_k(budget, arch, replace(settings, checkpointing=True)))
        how = f"{settings.quantization}, r={settings.lora_r}, {settings.seq_len}"
        cells = [str(k) if k else "[red]does not fit[/]" for k in fits]
        table.add_row(name, f"{arch.params / 1e9:.2f}B", how, f"{one / vp.GiB:.1f}", f"{five / vp.GiB:.1f}", *cells)
    out = Console()
    out.print(table)
    if args.breakdown:
        terms = Table(title="term by term, GiB (seal_desk/model/vram_plan.py explains each)")
        groups = {
            "weights": ("weights", "dequant"),
            "LoRA, grads, optimizer": ("LoRA weights", "LoRA grads", "optimizer"),
            "activations": ("activations", "recompute"),
            "logits": ("logits",),
            "training": ("training",),
            "generation": ("generation",),
            "total": ("total",),
        }
        for column in ("preset", "k", *groups):
            terms.add_column(column, justify="left" if column == "preset" else "right")
        for name, _, arch, settings in plans:
            for k in (1, 5):
                parts = vp.estimate(arch, replace(settings, k=k)).breakdown()
                cells = (sum(parts[key] for key in keys) / vp.GiB for keys in groups.values())
                terms.add_row(name, str(k), *(f"{cell:.2f}" for cell in cells))
        out.print(terms)
    out.print(
        "[dim]Peak = max(training, generation) + CUDA overhead; training counts the LoRA candidates' weights, "
        "grads and AdamW states, saved activations and the fp32 logits over the whole vocabulary at the "
        "longest training sequence.[/]"
    )
    return 0


def _read_inputs(paths, questions_file=None, columns=""):
    """Every document, table or data set and the questions file read and checked before the model loads: a
    typo fails at once."""
    from seal_desk.knowledge.inputs import read_inputs
    from seal_desk.knowledge.questions import load_questions

    sources = read_inputs(paths, columns)
    extra = load_questions(questions_file) if questions_file else None
    if extra is not None and len(sources) != 1:
        raise InputError("--questions needs exactly one document")
    return sources, extra


def _documents(inputs, engine):
    """The read inputs as documents, cut into passages with the model's tokenizer, questions attached."""
    from seal_desk.knowledge.documents import documents_from
    from seal_desk.knowledge.questions import attach

    sources, extra = inputs
    docs = documents_from(sources, count_tokens=engine.count_tokens, max_tokens=engine.passage_budget)
    if extra is not None:
        if len(docs) != 1:
            raise InputError("--questions needs exactly one document")
        attach(docs[0], extra)
    return docs


def _write_questions(doc, engine, n: int, err: Console) -> None:
    """`--generate-questions N`: the model's questions for each passage (checked, topped up with cloze ones),
    and one line of what was kept and dropped."""
    from seal_desk.knowledge.question_writer import WrittenQuestions

    results = []
    for passage in doc.passages:
        written = engine.write_questions(passage, n, passage.questions)
        passage.questions += written.questions
        results.append(written)
    total = WrittenQuestions.total(results)
    err.print(f"{escape(doc.title)}: {total.tally()}", style=None if total.questions else "yellow", highlight=False)


def cmd_learn(args, err: Console) -> int:
    inputs = _read_inputs(args.paths, args.questions, args.data_columns)
    ws = open_workspace(args)
    engine = make_engine(args, err, ws, interactive=True)  # a person waiting: config.INTERACTIVE's stop rule
    docs = _documents(inputs, engine)
    out = Console()
    results = []
    for doc in docs:
        if args.generate_questions and doc.n_questions == 0:
            _write_questions(doc, engine, args.generate_questions, err)
        if doc.n_questions == 0:
            err.print(
                f"[yellow]{doc.path}: no questions — learning without a recall check "
                f"(add --questions F or --generate-questions N)[/]"
            )
        err.print(
            f"[bold]Learning[/] {doc.title} ({len(doc.passages)} passage(s), {doc.n_questions} question(s)) "
            f"with {engine.loaded.name} on {engine.loaded.placement.label}"
        )
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
            out.print(
                f"[dim]self-edit {t['self_edit']:.1f}s · train {t['train']:.1f}s "
                f"({result.train.steps} steps, {result.train.tokens} tokens, loss {result.train.first_loss:.2f}"
                f"→{result.train.final_loss:.2f}) · recall {t['recall_before'] + t['recall_after']:.1f}s[/]"
            )
            if result.adapter_id:
                out.print(f"saved adapter #{result.adapter_id}: {result.adapter_path}")
    if args.json:
        print(
            json.dumps(
                {
                    "model": engine.loaded.name,
                    "device": engine.loaded.placement.label,
                    "results": [r.to_json() for r in results],
                },
                indent=2,
            )
        )
    return 0


def cmd_eval(args, err: Console) -> int:
    inputs = _read_inputs([args.path], args.questions, args.data_columns)  # before the engine (and torch) is imported
    from seal_desk.engine import asked_for

    ws = open_workspace(args)
    engine = make_engine(args, err, ws)
    docs = _documents(inputs, engine)
    adapter = engine.load_adapter(args.adapter) if args.adapter is not None else None
    questions = [q for doc in docs for q in asked_for(doc.passages)]
    if not questions:
        raise InputError(f"{args.path}: no questions to evaluate (add --questions F)")
    with RichReporter(err) as reporter:
        report = engine.recall(questions, adapter, "eval", reporter)
    if args.json:
        print(
            json.dumps(
                {
                    "accuracy": report.accuracy,
                    "lax_accuracy": report.lax_accuracy,
                    "f1": report.mean_f1,
                    "adapter": args.adapter,
                    "per_question": [
                        {
                            "question": a.asked.question,
                            "gold": a.asked.answer,
                            "answer": a.text,
                            "correct": a.grade.correct,
                            "lax": a.grade.lax_correct,
                            "f1": a.grade.f1,
                        }
                        for a in report.answers
                    ],
                },
                indent=2,
            )
        )
    else:
        Console().print(
            recall_table(f"{docs[0].title} — {'adapter #' + str(args.adapter) if adapter else 'base model'}", report)
        )
        Console().print(accuracy_line(report))
    return 0


def cmd_adapters(args, err: Console) -> int:
    import datetime

    ws = open_workspace(args)
    if args.action == "list":
        table = Table(title=f"adapters in {ws.folder}")
        for col in ("id", "name", "model", "created", "active", "path"):
            table.add_column(col)
        for a in ws.adapters():
            table.add_row(
                str(a.id),
                a.name,
                a.model,
                datetime.datetime.fromtimestamp(a.created_at).strftime("%Y-%m-%d %H:%M"),
                "yes" if a.active else "",
                a.path,
            )
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
