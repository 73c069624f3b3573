"""The bench tables: rich tables for the terminal and Markdown for `--markdown OUT`, drawn from the
results dicts that seal_desk.bench returns."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table


# bench knowledge and bench table ----------------------------------------------------------------
def _model(result: dict) -> str:
    """The model a knowledge table measured, with the learner merged into it when there is one."""
    learner = result.get("learner")
    return f"{result['model']} + learner {Path(learner).name}" if learner else f"{result['model']} (no learner)"


def knowledge_table(result: dict) -> Table:
    table = Table(title=f"bench knowledge — {_model(result)}, n={result['n']}")
    for col in ("condition", "strict", "95% CI", "lax", "F1", "tokens/passage", "s/passage"):
        table.add_column(col, justify="left" if col == "condition" else "right")
    for s in result["conditions"].values():
        table.add_row(
            s["label"],
            f"{s['accuracy']:.1%} ({s['correct']}/{s['questions']})",
            f"{s['ci95'][0]:.1%}–{s['ci95'][1]:.1%}",
            f"{s.get('lax_accuracy', s['accuracy']):.1%}",
            f"{s['f1']:.3f}",
            f"{s['tokens_per_passage']:.0f}",
            f"{s['seconds_per_passage']:.1f}",
        )
    floor = result.get("recitation_floor")
    if floor:
        table.add_row(
            "[dim]recitation floor (random passage sentence)[/]",
            f"[dim]{floor['strict']:.1%}[/]",
            "",
            f"[dim]{floor['lax']:.1%}[/]",
            "",
            "",
            "",
        )
    return table


def knowledge_markdown(result: dict) -> str:
    lines = [
        f"Knowledge incorporation, {result.get('setting', 'single passage')}: {_model(result)} on {result['device']}, "
        f"n={result['n']} passages (seed {result['seed']}), format {result['format']}, k={result['k']}",
        "",
        "| condition | strict accuracy | 95% CI | lax | F1 | tokens trained / passage | s / passage |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in result["conditions"].values():
        lines.append(
            f"| {s['label']} | {s['accuracy']:.1%} ({s['correct']}/{s['questions']}) | "
            f"{s['ci95'][0]:.1%}–{s['ci95'][1]:.1%} | {s.get('lax_accuracy', s['accuracy']):.1%} | {s['f1']:.3f} | "
            f"{s['tokens_per_passage']:.0f} | {s['seconds_per_passage']:.1f} |"
        )
    floor = result.get("recitation_floor")
    if floor:
        lines.append(
            f"| *Recitation floor: a random passage sentence as the reply* | {floor['strict']:.1%} | | "
            f"{floor['lax']:.1%} | | | |"
        )
    lines += [""]
    rag = [s for s in result["conditions"].values() if "retrieval_hit" in s]
    if rag and result.get("retrieval"):
        r = result["retrieval"]
        lines += [
            f"Retrieval: {r['index']} over the {r['passages']} selected passages, top {r['top_k']}; the "
            f"question's own passage was retrieved for {rag[0]['retrieval_hit']:.0%} of questions.",
            "",
        ]
    lines += [f"Grading: {result['grading']}.", ""]
    return "\n".join(lines)


# bench continual --------------------------------------------------------------------------------
def _pct(x) -> str:
    return "" if x is None else f"{x:.0%}"


def _matrix_rows(result: dict, name: str) -> tuple[list[str], list[list[str]]]:
    s = result["strategies"][name]
    probe = result["probe_questions"] > 0
    header = (
        ["after update"] + [f"{j + 1}. {t[:18]}" for j, t in enumerate(result["titles"])] + (["probe"] if probe else [])
    )
    rows = [
        ["base model"]
        + [_pct(x) for x in result["base"]["per_document"]]
        + ([_pct(result["base"]["probe"])] if probe else [])
    ]
    for t, row in enumerate(s["matrix"]):
        rows.append([f"{t + 1}"] + [_pct(x) for x in row] + ([_pct(s["probe"][t])] if probe else []))
    return header, rows


def _summary_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    probe = result["probe_questions"] > 0
    header = ["strategy", "learned (diag.)", "at the end", "mean drop", "max drop"]
    header += (["probe start → end"] if probe else []) + ["routed right", "s / update"]
    rows = []
    for name, s in result["strategies"].items():
        r = s["retention"]
        row = [name, _pct(r["mean_learned"]), _pct(r["mean_final"]), f"{r['mean_drop']:+.0%}", f"{r['max_drop']:+.0%}"]
        if probe:
            row.append(f"{_pct(result['base']['probe'])} → {_pct(s['probe'][-1])}")
        routing = [x for x in s["routing"] if x is not None]
        row += [_pct(sum(routing) / len(routing)) if routing else "—", f"{s['seconds'] / max(1, len(s['matrix'])):.1f}"]
        rows.append(row)
    return header, rows


def matrix_table(result: dict, name: str) -> Table:
    return _rich(
        f"forgetting matrix — {name} ({result['model']}, n={result['n']}): recall of each document",
        *_matrix_rows(result, name),
    )


def summary_table(result: dict) -> Table:
    return _rich(
        "retention: recall right after learning a document vs at the end (drop over earlier documents)",
        *_summary_rows(result),
    )


def _rich(title: str, header: list[str], rows: list[list[str]]) -> Table:
    """A rich table of text rows: the first column (row labels) left-aligned, figures right-aligned."""
    table = Table(title=title)
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def continual_markdown(result: dict) -> str:
    def md(header, rows):
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
            "| " + " | ".join(r) + " |" for r in rows
        ]

    lines = [
        f"Continual learning: {result['model']} on {result['device']}, {result['n']} documents in sequence "
        f"(seed {result['seed']}), format {result['format']}, k={result['k']}, replay budget "
        f"{result['replay_budget']}, routing retrieval {result['routing_retrieval']}",
        "",
    ]
    for name in result["strategies"]:
        lines += [f"**{name}** — recall of each document (columns) after each update (rows):", ""]
        lines += md(*_matrix_rows(result, name)) + [""]
    lines += md(*_summary_rows(result))
    lines += ["", f"Grading: {result['grading']}.", ""]
    return "\n".join(lines)


# bench speed ------------------------------------------------------------------------------------
def speed_table(result) -> Table:
    """One row per measure of a SpeedResult."""
    table = Table(title=f"bench speed — {result.model}, {result.device}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.measures.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    return table


def reference_table(reference: dict) -> Table:
    """--compare-reference: one row per arm (SEAL's reference recipe, its no-padding variant, seal-desk)."""
    table = Table(title=f"inner loop beside SEAL's reference recipe — {len(reference['passages'])} passage(s)")
    for name in ("arm", "s / candidate", "tokens trained", "of which text", "recall", "× seal-desk time"):
        table.add_column(name, justify="left" if name == "arm" else "right")
    for row in reference["arms"]:
        table.add_row(
            row["arm"],
            f"{row['s_per_candidate']:.1f}",
            f"{row['tokens_per_candidate']:,}",
            f"{row['content_tokens_per_candidate']:,}",
            f"{row['recall']:.1%} ({row['correct']}/{row['questions']})",
            "—" if row["times_seal_desk"] is None else f"{row['times_seal_desk']:.1f}",
        )
    return table
