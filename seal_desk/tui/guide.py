"""The guided first run: the bundled sample taken through load → self-edit → apply → recall, one hint at a time.

The app holds one `Guide` while it runs and shows its `text()` in the guide bar above the footer. The
workflows move it on (`advance`) when the sample's self-edits are written, when its learn run starts and
when it ends. Every hint names keys that work from where the focus is at that step.
"""

from __future__ import annotations

from dataclasses import dataclass

STEPS = ("loaded", "written", "training", "done")


@dataclass
class Guide:
    doc_id: int
    n_questions: int
    step: str = "loaded"
    detail: str = ""  # what the last step left to say (a recall result, a cancelled run)

    def advance(self, step: str, detail: str = "") -> None:
        if step not in STEPS:
            raise ValueError(f"unknown guide step {step!r}")
        self.step, self.detail = step, detail

    @property
    def finished(self) -> bool:
        return self.step == "done"

    def text(self) -> str:
        note = f"{self.detail} · " if self.detail else ""
        if self.step == "loaded":
            return (
                f"Guide 1/3 · The sample is loaded with {self.n_questions} questions. Press ctrl+g: the model "
                "writes a self-edit of it, token by token, in the Self-edits tab."
            )
        if self.step == "written":
            return (
                f"Guide 2/3 · {note}Struck-out lines are dropped before training. Press ctrl+t: recall before "
                "→ train a LoRA adapter → recall after."
            )
        if self.step == "training":
            return (
                "Guide 3/3 · Training: the Train tab shows each step and the loss (esc cancels). The recall "
                "comparison opens when it ends."
            )
        return (
            f"Guide done · {note}▲ marks answers right only after training. Next, your own notes: 1, then "
            "a (type a path) or o (browse)."
        )
