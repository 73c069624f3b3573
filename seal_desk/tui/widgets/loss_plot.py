"""A live loss curve (textual-plotext), redrawn at most a few times a second."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class LossPlot(PlotextPlot):
    """Training loss per step; `add` is cheap, drawing happens on a timer when data changed."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.epoch_starts: list[int] = []
        self._epoch = 0
        self._dirty = True

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(0.25, self._redraw_if_dirty)
        self._draw()

    def reset(self) -> None:
        self.steps, self.losses, self.epoch_starts = [], [], []
        self._dirty = True
        self._draw()

    def add(self, step: int, loss: float, epoch: int) -> None:
        if self.steps and epoch != self._epoch:
            self.epoch_starts.append(step)
        self._epoch = epoch
        self.steps.append(step)
        self.losses.append(loss)
        self._dirty = True

    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self._draw()

    def _draw(self) -> None:
        self._dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("training loss")
        plt.xlabel("step")
        if self.steps:
            plt.plot(self.steps, self.losses, marker="braille")
            if (
                self.epoch_starts
                and len(self.steps) / (len(self.epoch_starts) + 1) >= 4
                and len(self.epoch_starts) <= 20
            ):
                for step in self.epoch_starts:
                    plt.vline(step, "gray")
        else:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
        self.refresh()
