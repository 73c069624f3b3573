"""`seal-desk bench knowledge|table|continual|speed`: the typed options from the flags, a one-line plan,
progress while seal_desk.bench runs, then the tables and the --json/--markdown files."""

from __future__ import annotations

from rich.console import Console

from seal_desk.cli.bench_tables import (
    continual_markdown,
    knowledge_markdown,
    knowledge_table,
    matrix_table,
    reference_table,
    speed_table,
    summary_table,
)
from seal_desk.cli.progress import RichReporter
from seal_desk.cli.reports import write_reports
from seal_desk.cli.setup import make_engine, model_copier
from seal_desk.errors import InputError
from seal_desk.events import ContinualRecall, Message


def cmd_bench(args, err: Console) -> int:
    handler = {"knowledge": bench_knowledge, "table": bench_table, "continual": bench_continual, "speed": bench_speed}[
        args.bench
    ]
    return handler(args, err)


def _seed(args) -> int:
    return args.seed if args.seed is not None else 42


def knowledge_options(args):
    from seal_desk.bench.knowledge import KnowledgeBenchOptions

    return KnowledgeBenchOptions(
        data=args.data,
        n=args.n,
        offset=args.offset,
        order=args.order,
        conditions=tuple(c.strip() for c in args.conditions.split(",") if c.strip()),
        self_edits=args.self_edits,
        generators=tuple(args.generator or ()),
        inner_from=args.inner_from or "generator",
        cpt=args.cpt,
        top_k=args.top_k or 3,
        rag_adapter=args.rag_adapter or "self-edit",
        retrieval=args.retrieval or "auto",
        seed=_seed(args),
        data_columns=getattr(args, "data_columns", "") or "",
    )


def bench_knowledge(args, err: Console) -> int:
    from seal_desk.knowledge.data import load_data

    data = load_data(args.data, args.data_columns)  # before torch and the model: a typo fails at once
    if args.self_edits:
        load_data(args.self_edits)
    from seal_desk.bench.knowledge import KnowledgeBench
    from seal_desk.model.loader import load

    options = knowledge_options(args)
    engine = make_engine(args, err, None)
    bench = KnowledgeBench(engine, options, lambda path: load(path, args.device, args.quant), data=data)
    index = bench.index
    err.print(
        f"[bold]bench knowledge[/]: {len(bench.passages)} passages, conditions {', '.join(bench.conditions)}, "
        f"{engine.loaded.name} on {engine.loaded.placement.label}, format {bench.fmt}, k={bench.k}"
        + (", continued pretraining (one adapter for all passages)" if bench.cpt else "")
        + (f", retrieval {index.label} over {len(index)} passages, top {bench.top_k}" if index else "")
    )
    with RichReporter(err) as reporter:
        result = bench.run(reporter)
    Console().print(knowledge_table(result))
    write_reports(args, result, knowledge_markdown, err)
    return 0


def bench_table(args, err: Console) -> int:
    """Read the results, print the combined table, write --json/--markdown."""
    from seal_desk.bench.combine import combine, read_results

    result = combine(read_results(args.results))
    Console().print(knowledge_table(result))
    write_reports(args, result, knowledge_markdown, err)
    return 0


def bench_continual(args, err: Console) -> int:
    from seal_desk.config import STRATEGIES
    from seal_desk.knowledge.data import load_data

    data = load_data(args.data, args.data_columns)  # before torch and the model: a typo fails at once
    from seal_desk.bench.continual import ContinualBench, ContinualBenchOptions, load_probe

    options = ContinualBenchOptions(
        data=args.data,
        sequence=args.sequence,
        strategies=tuple(STRATEGIES) if args.strategy == "all" else (args.strategy,),
        probe=args.probe,
        offset=args.offset,
        order=args.order,
        replay_budget=args.replay_budget,
        retrieval=args.retrieval,
        seed=_seed(args),
        data_columns=args.data_columns or "",
    )
    probe = load_probe(options.probe) if options.probe else []  # before the model too
    engine = make_engine(args, err, None)
    bench = ContinualBench(engine, options, data=data, probe=probe)
    err.print(
        f"[bold]bench continual[/]: {len(bench.docs)} documents in sequence, strategies "
        f"{', '.join(bench.strategies)}, {engine.loaded.name} on {engine.loaded.placement.label}, "
        f"format {bench.fmt}, k={bench.k}" + (f", probe {len(bench.probe)} questions" if bench.probe else "")
    )
    with RichReporter(err) as reporter:

        def report(event):
            if isinstance(event, ContinualRecall):
                cells = " ".join(f"{a:.0%}" for a in event.accuracies)
                probe_note = f" · probe {event.probe:.0%}" if event.probe is not None else ""
                reporter(
                    Message(
                        f"{event.strategy} after {event.update + 1}/{event.updates} "
                        f"({event.title[:30]}): {cells}{probe_note}"
                    )
                )
            else:
                reporter(event)

        result = bench.run(report)
    out = Console()
    for name in result["strategies"]:
        out.print(matrix_table(result, name))
    out.print(summary_table(result))
    write_reports(args, result, continual_markdown, err)
    return 0


def reference_arms(text: str | None) -> tuple:
    """--reference-arms "reference,no-padding,seal-desk,stop-rule" as reference_recipe.ARMS names (() = all), or
    one line."""
    from seal_desk.bench.reference_recipe import ARMS

    if text is None:
        return ()
    names = {"reference": ARMS[0], "no-padding": ARMS[1], "seal-desk": ARMS[2], "stop-rule": ARMS[3]}
    asked = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in asked if a not in names]
    if unknown or not asked:
        raise InputError(f"--reference-arms: {', '.join(unknown) or 'none given'}; choose from {', '.join(names)}")
    return tuple(arm for key, arm in names.items() if key in asked)


def bench_speed(args, err: Console) -> int:
    import torch

    from seal_desk.bench.speed import SAMPLE, SpeedBenchOptions, run_speed_bench

    reference = ()
    if args.compare_reference:  # read before the model loads
        if args.reference_n < 1:
            raise InputError("--reference-n must be at least 1")
        if args.compare_reference == "sample":
            reference = (SAMPLE,)
        else:
            from seal_desk.knowledge.data import load_data

            reference = tuple(p for p in load_data(args.compare_reference) if p.questions)[: args.reference_n]
            if not reference:
                raise InputError(f"{args.compare_reference}: no passage with questions")
    arms = reference_arms(args.reference_arms)
    if (arms or args.reference_only) and not reference:
        raise InputError("--reference-arms and --reference-only go with --compare-reference")
    engine = make_engine(args, err, None)
    options = SpeedBenchOptions(
        tokens=args.tokens,
        candidates=args.candidates,
        compare_generate=args.compare_generate,
        compare_serial=args.compare_serial,
        repeat=args.repeat,
        reference=reference,
        reference_arms=arms,
        reference_only=args.reference_only,
    )
    base = (lambda: model_copier(args, engine.loaded.name)().model) if reference else None
    err.print(
        f"[bold]bench speed[/]: {engine.loaded.name} on {engine.loaded.placement.label}, "
        f"{torch.get_num_threads()} CPU thread(s), {options.tokens} new tokens, k={options.candidates}, "
        f"training in {engine.config.inner.precision}"
    )

    def say(event):
        if isinstance(event, Message):
            err.print(event.text)

    result = run_speed_bench(engine, options, say, reference_base=base)
    Console().print(speed_table(result))
    if result.reference:
        Console().print(reference_table(result.reference))
    if args.json_out:
        write_reports(args, result.to_json(), None, err)
    return 0
