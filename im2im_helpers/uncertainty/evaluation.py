"""Does an uncertainty map mean something? Checks on held-out images with known targets.

* :func:`spearman_patches`: rank correlation of the mean uncertainty and the mean error of
  image patches (a map that means something ranks the bad patches high);
* :func:`sparsification`: the mean error of the pixels kept after discarding the most
  uncertain ones, against the oracle that discards the largest errors and against random
  discarding; AUSE, the area between the model's and the oracle's curves, sums it up;
* :func:`object_confidence`: for segmentation, each predicted object's confidence against
  whether it matches a true object (IoU >= 0.5), summed up by the AUROC.

Every function takes one image or a sequence of images (pixels and patches pooled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from im2im_helpers import metrics

#: Error measures of :func:`error_map`, with the names written into summaries.
ERRORS = {"absolute": "absolute error", "squared": "squared error"}

#: Default discarded fractions of :func:`sparsification`: 0, 0.02, ..., 0.98.
FRACTIONS = tuple(round(0.02 * i, 2) for i in range(50))

ArrayOrArrays = np.ndarray | Sequence[np.ndarray]


def _as_list(images: ArrayOrArrays, name: str) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        images = [images]
    out = [np.asarray(a, dtype=np.float64) for a in images]
    if not out:
        raise ValueError(f"{name}: no images given.")
    for i, a in enumerate(out):
        if not np.isfinite(a).all():
            raise ValueError(f"{name}[{i}] holds NaN or infinite values; uncertainty and "
                             "error maps must be finite.")
    return out


def _drop_leading_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(shape)
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def _paired(first: ArrayOrArrays, second: ArrayOrArrays, names: tuple[str, str]
            ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    a, b = _as_list(first, names[0]), _as_list(second, names[1])
    if len(a) != len(b):
        raise ValueError(f"{len(a)} {names[0]} maps for {len(b)} {names[1]} maps; give one of "
                         "each per image.")
    for i, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape:
            raise ValueError(f"image {i}: {names[0]} {x.shape} and {names[1]} {y.shape} differ "
                             "in shape; compare maps of the same image and channels.")
    return a, b


def error_map(prediction: np.ndarray, target: np.ndarray, kind: str = "absolute") -> np.ndarray:
    """Per-pixel error of a prediction: ``|prediction - target|`` or its square.

    Parameters
    ----------
    prediction, target : numpy.ndarray
        Same shape.
    kind : {"absolute", "squared"}
        The error measure (named in a summary by :data:`ERRORS`).

    Returns
    -------
    numpy.ndarray
        float32, shaped like ``prediction``.
    """
    if kind not in ERRORS:
        raise ValueError(f"kind={kind!r}: choose one of {sorted(ERRORS)}.")
    p, t = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and target {t.shape} differ in shape.")
    diff = np.abs(p - t)
    return (diff if kind == "absolute" else diff**2).astype(np.float32)


@dataclass
class PatchCorrelation:
    """Spearman rank correlation of per-patch mean uncertainty and per-patch mean error.

    Attributes
    ----------
    rho : float
        Spearman's rho (NaN when either side is constant over the patches).
    p : float
        Its two-sided p-value (NaN with rho).
    n : int
        Number of patches, all images pooled.
    patch : tuple of int
        Patch size along the last axes.
    uncertainty, error : numpy.ndarray
        The per-patch means, for a scatter plot.
    """

    rho: float
    p: float
    n: int
    patch: tuple[int, ...]
    uncertainty: np.ndarray
    error: np.ndarray


def patch_means(image: np.ndarray, patch: Sequence[int]) -> np.ndarray:
    """Mean of ``image`` over non-overlapping patches tiling its last ``len(patch)`` axes
    (leading axes, e.g. channels, are pooled into each patch; the patches at the far edges are
    smaller when a size does not divide evenly).

    Returns
    -------
    numpy.ndarray
        One mean per patch, flat, in row-major order of the patch grid.
    """
    image = np.asarray(image, dtype=np.float64)
    patch = tuple(int(p) for p in patch)
    if image.ndim < len(patch):
        raise ValueError(f"patch {patch} has more axes than the image {image.shape}.")
    ids = np.zeros((1,) * len(patch), dtype=np.int64)
    spatial = image.shape[image.ndim - len(patch):]
    for axis, (size, p) in enumerate(zip(spatial, patch)):
        blocks = np.arange(size) // p
        shape = [1] * len(patch)
        shape[axis] = size
        ids = ids * (-(-size // p)) + blocks.reshape(shape)
    ids = np.broadcast_to(ids, image.shape).ravel()
    sums = np.bincount(ids, weights=image.ravel())
    counts = np.bincount(ids)
    return sums / counts


def _patch_size(patch: int | Sequence[int]) -> tuple[int, ...]:
    sizes = (int(patch),) * 2 if np.isscalar(patch) else tuple(int(p) for p in patch)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"patch={patch!r}: give a positive size (int: square patches in YX) "
                         "or one size per trailing axis.")
    return sizes


def spearman_patches(uncertainty: ArrayOrArrays, error: ArrayOrArrays,
                     patch: int | Sequence[int] = 32) -> PatchCorrelation:
    """Spearman correlation between per-patch uncertainty and per-patch error.

    Parameters
    ----------
    uncertainty, error : numpy.ndarray or sequence of numpy.ndarray
        Per-pixel maps of the same shape, one pair per held-out image (e.g. the ``std`` of an
        :class:`~im2im_helpers.uncertainty.maps.UncertaintyMap` and :func:`error_map`).
    patch : int or sequence of int
        An int: square patches over the last two axes (YX); a sequence: one size per trailing
        axis (e.g. ``(8, 32, 32)`` for ZYX). Leading axes are pooled into each patch.

    Returns
    -------
    PatchCorrelation
        ``rho`` near 1: the most uncertain patches are the worst predicted.

    Raises
    ------
    ValueError
        If shapes differ, values are not finite, or there are fewer than 3 patches.
    """
    u_maps, e_maps = _paired(uncertainty, error, ("uncertainty", "error"))
    sizes = _patch_size(patch)
    u = np.concatenate([patch_means(a, sizes) for a in u_maps])
    e = np.concatenate([patch_means(a, sizes) for a in e_maps])
    if u.size < 3:
        raise ValueError(f"patch={sizes} gives {u.size} patch(es) over all images; a rank "
                         "correlation needs at least 3: choose a smaller patch.")
    if np.ptp(u) == 0 or np.ptp(e) == 0:
        rho, p = float("nan"), float("nan")
    else:
        res = stats.spearmanr(u, e)
        rho, p = float(res.statistic), float(res.pvalue)
    return PatchCorrelation(rho, p, int(u.size), sizes, u, e)


@dataclass
class Sparsification:
    """Sparsification curves: mean error of the pixels kept after discarding a fraction.

    Attributes
    ----------
    fractions : numpy.ndarray
        Discarded fractions, increasing, in [0, 1).
    model : numpy.ndarray
        Mean error after discarding the most uncertain pixels.
    oracle : numpy.ndarray
        Mean error after discarding the largest errors: the best any ranking can do.
    random : numpy.ndarray
        Expected mean error after discarding pixels at random: the overall mean error.
    ause : float
        Area under the sparsification error, ``model - oracle``, over ``fractions``
        (trapezoid rule; in error units; 0 for a perfect ranking).
    aurg : float
        Area under the random gain, ``random - model`` (positive: better than random).
    relative_ause : float
        ``ause`` divided by the area between random and oracle: 0 for a perfect ranking, about
        1 for a ranking no better than random (NaN when every error is the same).
    """

    fractions: np.ndarray
    model: np.ndarray
    oracle: np.ndarray
    random: np.ndarray
    ause: float
    aurg: float
    relative_ause: float

    @property
    def below_random(self) -> float:
        """Share of the discarded fractions > 0 at which the model's curve lies below random."""
        keep = self.fractions > 0
        return float(np.mean(self.model[keep] < self.random[keep])) if keep.any() else 0.0


def _kept_mean_curve(error_sorted: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Mean of what is left after removing the first ``floor(f * n)`` entries."""
    n = error_sorted.size
    tail = np.concatenate([np.cumsum(error_sorted[::-1])[::-1], [0.0]])
    k = np.floor(fractions * n).astype(np.int64)
    return tail[k] / (n - k)


def _area(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoid-rule integral of ``y`` over ``x`` (``numpy.trapezoid`` needs NumPy 2)."""
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64).ravel()
    if f.size < 2 or f.min() < 0 or f.max() >= 1 or np.any(np.diff(f) <= 0):
        raise ValueError(f"fractions={list(fractions)!r}: give at least two increasing "
                         "fractions in [0, 1), e.g. 0, 0.02, ..., 0.98.")
    return f


def sparsification(uncertainty: ArrayOrArrays, error: ArrayOrArrays,
                   fractions: Sequence[float] = FRACTIONS) -> Sparsification:
    """Sparsification curve of an uncertainty map, with its oracle and random references.

    Pixels are discarded from the most uncertain down; pixels of equal uncertainty are
    discarded together on average (their errors are averaged), so a constant map gives the
    random curve exactly and the result does not depend on the order of the pixels.

    Parameters
    ----------
    uncertainty, error : numpy.ndarray or sequence of numpy.ndarray
        Per-pixel maps of the same shape, one pair per held-out image (pixels pooled).
    fractions : sequence of float
        Increasing discarded fractions in [0, 1).

    Returns
    -------
    Sparsification
        The curves and AUSE; the model's curve below ``random`` means the uncertainty ranks
        bad pixels first, and close to ``oracle`` means it does so nearly perfectly.
    """
    u_maps, e_maps = _paired(uncertainty, error, ("uncertainty", "error"))
    f = _check_fractions(fractions)
    u = np.concatenate([a.ravel() for a in u_maps])
    e = np.concatenate([a.ravel() for a in e_maps])
    order = np.argsort(-u, kind="stable")
    u_sorted, e_sorted = u[order], e[order]
    starts = np.flatnonzero(np.concatenate([[True], u_sorted[1:] != u_sorted[:-1]]))
    counts = np.diff(np.concatenate([starts, [u.size]]))
    e_tied = np.repeat(np.add.reduceat(e_sorted, starts) / counts, counts)
    model = _kept_mean_curve(e_tied, f)
    oracle = _kept_mean_curve(np.sort(e)[::-1], f)
    random = np.full_like(f, e.mean())
    ause = _area(model - oracle, f)
    span = _area(random - oracle, f)
    return Sparsification(f, model, oracle, random, ause, _area(random - model, f),
                          ause / span if span > 0 else float("nan"))


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Area under the ROC curve of ``scores`` for telling ``positive`` from the rest.

    The probability that a random positive scores higher than a random negative (ties count
    half; the Mann-Whitney U statistic). NaN when either class is empty.

    Parameters
    ----------
    scores : sequence of float
        Higher means "more likely positive" (e.g. an object's confidence).
    positive : sequence of bool
        The true classes (e.g. whether each object was matched).

    Returns
    -------
    float
        In [0, 1]: 1 perfect, 0.5 no better than chance, 0 perfectly reversed.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    pos = np.asarray(positive, dtype=bool).ravel()
    if s.shape != pos.shape:
        raise ValueError(f"{s.size} scores for {pos.size} labels.")
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(s)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass
class ObjectConfidence:
    """Per-object confidence of a segmentation against whether each object was matched.

    Attributes
    ----------
    image : numpy.ndarray
        Index of the image each object comes from.
    labels : numpy.ndarray
        The object's label in its predicted label image.
    confidence : numpy.ndarray
        Mean foreground probability inside the object, or 1 - its mean uncertainty.
    matched : numpy.ndarray
        Whether the object matches a true object at IoU >= ``threshold``.
    iou : numpy.ndarray
        IoU with its matched true object (0 if unmatched).
    auroc : float
        How well confidence tells matched from unmatched objects (0.5: not at all; NaN when
        every object is matched or none is).
    threshold : float
        The IoU threshold of a match.
    """

    image: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    matched: np.ndarray
    iou: np.ndarray
    auroc: float
    threshold: float

    @property
    def n(self) -> int:
        """Number of predicted objects."""
        return int(self.labels.size)


def _squeezed_pair(labels: np.ndarray, values: np.ndarray, i: int, what: str) -> np.ndarray:
    if labels.shape == values.shape:
        return values
    if _drop_leading_ones(labels.shape) == _drop_leading_ones(values.shape):
        return values.reshape(labels.shape)
    raise ValueError(f"image {i}: pred_labels {labels.shape} and {what} {values.shape} differ in "
                     "shape; give a single-channel map of the same image.")


def object_confidence(
    pred_labels: ArrayOrArrays,
    true_labels: ArrayOrArrays,
    probability: ArrayOrArrays | None = None,
    uncertainty: ArrayOrArrays | None = None,
    threshold: float = 0.5,
) -> ObjectConfidence:
    """Each predicted object's confidence against whether it matches a true object.

    Matching is :func:`im2im_helpers.metrics.match_instances` (one-to-one, IoU >=
    ``threshold``). Give exactly one of ``probability`` (confidence: the mean foreground
    probability inside the object) or ``uncertainty`` (confidence: 1 - the mean uncertainty
    inside the object, e.g. the std of the probabilities of an
    :class:`~im2im_helpers.uncertainty.maps.UncertaintyMap`).

    Parameters
    ----------
    pred_labels, true_labels : numpy.ndarray or sequence of numpy.ndarray
        Predicted and true label images (0 = background), one of each per image.
    probability, uncertainty : numpy.ndarray or sequence of numpy.ndarray, optional
        Single-channel maps of the same images (a leading axis of size 1 is allowed).
    threshold : float
        IoU of a match, in (0, 1].

    Returns
    -------
    ObjectConfidence
        With the AUROC of confidence for matched against unmatched objects: near 1 when the
        confident objects are the right ones.
    """
    if (probability is None) == (uncertainty is None):
        raise ValueError("object_confidence: give exactly one of probability= or uncertainty=.")
    preds = [metrics.label_image(p, f"pred_labels[{i}]") for i, p in enumerate(
        [pred_labels] if isinstance(pred_labels, np.ndarray) else pred_labels)]
    trues = [true_labels] if isinstance(true_labels, np.ndarray) else list(true_labels)
    maps = _as_list(probability if probability is not None else uncertainty,
                    "probability" if probability is not None else "uncertainty")
    if not len(preds) == len(trues) == len(maps):
        raise ValueError(f"{len(preds)} predicted label images, {len(trues)} true label images "
                         f"and {len(maps)} maps; give one of each per image.")
    rows = []
    for i, (pred, true, values) in enumerate(zip(preds, trues, maps)):
        values = _squeezed_pair(pred, values, i, "map")
        result = metrics.match_instances(pred, true, threshold)
        ious = {p: v for _, p, v in result["matched"]}
        ids, inverse = np.unique(pred.ravel(), return_inverse=True)
        means = np.bincount(inverse, weights=values.ravel()) / np.bincount(inverse)
        for label, mean in zip(ids, means):
            if label == 0:
                continue
            confidence = mean if probability is not None else 1.0 - mean
            rows.append((i, int(label), float(confidence), int(label) in ious,
                         ious.get(int(label), 0.0)))
    image, labels, confidence, matched, iou = (np.asarray(c) for c in zip(*rows)) if rows else (
        np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0, bool), np.zeros(0))
    return ObjectConfidence(image.astype(np.int64), labels.astype(np.int64),
                            confidence.astype(np.float64), matched.astype(bool),
                            iou.astype(np.float64), auroc(confidence, matched), float(threshold))
