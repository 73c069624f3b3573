"""The help screen (?): what seal-desk does and every key."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

INTRO = (
    "seal-desk teaches a local language model your documents the SEAL way (Self-Adapting Language "
    "Models, MIT 2025): the model writes a self-edit of a passage (for example a list of its "
    "implications), a small LoRA adapter is fine-tuned on it (the inner loop), and closed-book "
    "recall on questions about the passage is compared before and after.\n\n"
    "Workflow: 1 Library: add a document and its questions → 2 Self-edits: generate, pick, edit → "
    "ctrl+t: train → 4 Recall: before and after, per question → 5 Adapters: activate, ask, export. "
    "6 RL: the outer loop (ReST-EM) teaches the model to write better self-edits. "
    "7 ARC: the few-shot mode, load ARC tasks, see their grids, solve one with test-time training. "
    "8 Forgetting: open a `seal-desk bench continual --json` report, the recall matrix per strategy.\n"
    "Every model action runs in the background; the top line shows the model and the running job.\n"
    "New here? s in the Library loads a short sample document with its questions, and a guide line above "
    "the keys says what to press next, up to the recall comparison."
)

KEYS = [
    ("", "Anywhere", ""),
    ("1 … 9", "", "Library, Self-edits, Train, Recall, Adapters, RL, ARC, Forgetting, Settings (when not typing)"),
    ("ctrl+g", "", "generate self-edits for the selected passage"),
    ("ctrl+t", "", "apply the picked self-edits and train (learn the document)"),
    ("escape", "", "cancel the running job: training stops within one step, nothing is kept"),
    ("ctrl+p", "", "command palette"),
    ("? or f1", "", "this help"),
    ("ctrl+q", "", "quit"),
    ("", "Library", ""),
    ("a / o", "", "add a path (in the path box: tab completes, enter adds) / browse for files and folders"),
    ("s", "", "load the bundled sample (invented facts, with questions) and start the guided first run"),
    ("n / e / d", "", "new / edit / delete question (d on a document removes it)"),
    ("i", "", "import a questions file into the document (JSON/JSONL, question<TAB>answer lines, Q:/A: blocks)"),
    (
        "w",
        "",
        "let the model write questions about the passage: kept when the answer is in the passage, "
        "topped up with cloze (fill-in-the-blank) questions",
    ),
    ("l", "", "learn the highlighted document (opens Self-edits)"),
    ("", "Self-edits", ""),
    ("tick / edit", "", "tick the samples to train on; edit their text freely once written"),
    ("struck out", "", "lines the grounding filter drops before training; the info line counts sequences and tokens"),
    ("", "Recall", ""),
    ("↑ ↓ / enter", "", "full answers of a question / show an older run from the history"),
    ("", "Adapters", ""),
    ("space, enter", "", "activate or deactivate the adapter (one active at a time)"),
    ("x / d", "", "export (PEFT folder or merged model) / delete"),
    ("enter", "", "in the ask box: ask the base model or the chosen adapter"),
    ("", "RL", ""),
    ("Start / esc", "", "run or resume the outer loop in the run folder / cancel (scored passages are kept)"),
    ("", "ARC", ""),
    (
        "Load / Solve",
        "",
        "read an ARC challenges JSON / solve the highlighted task (in-context, self-edit or your config); esc cancels",
    ),
    ("", "Forgetting", ""),
    ("Load", "", "read a bench continual JSON; pick a strategy to see its forgetting matrix"),
    ("", "Settings", ""),
    ("ctrl+s", "", "save (a new model or device reloads the model)"),
]


def keys_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
    table.add_column(style="bold cyan", no_wrap=True, width=13)
    table.add_column(ratio=1)
    for key, section, text in KEYS:
        if section:
            table.add_row(Text(section, style="bold"), "")
        else:
            table.add_row(key, text)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q,f1", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("Help", classes="dialog-title")
            with VerticalScroll(id="help-text"):
                yield Static(INTRO, id="help-intro")
                yield Static(keys_table(), id="help-keys")
            yield Label("escape closes", classes="dim")

    def action_close(self) -> None:
        self.dismiss(None)
