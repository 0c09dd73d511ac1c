"""Active learning with a person in the loop (the paper's ``MMV_Im2Im_Active``).

Start from very little (one annotated crop, or pseudo labels of a classical baseline), train,
rank the unlabelled crops by the model's uncertainty and their diversity, correct the top ones
on a drawing canvas in JupyterLab, save the correction as a new version, and fine-tune from the
current weights. The modules, one concern each:

- :mod:`~im2im_helpers.active.pool` — the crops of the unlabelled images (``pool.json``);
- :mod:`~im2im_helpers.active.annotations` — versioned masks on disk that never overwrite an
  earlier one (``annotations/<crop>/v0001.ome.tiff`` + ``index.json``);
- :mod:`~im2im_helpers.active.ranking` — per-crop uncertainty (TTA, MC dropout), diversity
  (near-duplicates discounted), the seeded random order;
- :mod:`~im2im_helpers.active.annotator` — a simulated annotator with a budget of edits;
- :mod:`~im2im_helpers.active.canvas` — the editing logic (paint, erase, split, merge, accept),
  the ipycanvas widget around it and a static figure for the book;
- :mod:`~im2im_helpers.active.loop` — the loop on disk: rounds, fine-tuning, proposals;
- :mod:`~im2im_helpers.active.figures` — static figures: the proposed crops with their masks
  and uncertainties, the chosen crops in their images;
- :mod:`~im2im_helpers.active.curve` — Dice against annotated crops, uncertainty vs random
  sampling over seeds, and the annotations saved.

Examples
--------
>>> loop = active.ActiveLoop(out / "active", images, active.LoopConfig(crop=64))  # doctest: +SKIP
>>> loop.annotate(loop.initial_crops(), active.SimulatedAnnotator(None), truth)  # doctest: +SKIP
>>> loop.train()                                                                # doctest: +SKIP
>>> active.AnnotationCanvas(loop.editor(loop.propose()[0]))                     # doctest: +SKIP
"""

from __future__ import annotations

from im2im_helpers.active.annotations import (
    AnnotationStore,
    MaskShapeError,
    Version,
    as_labels,
)
from im2im_helpers.active.annotator import (
    Correction,
    SimulatedAnnotator,
    edit_units,
    error_components,
    relabel,
)
from im2im_helpers.active.canvas import (
    BUTTONS,
    TOOLS,
    AnnotationCanvas,
    MaskEditor,
    static_figure,
    stroke_pixels,
)
from im2im_helpers.active.curve import Curve, learning_curve, plot_curve, savings, summarise
from im2im_helpers.active.figures import pool_figure, proposals_figure
from im2im_helpers.active.loop import (
    STRATEGIES,
    ActiveLoop,
    LoopConfig,
    LoopError,
    load_weights,
    weights_digest,
)
from im2im_helpers.active.pool import Crop, Pool, PoolError, grid_crops
from im2im_helpers.active.ranking import (
    CropScores,
    crop_features,
    crop_uncertainty,
    diverse_greedy,
    random_order,
    select_uncertain,
)

__all__ = [
    "BUTTONS", "STRATEGIES", "TOOLS", "ActiveLoop", "AnnotationCanvas", "AnnotationStore",
    "Correction", "Crop", "CropScores", "Curve", "LoopConfig", "LoopError", "MaskEditor",
    "MaskShapeError", "Pool", "PoolError", "SimulatedAnnotator", "Version", "as_labels",
    "crop_features", "crop_uncertainty", "diverse_greedy", "edit_units", "error_components",
    "grid_crops", "learning_curve", "load_weights", "plot_curve", "pool_figure",
    "proposals_figure", "random_order", "relabel",
    "savings", "select_uncertain", "static_figure", "stroke_pixels", "summarise",
    "weights_digest",
]
