"""Uncertainty maps and whether they mean something.

:mod:`~im2im_helpers.uncertainty.maps` makes per-pixel and per-image uncertainty from
test-time augmentation (:func:`tta`), Monte-Carlo dropout (:func:`mc_dropout`), deep
ensembles (:func:`ensemble`) and the samples of a diffusion model (:func:`diffusion`);
:mod:`~im2im_helpers.uncertainty.files` saves a map as OME-TIFF next to its prediction
(:func:`save`, :func:`beside`);
:mod:`~im2im_helpers.uncertainty.evaluation` checks it on held-out data (Spearman correlation of
patch uncertainty and patch error, sparsification curves and AUSE, per-object confidence of a
segmentation); :mod:`~im2im_helpers.uncertainty.summary` writes ``uncertainty.json``.

Examples
--------
>>> result = uncertainty.tta(model, image, roi=(128, 128))          # doctest: +SKIP
>>> uncertainty.save(result, uncertainty.beside(prediction_file))    # doctest: +SKIP
>>> err = uncertainty.error_map(result.mean, target)                 # doctest: +SKIP
>>> uncertainty.spearman_patches(result.std, err, patch=32).rho      # doctest: +SKIP
"""

from __future__ import annotations

from im2im_helpers.uncertainty.evaluation import (
    ERRORS,
    FRACTIONS,
    ObjectConfidence,
    PatchCorrelation,
    Sparsification,
    auroc,
    error_map,
    object_confidence,
    patch_means,
    sparsification,
    spearman_patches,
)
from im2im_helpers.uncertainty.files import beside, save
from im2im_helpers.uncertainty.maps import (
    METHODS,
    UncertaintyMap,
    diffusion,
    dropout_active,
    dropout_layers,
    ensemble,
    mc_dropout,
    tta,
    tta_members,
)
from im2im_helpers.uncertainty.summary import (
    FILENAME,
    check_summary,
    read_summary,
    summarize,
    write_summary,
)

__all__ = [
    "ERRORS", "FILENAME", "FRACTIONS", "METHODS", "ObjectConfidence", "PatchCorrelation",
    "Sparsification", "UncertaintyMap", "auroc", "beside", "check_summary", "diffusion",
    "dropout_active",
    "dropout_layers", "ensemble", "error_map", "mc_dropout", "object_confidence", "patch_means",
    "read_summary", "save", "spearman_patches", "sparsification", "summarize", "tta",
    "tta_members", "write_summary",
]
