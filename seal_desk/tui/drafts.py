"""Self-edit drafts: the samples the model wrote for a passage, which ones the user picked, edits."""

from __future__ import annotations

from dataclasses import dataclass, field

from seal_desk.errors import InputError


@dataclass
class Draft:
    text: str = ""
    use: bool = False
    done: bool = False
    edited: bool = False


@dataclass
class PassageDrafts:
    fmt: str
    samples: list[Draft] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return bool(self.samples) and all(d.done for d in self.samples)


class Drafts:
    """Drafts keyed by (document id, passage index, format)."""

    def __init__(self) -> None:
        self._by: dict[tuple[int, int, str], PassageDrafts] = {}

    def get(self, doc_id: int, idx: int, fmt: str) -> PassageDrafts | None:
        return self._by.get((doc_id, idx, fmt))

    def start(self, doc_id: int, idx: int, fmt: str, k: int) -> PassageDrafts:
        drafts = PassageDrafts(fmt, [Draft(use=(i == 0)) for i in range(k)])
        self._by[(doc_id, idx, fmt)] = drafts
        return drafts

    def discard(self, doc_id: int, idx: int, fmt: str) -> None:
        self._by.pop((doc_id, idx, fmt), None)

    def forget_document(self, doc_id: int) -> None:
        for key in [k for k in self._by if k[0] == doc_id]:
            del self._by[key]

    def count(self, doc_id: int, fmt: str) -> int:
        return sum(1 for (d, _i, f), v in self._by.items() if d == doc_id and f == fmt and v.done)

    def chosen(self, doc_id: int, fmt: str) -> dict[int, list[str]]:
        """Passage index -> the picked (possibly edited) texts, for passages that have finished drafts."""
        out: dict[int, list[str]] = {}
        for (d, idx, f), drafts in sorted(self._by.items()):
            if d != doc_id or f != fmt or not drafts.done:
                continue
            texts = [s.text.strip() for s in drafts.samples if s.use and s.text.strip()]
            if not texts:
                raise InputError(f"passage {idx + 1}: pick at least one non-empty sample (or write new ones)")
            out[idx] = texts
        return out
