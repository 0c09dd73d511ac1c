"""Training as it happens: a Lightning callback that reports steps and per-epoch losses to the
app (which moves its progress bar and redraws its loss plot), and the loss plot as a PNG."""

from __future__ import annotations

import io as stdio
from collections.abc import Callable

import lightning as L


class LiveProgress(L.Callback):
    """Report training to two functions.

    Parameters
    ----------
    on_step : callable
        ``on_step(step, total)`` after every training step (``total``: the steps the run
        will take).
    on_epoch : callable
        ``on_epoch(history)`` after every epoch (validation included), with ``history`` =
        ``{"train_loss": [...], "val_loss": [...]}`` (one value per epoch so far).

    Attributes
    ----------
    history : dict of str to list of float
    """

    def __init__(self, on_step: Callable[[int, int], None],
                 on_epoch: Callable[[dict[str, list[float]]], None]):
        self.on_step, self.on_epoch = on_step, on_epoch
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        total = trainer.estimated_stepping_batches
        self.on_step(int(trainer.global_step), int(total) if total != float("inf") else 0)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        logged = trainer.callback_metrics
        for key, name in (("train_loss", "train_loss_epoch"), ("val_loss", "val_loss")):
            value = logged.get(name, logged.get(key))
            if value is not None:
                self.history[key].append(float(value))
        self.on_epoch({k: list(v) for k, v in self.history.items()})


def loss_png(history: dict[str, list[float]]) -> bytes:
    """The losses per epoch as a small PNG (matplotlib without pyplot: safe from a thread)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(4.5, 2.8))
    ax = fig.add_subplot(1, 1, 1)
    for name, values in history.items():
        if values:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=name.replace("_", " "))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if any(history.values()):
        ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = stdio.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()
