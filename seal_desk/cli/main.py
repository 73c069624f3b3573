"""`seal-desk`: the TUI with no arguments; headless subcommands for batch jobs and benchmarks."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Optional

from seal_desk.config import (
    CHECKPOINTING,
    INNER_FROM,
    MIN_SEQ_LEN,
    OPTIMIZERS,
    PRECISIONS,
    RETRIEVAL_MODES,
    REWARDS,
    SELECT,
    STRATEGIES,
    ContinualConfig,
    InnerLoopConfig,
)
from seal_desk.errors import Cancelled, ModelError, SealDeskError


def _quiet_libraries() -> None:
    """Library chatter (hub progress bars, bitsandbytes kernel notices) would drown our own output."""
    import logging
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' bars follow it too
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # read when transformers is first imported
    warnings.filterwarnings("ignore")
    for name in ("bitsandbytes", "transformers", "peft", "accelerate", "huggingface_hub", "datasets", "pypdf"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "transformers" in sys.modules:  # imported already (tests): set it now; otherwise no import here (~1 s)
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        "-m",
        default=None,
        help="preset name, hub id, local HF folder or .gguf file (default: saved setting or smollm2-135m)",
    )
    g.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="default: CUDA with 4-bit QLoRA if present, else CPU fp32",
    )
    g.add_argument(
        "--quant", default="", choices=["", "nf4", "fp32", "bf16", "fp16"], help="override the weight precision"
    )
    g.add_argument("--trust-remote-code", action="store_true", help="allow model code from the hub (off by default)")
    g.add_argument(
        "--learner",
        default=None,
        metavar="DIR|none",
        help="merge a learner (from `seal-desk learner`) into the base model at load; default: the "
        "preset's, if it ships one; none: the plain base model",
    )
    g.add_argument(
        "--generator",
        dest="generator_mode",
        choices=["default", "base"],
        default="default",
        help="base: the untrained generator, i.e. the learner a SEAL-trained generator (the preset's or "
        "--learner's) started from, to compare with it",
    )
    g.add_argument("--workspace", "-w", default=None, help="workspace folder (default: the user data directory)")


def _train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("self-edits and inner loop (paper defaults)")
    g.add_argument(
        "--format",
        "-f",
        default=None,
        help="self-edit format: implications (default), implications-long, rewrite, self-qa, chain-of-thought, none",
    )
    g.add_argument("--k", type=int, default=None, help="self-edit samples per passage (their lines are pooled)")
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument(
        "--stop-loss",
        type=float,
        default=None,
        metavar="L",
        help="convergence stop: end training after an epoch whose mean loss is under L (0: every epoch)",
    )
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--rank", type=int, default=None, help="LoRA r")
    g.add_argument("--alpha", type=int, default=None, help="LoRA alpha")
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument(
        "--max-seq-len",
        type=int,
        default=None,
        metavar="N",
        help=f"longest training sequence in tokens, longer ones cut (default {InnerLoopConfig.max_seq_len}, at "
        f"least {MIN_SEQ_LEN}); lower it when the GPU runs out of memory",
    )
    g.add_argument(
        "--precision", choices=PRECISIONS, default=None, help="training matmuls (default fp32; bf16 = autocast)"
    )
    g.add_argument(
        "--gradient-checkpointing",
        choices=CHECKPOINTING,
        default=None,
        help="recompute activations in the backward pass (less memory, slower); auto: when the VRAM planner "
        "says the GPU is short (default auto)",
    )
    g.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=None,
        help="adamw (fp32 moments, default) or paged-adamw-8bit (bitsandbytes; one adapter at a time)",
    )
    g.add_argument("--max-new-tokens", type=int, default=None, help="self-edit length limit")
    g.add_argument("--temperature", type=float, default=None, help="self-edit sampling temperature (paper: 1.0)")
    g.add_argument(
        "--qa-prompt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train question-answer self-edit items as recall asks them (prompt, then the answer)",
    )
    g.add_argument(
        "--sentences",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train on each sentence of the passage alone (deterministic); the self-edit comes on top",
    )
    g.add_argument(
        "--select",
        choices=SELECT,
        default=None,
        help="k self-edit samples: pool them all (SEAL) or keep the one covering most names/numbers",
    )
    g.add_argument(
        "--min-grounding",
        type=float,
        default=None,
        metavar="F",
        help="drop self-edit lines sharing under this share of content words with the passage (0-1)",
    )
    g.add_argument("--seed", type=int, default=None)
    g.add_argument(
        "--judge", action="store_true", help="also ask the base model for a yes/no verdict per answer (off by default)"
    )


def _retrieval_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--retrieval",
        choices=RETRIEVAL_MODES,
        default=ContinualConfig.retrieval,
        help="auto: BM25 + embeddings when the embedding model is installed, else BM25",
    )


def _replay_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--replay-budget",
        type=int,
        default=ContinualConfig.replay_budget,
        metavar="N",
        help="replay strategy: most earlier sequences replayed per update",
    )


DATA_HELP = (
    "SEAL/SQuAD JSON or JSONL, a table (.csv .tsv .parquet, flat JSON/JSONL: one question per row) or a "
    "Hugging Face data set id, ID[:SPLIT] or ID:CONFIG:SPLIT (e.g. rajpurkar/squad:validation)"
)


INPUTS_HELP = (
    "or a table of passages with questions (.csv .tsv .parquet, flat JSON rows) or a Hugging Face data set id "
    "(owner/name[:split]): one document per passage"
)


def _data_columns_arg(p: argparse.ArgumentParser, what: str = "--data") -> None:
    p.add_argument(
        "--data-columns",
        default="",
        metavar="MAP",
        help=f"which columns of {what} hold what: context=COL,question=COL,answer=COL,"
        "title=COL (defaults: context, question, answers or answer, title)",
    )


def _continual_args(p: argparse.ArgumentParser) -> None:
    _replay_arg(p)
    _retrieval_arg(p)


def _cluster_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster (Ray: pip install 'seal-desk[cluster]')")
    g.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="auto|local|ADDRESS",
        help="score each passage's candidates on Ray workers, one resident model each: auto (default) joins "
        "the cluster `ray start` made, local starts one here, or the head's host:port; the workspace, "
        "selection and generator SFT stay here",
    )
    g.add_argument("--ray-workers", type=int, default=None, metavar="N", help="default: one per GPU, else per node")
    g.add_argument(
        "--ray-gpus-per-worker",
        type=float,
        default=None,
        metavar="F",
        help="GPUs per worker, a fraction to share one (default 1 when the cluster has GPUs; 0: CPU workers)",
    )
    g.add_argument(
        "--ray-cpus-per-worker",
        type=float,
        default=None,
        metavar="N",
        help="CPUs (and torch threads) per worker (default 1 beside a GPU; else the cluster's CPUs shared)",
    )


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The subparser `name` of `parser` (to add shared flags to a subcommand built elsewhere)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    raise KeyError(name)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr, as every seal-desk error is (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"seal-desk: error: {message} (see {self.prog} --help)\n")


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `low`."""

    def parse(text: str) -> int:
        value = int(text)  # a ValueError is argparse's "invalid int value"
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low} (got {value})")
        return value

    parse.__name__ = "int"
    return parse


def _environment(exc: BaseException) -> str:
    """An OS or SQLite error as one line: the file it concerns and what went wrong."""
    if isinstance(exc, OSError):
        return f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc.strerror or exc)
    return f"workspace database: {exc}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seal-desk", description=__doc__)
    parser.add_argument("--version", action="version", version=f"seal-desk {__import__('seal_desk').__version__}")
    _model_args(parser)
    sub = parser.add_subparsers(dest="command")

    models = sub.add_parser(
        "models", help="list model presets and whether each is available offline now; --vram GB plans GPU memory"
    )
    models.add_argument(
        "--vram",
        type=float,
        default=None,
        metavar="GB",
        help="GPU memory (GiB): each preset's estimated peak at k=1 and k=5 and the most candidates that fit",
    )
    models.add_argument("--breakdown", action="store_true", help="with --vram: every term of the estimate")
    models.add_argument("--checkpointing", action="store_true", help="with --vram: with gradient checkpointing")
    models.add_argument(
        "--seq-len",
        type=_at_least(1),
        default=None,
        help="with --vram: longest training sequence (default: max_seq_len)",
    )

    learn = sub.add_parser("learn", help="learn documents: self-edits, inner loop, recall before/after")
    learn.add_argument("paths", nargs="+", help=f"files or folders (.txt .md .html .pdf .json .jsonl), {INPUTS_HELP}")
    learn.add_argument(
        "--questions", "-q", default=None, help="questions file (JSON/JSONL, or 'question<TAB>answer' lines)"
    )
    learn.add_argument(
        "--generate-questions",
        type=_at_least(0),
        default=0,
        metavar="N",
        help="let the model write N questions per passage when none are given",
    )
    _data_columns_arg(learn, "tables and data sets")
    learn.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    learn.add_argument("--no-save", action="store_true", help="do not keep the adapter")
    learn.add_argument("--show-edits", action="store_true", help="stream the self-edits as they are written")
    _train_args(learn)

    ev = sub.add_parser("eval", help="closed-book recall on a document, with or without an adapter")
    ev.add_argument("path", help=f"a document file, {INPUTS_HELP}")
    ev.add_argument("--questions", "-q", default=None)
    _data_columns_arg(ev, "a table or data set")
    ev.add_argument("--adapter", type=int, default=None, help="workspace adapter id (seal-desk adapters)")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--judge", action="store_true", help="also ask the base model for a yes/no verdict per answer")

    ad = sub.add_parser("adapters", help="list, delete or export saved adapters")
    ad.add_argument("action", nargs="?", default="list", choices=["list", "delete", "export"])
    ad.add_argument("id", nargs="?", type=int)
    ad.add_argument("--to", default=None, help="export folder")
    ad.add_argument("--merged", action="store_true", help="export the base model with the adapter merged in")

    bench = sub.add_parser("bench", help="benchmarks")
    bsub = bench.add_subparsers(dest="bench", required=True)
    kn = bsub.add_parser("knowledge", help="SEAL's single-passage knowledge-incorporation protocol")
    kn.add_argument("--data", required=True, metavar="F|ID", help=f"passages with questions: {DATA_HELP}")
    _data_columns_arg(kn)
    kn.add_argument("--n", type=int, default=10, help="number of passages (seed-shuffled, first n)")
    kn.add_argument("--offset", type=int, default=0, help="skip this many selected passages first")
    kn.add_argument(
        "--order",
        choices=["seal", "file"],
        default="seal",
        help="seal: random.seed(seed) shuffle as SEAL did; file: file order",
    )
    kn.add_argument("--conditions", default="base,passage,self-edit,given-self-edits")
    kn.add_argument(
        "--self-edits", default=None, help="file whose passages carry 'self_edits', matched by content (e.g. GPT-4.1's)"
    )
    kn.add_argument(
        "--generator",
        action="append",
        default=[],
        metavar="PATH",
        help="a generator checkpoint from `seal-desk rl` (adds a SEAL row); repeat for several rounds",
    )
    kn.add_argument(
        "--inner-from",
        choices=INNER_FROM,
        default=None,
        help="SEAL rows train the inner loop on their generator (default, as SEAL's reference) or on the base",
    )
    kn.add_argument(
        "--cpt",
        action="store_true",
        help="continued pretraining: one adapter on all n passages, all their questions asked",
    )
    kn.add_argument(
        "--top-k",
        type=_at_least(1),
        default=ContinualConfig.top_k,
        metavar="K",
        help="passages retrieved per question for the rag conditions",
    )
    kn.add_argument(
        "--rag-adapter",
        default="self-edit",
        choices=["passage", "self-edit", "given-self-edits"],
        help="which condition's adapter rag+adapter uses",
    )
    _retrieval_arg(kn)
    kn.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write results JSON here")
    kn.add_argument("--markdown", default=None, metavar="OUT", help="write the table as Markdown here")
    _train_args(kn)
    _cluster_args(kn)
    tb = bsub.add_parser("table", help="one knowledge table from several `bench knowledge --json` results")
    tb.add_argument("results", nargs="+", metavar="RESULT.json")
    tb.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write the combined JSON here")
    tb.add_argument("--markdown", default=None, metavar="OUT", help="write the table as Markdown here")
    ct = bsub.add_parser("continual", help="learn N documents one after another: forgetting matrix per strategy")
    ct.add_argument(
        "--data", required=True, metavar="F|ID", help=f"passages with questions, each one document: {DATA_HELP}"
    )
    _data_columns_arg(ct)
    ct.add_argument("--sequence", type=int, default=8, metavar="N", help="documents learned one after another")
    ct.add_argument("--strategy", choices=[*STRATEGIES, "all"], default="all")
    ct.add_argument(
        "--probe",
        default=None,
        metavar="F",
        help="general-knowledge questions the base model answers (questions or data file): tracks "
        "what learning costs elsewhere",
    )
    ct.add_argument("--offset", type=int, default=0, help="skip this many selected passages first")
    ct.add_argument("--order", choices=["seal", "file"], default="seal")
    _continual_args(ct)
    ct.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write results JSON here")
    ct.add_argument("--markdown", default=None, metavar="OUT", help="write the tables as Markdown here")
    _train_args(ct)
    sp = bsub.add_parser("speed", help="generation, training and recall speed, memory and MFU on this device")
    sp.add_argument("--tokens", type=_at_least(1), default=64, help="new tokens per generation measurement")
    sp.add_argument("--compare-generate", action="store_true", help="also time transformers' generate side by side")
    sp.add_argument(
        "--compare-serial",
        action="store_true",
        help="train and evaluate k candidates one by one and batched, side by side",
    )
    sp.add_argument(
        "--candidates", type=_at_least(1), default=5, metavar="K", help="candidates for --compare-serial and batch k"
    )
    sp.add_argument(
        "--repeat",
        type=_at_least(1),
        default=1,
        metavar="N",
        help="time each generation shape N times, in rounds, and report the median (noisy machines)",
    )
    sp.add_argument(
        "--compare-reference",
        nargs="?",
        const="sample",
        default=None,
        metavar="DATA",
        help="also train the same self-edits with SEAL's reference recipe (HF Trainer, padded to 2048) and a "
        "no-padding variant, beside seal-desk's loop, with recall; DATA: passages with questions (a data file "
        "or dataset id; default: the built-in sample passage)",
    )
    sp.add_argument("--reference-n", type=int, default=3, metavar="N", help="passages for --compare-reference")
    sp.add_argument(
        "--reference-arms",
        default=None,
        metavar="ARMS",
        help="comma-separated arms of --compare-reference to run: reference, no-padding, seal-desk, stop-rule "
        "(seal-desk with the app's convergence stop) (default: all; the padded reference trains ~2048 tokens a "
        "sequence)",
    )
    sp.add_argument(
        "--reference-only",
        action="store_true",
        help="with --compare-reference: measure only that table, not generation, training and MFU",
    )
    sp.add_argument("--json", dest="json_out", default=None, metavar="OUT")
    _train_args(sp)
    up = sub.add_parser(
        "update",
        help="learn the new and changed documents of a folder since the last run (one run at a time; for cron)",
    )
    up.add_argument("dir", help="folder of documents (.txt .md .html .pdf .json .jsonl)")
    up.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=ContinualConfig.strategy,
        help=f"how documents are kept apart (default {ContinualConfig.strategy}, provisional)",
    )
    _replay_arg(up)
    up.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    _train_args(up)
    rl = sub.add_parser("rl", help="SEAL's outer loop (ReST-EM): learn to write better self-edits; resumable")
    rl.add_argument(
        "--data",
        required=True,
        action="append",
        metavar="F|ID",
        help=f"training passages with questions: {DATA_HELP}; repeatable",
    )
    _data_columns_arg(rl)
    rl.add_argument(
        "--out",
        required=True,
        help="run folder: generator checkpoints, SFT sets, summary.json; run again with the same --out to resume",
    )
    rl.add_argument("--rounds", type=int, default=2)
    rl.add_argument("--passages", type=int, default=50, help="training passages per round")
    rl.add_argument("--eval-times", type=int, default=3, help="inner-loop seeds per candidate (reward = mean recall)")
    rl.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="F",
        help="never train on passages whose content appears in F (e.g. the evaluation set); repeatable",
    )
    rl.add_argument(
        "--reward",
        choices=REWARDS,
        default=None,
        help="recall after the inner loop (paper, default) or the gold answers' mean log-probability after it "
        "(answer-logprob: no generation, continuous, cheap on a CPU)",
    )
    rl.add_argument("--parallel", type=int, default=None, help="most candidate adapters trained side by side")
    rl.add_argument("--sft-lr", type=float, default=None)
    rl.add_argument("--sft-epochs", type=int, default=None)
    rl.add_argument(
        "--inner-from",
        choices=INNER_FROM,
        default=None,
        help="after a round, train the inner loop on the new generator (default, as SEAL's reference) "
        "or always on the starting model (base)",
    )
    rl.add_argument(
        "--pack",
        default=None,
        metavar="DIR",
        help="when the rounds are done, pack their updates into one learner folder DIR (beside the learner the "
        "run started from): the SEAL-trained generator, loadable with --learner DIR",
    )
    rl.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write the reward summary JSON here")
    _train_args(rl)
    _cluster_args(rl)
    le = sub.add_parser(
        "learner",
        help="train the learner: a one-time LoRA on other documents' passages and "
        "questions that makes the model better at answering what it memorises",
    )
    le.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="F|ID",
        help=f"passages with questions: {DATA_HELP}; repeatable",
    )
    _data_columns_arg(le)
    le.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="F",
        help="never train on passages whose content appears in F (the evaluation sets); repeatable",
    )
    le.add_argument("--out", required=True, help="folder for the learner (PEFT adapter + seal_desk_learner.json)")
    le.add_argument(
        "--write",
        default=None,
        metavar="FORMAT",
        help="also teach writing self-edits in FORMAT (e.g. self-qa): each passage's prompt -> its "
        "question-answer pairs",
    )
    _train_args(le)
    sh = sub.add_parser(
        "shrink",
        help="a learner or packed generator at a lower LoRA rank (the best rank-R approximation of its "
        "update): a smaller file to ship; the card records the energy kept",
    )
    sh.add_argument("src", metavar="LEARNER", help="a learner folder (PEFT adapter + seal_desk_learner.json)")
    sh.add_argument("--rank", type=int, required=True, help="the new LoRA rank")
    sh.add_argument("--out", required=True, help="the new learner folder, beside LEARNER")
    from seal_desk.cli.arc import add_parser as add_arc_parser

    add_arc_parser(sub)
    _cluster_args(_subcommand(sub.choices["arc"], "rl"))
    return parser


def main(argv: Optional[Sequence[str]] = None, tui: Optional[Callable[[argparse.Namespace], int]] = None) -> int:
    """Run a subcommand headless; with none, `tui(args)` (seal_desk/launcher.py passes the TUI) or the help."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (one line, see _Parser)
        return exc.code if isinstance(exc.code, int) else 0
    from rich.console import Console

    err = Console(stderr=True)
    try:
        _quiet_libraries()
        if args.command is None:
            if tui is None:
                parser.print_help()
                return 0
            return tui(args)
        return dispatch(args, err)
    except SealDeskError as exc:
        from rich.markup import escape

        err.print(f"[bold red]seal-desk: error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except (OSError, sqlite3.Error) as exc:  # the environment: a full disk, a permission, a busy database
        from rich.markup import escape

        err.print(f"[bold red]seal-desk: error:[/] {escape(_environment(exc))}", highlight=False, soft_wrap=True)
        return SealDeskError.exit_code
    except KeyboardInterrupt:
        err.print("[yellow]seal-desk: interrupted; nothing partial was kept[/]")
        return Cancelled.exit_code
    except RuntimeError as exc:  # a device out of memory where no halving could help (torch.OutOfMemoryError)
        if type(exc).__name__ != "OutOfMemoryError" and "out of memory" not in str(exc):
            raise
        err.print(
            "[bold red]seal-desk: error:[/] out of GPU memory: try a smaller model, --quant nf4, fewer --k, "
            "a lower --max-seq-len, or --gradient-checkpointing on",
            highlight=False,
            soft_wrap=True,
        )
        return ModelError.exit_code


# subcommand -> (module under seal_desk.cli, handler); imported only when run
COMMANDS = {
    "models": ("learn", "cmd_models"),
    "learn": ("learn", "cmd_learn"),
    "eval": ("learn", "cmd_eval"),
    "adapters": ("learn", "cmd_adapters"),
    "bench": ("bench", "cmd_bench"),
    "rl": ("outer_loop", "cmd_rl"),
    "learner": ("outer_loop", "cmd_learner"),
    "shrink": ("outer_loop", "cmd_shrink"),
    "update": ("update", "cmd_update"),
    "arc": ("arc", "run"),
}


def dispatch(args, err) -> int:
    """Run the subcommand's handler: handler(args, err) -> exit code. Flags checked first (before any input
    is read or a model loads)."""
    import importlib

    from seal_desk.cli.setup import check_seq_len, cluster_options

    check_seq_len(getattr(args, "max_seq_len", None))
    module, name = COMMANDS[args.command]
    handler = getattr(importlib.import_module(f"seal_desk.cli.{module}"), name)
    if getattr(args, "ray", None) is None:
        return handler(args, err)
    from seal_desk.restem.cluster import requesting

    with requesting(cluster_options(args)):  # read by run_outer_loop (rl, arc rl) and bench knowledge
        return handler(args, err)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
