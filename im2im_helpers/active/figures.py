"""Static figures of a loop for pages where widgets do not run: the crops a round proposes
(with the model's masks and uncertainties) and where the pool's crops lie in their images."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from im2im_helpers.active.loop import ActiveLoop
from im2im_helpers.viz.figures import finish_figure
from im2im_helpers.viz.overlays import label_outlines


def proposals_figure(loop: ActiveLoop, crops: Sequence[str],
                     scores: Mapping[str, float] | None = None,
                     path: str | os.PathLike | None = None,
                     title: str | None = None) -> plt.Figure:
    """The proposed crops side by side: each crop with the outlines of the mask a correction
    starts from (:meth:`ActiveLoop.proposal`), titled with its image and its uncertainty.

    Parameters
    ----------
    loop : ActiveLoop
        The loop the crops belong to.
    crops : sequence of str
        Crop ids, e.g. :meth:`ActiveLoop.propose`'s.
    scores : mapping, optional
        Crop id -> uncertainty (default: the latest round's recorded scores, if any).
    path : path-like, optional
        Where the figure is saved.
    title : str, optional
        The figure's title.
    """
    crops = list(crops)
    if not crops:
        raise ValueError(f"{loop.folder}: no crops to show; give at least one crop id.")
    if scores is None:
        scores = loop.record(loop.trained - 1).get("scores", {}) if loop.trained else {}
    fig, axes = plt.subplots(1, len(crops), figsize=(2.4 * len(crops), 2.8), squeeze=False)
    for ax, crop_id in zip(axes[0], crops):
        crop = loop.pool.crop(crop_id)
        ax.imshow(label_outlines(loop.pool.input(crop_id), loop.proposal(crop_id)))
        score = scores.get(crop_id)
        ax.set_title(f"{crop.image}\ny {crop.y}, x {crop.x}"
                     + ("" if score is None else f"\nuncertainty {score:.3f}"), fontsize=8)
        ax.set_axis_off()
    return finish_figure(fig, path, title)


def pool_figure(loop: ActiveLoop, marked: Mapping[str, Sequence[str]],
                path: str | os.PathLike | None = None,
                title: str | None = None) -> plt.Figure:
    """The pool images with the outlines of some of their crops: ``marked`` maps a legend
    label (e.g. ``"uncertainty sampling"``) to crop ids, each group drawn in its own colour.
    Only images with a marked crop are shown."""
    images = list(dict.fromkeys(loop.pool.crop(c).image for ids in marked.values() for c in ids))
    if not images:
        raise ValueError(f"{loop.folder}: no crops marked; give crop ids to draw.")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(len(images), 1, figsize=(7.0, 2.2 * len(images) + 0.6),
                             squeeze=False)
    for ax, name in zip(axes[:, 0], images):
        image = np.asarray(loop.pool.images[name], dtype=np.float32).mean(axis=0)
        ax.imshow(image, cmap="gray", vmin=np.percentile(image, 1), vmax=np.percentile(image, 99.8))
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    for k, (label, ids) in enumerate(marked.items()):
        colour = colours[k % len(colours)]
        first = True
        for crop_id in ids:
            crop = loop.pool.crop(crop_id)
            ax = axes[images.index(crop.image), 0]
            ax.add_patch(Rectangle((crop.x - 0.5 + k, crop.y - 0.5 + k), crop.size - 2 * k,
                                   crop.size - 2 * k, fill=False, edgecolor=colour,
                                   linewidth=1.5, label=label if first else None))
            first = False
    handles = [h for ax in axes[:, 0] for h in ax.patches if h.get_label()
               and not h.get_label().startswith("_")]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    return finish_figure(fig, path, title)
