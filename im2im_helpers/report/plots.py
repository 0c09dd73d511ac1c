"""The report's own pictures: loss curves from a run's log, the uncertainty's sparsification
curve (drawn with :mod:`im2im_helpers.viz`, returned as PNG bytes)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from im2im_helpers import viz

#: Terms that :func:`im2im_helpers.viz.loss_curves` draws; the other logged terms get panels of
#: their own.
MAIN_TERMS = ("train_loss", "val_loss")
#: At most this many other logged terms are drawn (a GAN logs a handful).
MAX_TERMS = 8


def other_terms(history: Mapping) -> list[str]:
    """Logged terms besides the training and validation loss (``NAME`` of ``NAME_epoch``)."""
    names = {k.removesuffix("_epoch").removesuffix("_step") for k in history}
    return sorted(n for n in names - set(MAIN_TERMS))[:MAX_TERMS]


def loss_pictures(history: Mapping) -> list[tuple[bytes, str]]:
    """``(png, caption)`` of the loss per epoch (linear and log scale) and of every other
    logged term; empty when nothing was logged per epoch."""
    out = []
    if "train_loss_epoch" in history or "val_loss" in history:
        out.append((viz.png_bytes(viz.loss_curves(history)),
                    "Training and validation loss per epoch (linear and log scale)"))
    others = [n for n in other_terms(history)
              if history.get(f"{n}_epoch", history.get(n))]
    if others:
        out.append((viz.png_bytes(viz.loss_terms(history, names=others)),
                    "Other logged terms per epoch: " + ", ".join(others)))
    return out


def sparsification_picture(record: Mapping) -> bytes | None:
    """The sparsification curves of an uncertainty summary (error left after removing the most
    uncertain pixels or images first: the model's order, the oracle's, a random one), or
    ``None`` when the summary has none."""
    curves = record.get("sparsification")
    if not isinstance(curves, Mapping) or not isinstance(curves.get("fractions"), list):
        return None
    fractions = curves["fractions"]
    lines = {name: {f: math.nan if v is None else v for f, v in zip(fractions, curves[name])}
             for name in ("model", "oracle", "random")
             if isinstance(curves.get(name), list) and len(curves[name]) == len(fractions)}
    if not lines:
        return None
    fig = viz.sweep(lines, "fraction removed (most uncertain first)",
                    f"error left ({record.get('metric', 'error')})", logx=False,
                    title="Sparsification")
    return viz.png_bytes(fig)
