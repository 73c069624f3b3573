"""Surviving out of memory: work runs at a size (candidates, rows, a batch); on a device
out-of-memory error the memory is freed, the size halves and the work runs again, with one warning
line per halving. At size 1 it gives up with a one-line ModelError instead of a traceback.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

import torch

from seal_desk.errors import ModelError
from seal_desk.events import EventSink, Message, ignore

T = TypeVar("T")
ADVICE = "try a smaller model, shorter passages (a lower --max-seq-len), or --quant nf4"


def is_oom(exc: BaseException) -> bool:
    """A device allocator ran out of memory (CUDA's OutOfMemoryError, or a RuntimeError saying so, as MPS raises)."""
    return isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc))


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class Halving:
    """A size that halves on out-of-memory and stays halved for the next calls.

    `unit` names what is counted, with `{s}` where the plural takes an s: "candidate{s}".
    """

    def __init__(self, size: int, unit: str, on_event: EventSink = ignore) -> None:
        self.size, self.unit, self.on_event = max(1, size), unit, on_event

    def run(self, work: Callable[[int], T]) -> T:
        """`work(size)`, run again at half the size after each out-of-memory error."""
        while True:
            try:
                return work(self.size)
            except Exception as exc:
                if not is_oom(exc):
                    raise
            self._halve()  # after the except block, so the failed try's tensors (held by its traceback) are gone

    def over(self, n: int, work: Callable[[int, int], T]) -> list[T]:
        """`work(start, stop)` over consecutive ranges covering range(n), each at most `size` long; a range
        that runs out of memory is run again shorter, the ones done stay done."""
        self.size = min(self.size, max(1, n))
        out, start = [], 0
        while start < n:
            kept, tail = self.size, n - start
            self.size = min(kept, tail)  # a short last range: the size tried is the size halved on failure
            out.append(self.run(lambda size, start=start: work(start, min(n, start + size))))
            start = min(n, start + self.size)
            if self.size == tail < kept:  # the short range fitted: later calls keep the earlier size
                self.size = kept
        return out

    def _count(self, n: int) -> str:
        return f"{n} {self.unit.format(s='' if n == 1 else 's')}"

    def _halve(self) -> None:
        free_memory()
        if self.size <= 1:
            raise ModelError(f"out of GPU memory even with {self._count(1)} at once: {ADVICE}")
        old, self.size = self.size, (self.size + 1) // 2
        self.on_event(
            Message(f"out of GPU memory with {self._count(old)} at once; retrying with {self.size}", "warning")
        )
