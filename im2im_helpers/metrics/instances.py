"""Instance-segmentation metrics: two label images (integer labels, 0 = background) compared
object by object. Every true object is matched to at most one predicted object by their
intersection over union (Hungarian matching); average precision, matched IoU, merges and splits
follow from the matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

#: IoU thresholds of :func:`average_precision`: 0.5 to 0.9 in steps of 0.05.
AP_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def label_image(labels, name: str) -> np.ndarray:
    """``labels`` as an array, after checking that it holds non-negative integers."""
    arr = np.asarray(labels)
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise ValueError(
                f"{name} holds non-integer values (e.g. {arr[bad][0]:g}): a label image needs one "
                "integer label per object (0 = background). Pass labels, not probabilities; "
                "label a mask first, e.g. with skimage.measure.label."
            )
    elif not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} has dtype {arr.dtype}; a label image needs integer labels.")
    if arr.size and arr.min() < 0:
        raise ValueError(
            f"{name} holds negative labels (minimum {arr.min():g}); labels must be >= 0, "
            "with 0 as background."
        )
    return arr


def _index(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted nonzero labels, and each pixel's row number: 0 background, k the k-th label."""
    ids, idx = np.unique(labels.ravel(), return_inverse=True)
    idx = idx.ravel().astype(np.int64)
    if ids.size and ids[0] == 0:
        ids = ids[1:]
    else:  # no background pixel: keep row 0 for it anyway
        idx += 1
    return ids.astype(np.int64), idx


def _contingency(pred_labels, true_labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True labels, predicted labels, and the pixel counts of every (true, pred) label pair.

    ``counts[i, j]`` is the number of pixels of true row ``i`` and predicted column ``j``, where
    row/column 0 is background and ``k > 0`` is the k-th sorted nonzero label.
    """
    pred = label_image(pred_labels, "pred_labels")
    true = label_image(true_labels, "true_labels")
    if pred.shape != true.shape:
        raise ValueError(
            f"pred_labels {pred.shape} and true_labels {true.shape} differ in shape."
        )
    t_ids, t_idx = _index(true)
    p_ids, p_idx = _index(pred)
    n_t, n_p = t_ids.size + 1, p_ids.size + 1
    counts = np.bincount(t_idx * n_p + p_idx, minlength=n_t * n_p).reshape(n_t, n_p)
    return t_ids, p_ids, counts


def _iou_from_counts(counts: np.ndarray) -> np.ndarray:
    inter = counts[1:, 1:].astype(np.float64)
    area_true = counts[1:].sum(axis=1)  # over all predicted columns, background included
    area_pred = counts[:, 1:].sum(axis=0)
    return inter / (area_true[:, None] + area_pred[None, :] - inter)  # every union is >= 1


def _fraction(value: float, name: str) -> float:
    if not 0 < value <= 1:
        raise ValueError(f"{name}={value}: choose a value in (0, 1].")
    return float(value)


def _match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Rows and columns of the one-to-one matching of maximal total IoU, pairs >= threshold."""
    if iou.size == 0:
        return []
    weights = np.where(iou >= threshold, iou, 0.0)  # a pair below threshold is worth no match
    rows, cols = linear_sum_assignment(weights, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= threshold]


def _scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall, F1 and AP; a 0/0 ratio is 1.0 when there are no objects at all."""
    empty = 1.0 if tp + fp + fn == 0 else 0.0

    def ratio(num: int, den: int) -> float:
        return num / den if den else empty

    return {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn), "ap": ratio(tp, tp + fp + fn)}


def iou_matrix(pred_labels, true_labels) -> np.ndarray:
    """Intersection over union of every true object with every predicted object.

    Parameters
    ----------
    pred_labels, true_labels : numpy.ndarray
        2D or 3D label images of the same shape: non-negative integers, 0 = background. Labels
        need not be contiguous; integer-valued float arrays are accepted.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_true, n_pred)``. Row ``i`` is the i-th of ``np.unique(true_labels)`` without
        0, column ``j`` the j-th of ``np.unique(pred_labels)`` without 0 (sorted label order).

    Raises
    ------
    ValueError
        If the shapes differ, or a label image holds non-integer or negative values.

    Notes
    -----
    All intersections come from one joint histogram of the (true, pred) label pairs of the
    pixels, so the cost is one pass over the image, not one per object pair.
    """
    return _iou_from_counts(_contingency(pred_labels, true_labels)[2])


def _match_result(iou, t_ids, p_ids, threshold: float) -> dict:
    pairs = _match(iou, threshold)
    tp = len(pairs)
    fp, fn = p_ids.size - tp, t_ids.size - tp
    ious = [float(iou[r, c]) for r, c in pairs]
    return {"tp": tp, "fp": fp, "fn": fn, **_scores(tp, fp, fn),
            "mean_matched_iou": float(np.mean(ious)) if ious else 0.0,
            "matched": [(int(t_ids[r]), int(p_ids[c]), v) for (r, c), v in zip(pairs, ious)]}


def match_instances(pred_labels, true_labels, threshold: float = 0.5) -> dict:
    """Match predicted to true objects one-to-one and count hits and misses.

    Only pairs with IoU ``>= threshold`` may match; among those, the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) picks the one-to-one matching with the largest
    total IoU. For ``threshold > 0.5`` an object has at most one partner that qualifies, so the
    matching is unique; below 0.5 the optimal matching can differ from a greedy one.

    Parameters
    ----------
    pred_labels, true_labels : numpy.ndarray
        Label images of the same shape (2D or 3D), 0 = background.
    threshold : float
        Smallest IoU of a matched pair, in (0, 1].

    Returns
    -------
    dict
        ``tp`` (matched pairs), ``fp`` (unmatched predicted objects), ``fn`` (unmatched true
        objects), ``precision`` = TP/(TP+FP), ``recall`` = TP/(TP+FN), ``f1`` =
        2TP/(2TP+FP+FN), ``ap`` = TP/(TP+FP+FN) -- the "average precision" of the Data Science
        Bowl 2018 at one threshold, which StarDist calls "accuracy" --, ``mean_matched_iou``
        (mean IoU of the matched pairs, 0.0 when there are none) and ``matched``, a list of
        ``(true_label, pred_label, iou)`` sorted by true label. When both images are empty every
        ratio is 1.0; otherwise a ratio with nothing to count (0/0) is 0.0.

    Raises
    ------
    ValueError
        If the shapes differ, a label image holds non-integer or negative values, or the
        threshold is outside (0, 1].
    """
    threshold = _fraction(threshold, "threshold")
    t_ids, p_ids, counts = _contingency(pred_labels, true_labels)
    return _match_result(_iou_from_counts(counts), t_ids, p_ids, threshold)


def ap50(pred_labels, true_labels) -> float:
    """AP at IoU 0.5 (TP / (TP + FP + FN)) of a label image against the truth (a score for
    :func:`im2im_helpers.tuning.tune`)."""
    return match_instances(pred_labels, true_labels)["ap"]


def _merges_splits(t_ids, p_ids, counts: np.ndarray, min_overlap: float) -> dict:
    inter = counts[1:, 1:]
    share_of_true = inter / counts[1:].sum(axis=1)[:, None]  # part of each true object in pred
    share_of_pred = inter / counts[:, 1:].sum(axis=0)[None, :]  # part of each pred in true object
    merged = p_ids[(share_of_true >= min_overlap).sum(axis=0) >= 2]
    split = t_ids[(share_of_pred >= min_overlap).sum(axis=1) >= 2]
    return {"merges": int(merged.size), "splits": int(split.size),
            "merged": [int(v) for v in merged], "split": [int(v) for v in split]}


def merges_and_splits(pred_labels, true_labels, min_overlap: float = 0.5) -> dict:
    """Count predicted objects that merge true objects, and true objects split by predictions.

    A predicted object is a **merge** when two or more true objects each have at least
    ``min_overlap`` of their own area (volume) inside it: it swallowed them.

    A true object is **split** when two or more predicted objects each have at least
    ``min_overlap`` of their own area inside it: it was cut into pieces that mostly belong to it.
    This is the merge definition with the roles swapped, so
    ``merges_and_splits(p, t)["splits"] == merges_and_splits(t, p)["merges"]``. The fraction is
    taken of each piece's area, not of the true object's, because two pieces can never each hold
    more than half of the same object. Every piece counts whatever its size; remove tiny
    fragments first (``skimage.morphology.remove_small_objects``) if they should not count.

    Parameters
    ----------
    pred_labels, true_labels : numpy.ndarray
        Label images of the same shape (2D or 3D), 0 = background.
    min_overlap : float
        Share of an object's own area that must lie inside the other object, in (0, 1].

    Returns
    -------
    dict
        ``merges`` and ``splits`` (counts), ``merged`` (the predicted labels that are merges)
        and ``split`` (the true labels that are split).

    Raises
    ------
    ValueError
        If the shapes differ, a label image holds non-integer or negative values, or
        ``min_overlap`` is outside (0, 1].
    """
    min_overlap = _fraction(min_overlap, "min_overlap")
    return _merges_splits(*_contingency(pred_labels, true_labels), min_overlap)


def average_precision(
    pred_labels, true_labels, thresholds: Sequence[float] = AP_THRESHOLDS
) -> dict[float, float]:
    """AP = TP/(TP+FP+FN) of :func:`match_instances` at each IoU threshold.

    Returns
    -------
    dict
        ``{threshold: ap}``; the IoU matrix is computed once for all thresholds.
    """
    thresholds = [_fraction(t, "threshold") for t in thresholds]
    t_ids, p_ids, counts = _contingency(pred_labels, true_labels)
    iou = _iou_from_counts(counts)
    return {t: _match_result(iou, t_ids, p_ids, t)["ap"] for t in thresholds}


#: Metric names as used in tables and ``metrics.json``.


#: Column names of :func:`instance_table` with its default thresholds.
INSTANCE = ("ap50", "ap75", "ap90", "matched_iou", "merges", "splits")


def instance_table(
    predictions: Mapping[str, Sequence[np.ndarray]],
    targets: Sequence[np.ndarray],
    thresholds: Sequence[float] = (0.5, 0.75, 0.9),
    min_overlap: float = 0.5,
) -> dict[str, dict[str, float]]:
    """Instance-segmentation scores per method: ``{method: {metric: value}}``, like :func:`table`.

    ``predictions`` maps a method name to one label image per target label image. The columns:

    - ``ap50``, ``ap75``, ... (``f"ap{round(100 * t)}"`` for each threshold ``t``): dataset-level
      AP = TP/(TP+FP+FN), with TP, FP and FN summed over all images first (as in the Data Science
      Bowl 2018 and StarDist), so an image with many objects weighs more than one with few and an
      image without objects does not count as a perfect 1.0.
    - ``matched_iou``: mean IoU of all pairs matched at IoU >= 0.5, pooled over the images (0.0
      when there are none).
    - ``merges``, ``splits``: mean number per image (see :func:`merges_and_splits`).

    The result plugs into :func:`format_table` and :func:`write_json`.
    """
    thresholds = [_fraction(t, "threshold") for t in thresholds]
    min_overlap = _fraction(min_overlap, "min_overlap")
    names = [f"ap{round(100 * t)}" for t in thresholds]
    if len(set(names)) != len(names):
        raise ValueError(f"thresholds {thresholds} give repeated column names {names}.")
    if not len(targets):
        raise ValueError("no target images: give at least one label image.")
    result = {}
    for method, preds in predictions.items():
        if len(preds) != len(targets):
            raise ValueError(f"{method}: {len(preds)} predictions for {len(targets)} targets.")
        tp, fp, fn = (np.zeros(len(thresholds), dtype=np.int64) for _ in range(3))
        ious, merges, splits = [], [], []
        for pred, target in zip(preds, targets):
            t_ids, p_ids, counts = _contingency(pred, target)
            iou = _iou_from_counts(counts)
            for k, t in enumerate(thresholds):
                n = len(_match(iou, t))
                tp[k], fp[k], fn[k] = tp[k] + n, fp[k] + p_ids.size - n, fn[k] + t_ids.size - n
            ious += [float(iou[r, c]) for r, c in _match(iou, 0.5)]
            ms = _merges_splits(t_ids, p_ids, counts, min_overlap)
            merges.append(ms["merges"])
            splits.append(ms["splits"])
        row = {n: _scores(int(a), int(b), int(c))["ap"] for n, a, b, c in zip(names, tp, fp, fn)}
        row["matched_iou"] = float(np.mean(ious)) if ious else 0.0
        row["merges"] = float(np.mean(merges))
        row["splits"] = float(np.mean(splits))
        result[method] = row
    return result
