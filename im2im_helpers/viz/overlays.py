"""Segmentation figures: instance outlines in colour, semantic masks coloured by agreement
with the ground truth, and a threshold explorer (ipywidgets slider plus a static figure, since
widgets do not render in the book)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from im2im_helpers.metrics import dice
from im2im_helpers.viz.figures import finish_figure, panel_grid, plane_of, static_and_slider

#: Colours of :func:`masks`: true positives, false positives, false negatives (RGB, 0-1).
AGREEMENT_COLOURS = {"correct": (0.2, 0.8, 0.2), "extra": (0.95, 0.2, 0.2),
                     "missed": (0.2, 0.5, 1.0)}


def _grey_rgb(image: np.ndarray) -> np.ndarray:
    """A display copy of an image: one plane, percentile-stretched, as RGB in [0, 1]. Three
    channels are shown as colour (RGB histology), anything else as grey."""
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 3 and x.shape[0] == 3:
        rgb = np.moveaxis(x, 0, -1)
    else:
        rgb = np.repeat(plane_of(x)[..., None], 3, axis=-1)
    lo, hi = np.percentile(rgb, (1, 99.5))
    return np.clip((rgb - lo) / (hi - lo or 1.0), 0, 1)


def _grid(panels: Mapping[str, np.ndarray], crop: tuple[slice, slice] | None,
          path: str | os.PathLike | None, title: str | None, note: str | None = None
          ) -> plt.Figure:
    """RGB panels in a grid (4 columns, 2 for wide images), titled by their keys."""
    if crop is not None:
        panels = {k: v[crop] for k, v in panels.items()}
    fig, axes = panel_grid(len(panels), *next(iter(panels.values())).shape[:2], columns=4,
                           extra=1.0)
    for ax, (name, rgb) in zip(axes.flat, panels.items()):
        ax.imshow(rgb)
        ax.set_title(name, fontsize=10)
    if note:
        fig.text(0.5, 0.0, note, ha="center", fontsize=9)
    return finish_figure(fig, path, title)


def label_outlines(image: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """RGB picture of ``image`` with the outline of every object of ``labels`` in its own
    colour (a seeded random colour per label, so neighbouring objects differ).

    ``labels`` is a 2D label image, or 3D (its middle plane is shown, as for ``image``).
    """
    from skimage.segmentation import find_boundaries

    rgb = _grey_rgb(image)
    lab = plane_of(labels).astype(np.int64)
    if lab.shape != rgb.shape[:2]:
        raise ValueError(f"labels {lab.shape} and image {rgb.shape[:2]} differ in shape.")
    colours = np.random.default_rng(seed).uniform(0.25, 1.0, (int(lab.max()) + 1, 3))
    edge = find_boundaries(lab, mode="inner")
    rgb[edge] = colours[lab[edge]]
    return rgb


def instances(image: np.ndarray, labels: Mapping[str, np.ndarray],
              crop: tuple[slice, slice] | None = None, path: str | os.PathLike | None = None,
              title: str | None = None) -> plt.Figure:
    """One panel per label image (e.g. ground truth | Otsu + watershed | embedding): the image
    with instance outlines in colour, and the object count in each title.

    Parameters
    ----------
    image : numpy.ndarray
        The input, ``(C, Y, X)``, ``(Y, X)`` or 3D (middle plane shown).
    labels : mapping
        Panel title -> label image of the same spatial shape.
    crop : (slice, slice), optional
        Show only this region (a zoom).
    path : path-like, optional
        Save the figure here (PNG).
    """
    panels = {name: label_outlines(image, lab) for name, lab in labels.items()}
    counts = {name: len(np.unique(lab)) - int((np.asarray(lab) == 0).any())
              for name, lab in labels.items()}
    panels = {f"{name} ({counts[name]} objects)": rgb for name, rgb in panels.items()}
    return _grid(panels, crop, path, title)


def agreement(image: np.ndarray, mask: np.ndarray, truth: np.ndarray,
              alpha: float = 0.45) -> np.ndarray:
    """RGB picture of ``image`` with a predicted foreground ``mask`` coloured against the
    ground truth: green where both say object, red where only the prediction does (extra),
    blue where only the truth does (missed); see :data:`AGREEMENT_COLOURS`."""
    rgb = _grey_rgb(image)
    pred, true = plane_of(mask) > 0.5, plane_of(truth) > 0.5
    for key, where in (("correct", pred & true), ("extra", pred & ~true),
                       ("missed", ~pred & true)):
        rgb[where] = (1 - alpha) * rgb[where] + alpha * np.asarray(AGREEMENT_COLOURS[key])
    return rgb


def masks(image: np.ndarray, predictions: Mapping[str, np.ndarray], truth: np.ndarray,
          crop: tuple[slice, slice] | None = None, path: str | os.PathLike | None = None,
          title: str | None = None) -> plt.Figure:
    """One panel per predicted foreground mask, coloured by :func:`agreement` with ``truth``,
    with its Dice in the title, after a panel of the image itself."""
    panels = {"image": _grey_rgb(image)}
    for name, mask in predictions.items():
        panels[f"{name}, Dice {dice(mask, truth):.3f}"] = agreement(image, mask, truth)
    return _grid(panels, crop, path, title, note="green: correct   red: extra (false "
                 "positive)   blue: missed (false negative)")


def dice_by_threshold(probabilities: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                      thresholds: Sequence[float]) -> np.ndarray:
    """Mean Dice over images of ``probability > t`` for every threshold ``t`` (a channel axis of
    size 1 is dropped from both)."""
    pairs = [(plane_of(p), plane_of(y)) for p, y in zip(probabilities, truths)]
    return np.array([np.mean([dice(p > t, y) for p, y in pairs]) for t in thresholds])


def threshold_explorer(image: np.ndarray, probability: np.ndarray, truth: np.ndarray,
                       thresholds: Sequence[float] = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2)),
                       static_threshold: float = 0.5, crop: tuple[slice, slice] | None = None,
                       path: str | os.PathLike | None = None):
    """How the foreground threshold on a probability map changes the mask and its Dice.

    Always draws a static figure (Dice against threshold, and the mask at
    ``static_threshold`` coloured by :func:`agreement`), so the notebook shows it where widgets
    do not render; returns a slider widget that redraws the mask for another threshold (or
    ``None`` without ipywidgets).
    """
    curve = dice_by_threshold([probability], [truth], thresholds)

    def draw(t: float) -> plt.Figure:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2),
                                          gridspec_kw={"width_ratios": [1, 1.4]})
        left.plot(thresholds, curve, marker="o", ms=3)
        left.axvline(t, color="k", lw=1, ls="--")
        left.set_xlabel("threshold on the probability")
        left.set_ylabel("Dice")
        left.set_title("Dice against threshold")
        mask = plane_of(probability) > t
        rgb = agreement(image, mask, truth)
        right.imshow(rgb[crop] if crop is not None else rgb)
        right.set_title(f"threshold {t:.2f}: Dice {dice(mask, plane_of(truth)):.3f}", fontsize=10)
        right.axis("off")
        fig.tight_layout()
        return fig

    closest = min(thresholds, key=lambda t: abs(t - static_threshold))
    return static_and_slider(draw, static_threshold, path, lambda widgets: widgets.SelectionSlider(
        options=list(thresholds), value=closest, description="threshold"))


def embedding_maps(image: np.ndarray, embeddings: np.ndarray, pixel_size: float,
                   crop: tuple[slice, slice] | None = None, step: int = 6,
                   min_seediness: float = 0.3, path: str | os.PathLike | None = None,
                   title: str | None = None) -> plt.Figure:
    """What a spatial-embedding network predicts for a 2D image, in three panels: its offsets
    as arrows (every ``step``-th pixel of the objects, from the pixel to the centre it points
    at), the seediness map, and where the object pixels land once moved by their offsets (the
    embeddings: the pixels of one object pile up at its centre, which the clustering finds).

    Parameters
    ----------
    image : numpy.ndarray
        The input, ``(C, Y, X)`` or ``(Y, X)``.
    embeddings : numpy.ndarray
        The network's outputs for ``image`` as
        :meth:`~im2im_helpers.tasks.InstanceEmbedding.embed` returns them: ``(2 + S + 1, Y, X)``,
        offsets (y, x) in embedding units, ``S`` bandwidths, the seediness last.
    pixel_size : float
        Embedding units per pixel (the task's ``hparams.pixel_size``): offsets divided by it are
        pixels.
    crop : (slice, slice), optional
        Show only this region (a zoom): arrows are easier to read on a few objects.
    step : int
        Draw an arrow at every ``step``-th pixel along each axis.
    min_seediness : float
        Arrows and embeddings are drawn for pixels at least this seedy (the objects; background
        offsets mean nothing).
    path : path-like, optional
        Save the figure here (PNG).
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 3 or embeddings.shape[0] < 4:
        raise ValueError(f"embeddings of shape {embeddings.shape}: expected 2D embeddings "
                         "(2 offsets, bandwidths, seediness; Y, X) from InstanceEmbedding.embed.")
    rgb = _grey_rgb(image)
    if rgb.shape[:2] != embeddings.shape[1:]:
        raise ValueError(f"embeddings {embeddings.shape[1:]} and image {rgb.shape[:2]} differ.")
    crop = crop or (slice(None), slice(None))
    rgb, emb = rgb[crop], embeddings[(slice(None), *crop)]
    offsets, seed = emb[:2] / pixel_size, emb[-1]  # offsets in pixels
    yy, xx = np.indices(seed.shape)
    sampled = np.zeros(seed.shape, bool)
    sampled[::step, ::step] = True
    arrows = sampled & (seed >= min_seediness)
    objects = seed >= min_seediness
    fig, axes = panel_grid(3, *seed.shape, columns=3, extra=1.0)
    axes = axes.flat
    axes[0].imshow(rgb)
    axes[0].quiver(xx[arrows], yy[arrows], offsets[1][arrows], offsets[0][arrows],
                   seed[arrows], cmap="autumn", angles="xy", scale_units="xy", scale=1,
                   width=0.006)
    axes[0].set_title("offsets: each pixel points at its centre", fontsize=10)
    shown = axes[1].imshow(seed, cmap="magma", vmin=0, vmax=1)
    fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.02)
    axes[1].set_title("seediness (1: sure it hits a centre)", fontsize=10)
    axes[2].imshow(rgb * 0.5)
    axes[2].scatter((xx + offsets[1])[objects], (yy + offsets[0])[objects], s=1,
                    c=seed[objects], cmap="autumn", vmin=0, vmax=1, alpha=0.5, linewidths=0)
    axes[2].set_xlim(-0.5, seed.shape[1] - 0.5)
    axes[2].set_ylim(seed.shape[0] - 0.5, -0.5)
    axes[2].set_title("embeddings: pixel + offset", fontsize=10)
    return finish_figure(fig, path, title)
