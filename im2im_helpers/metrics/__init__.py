"""Image-quality, overlap and instance-segmentation metrics, texture statistics, and the
``metrics.json`` every tutorial leaves behind (instance matching lives in
:mod:`~im2im_helpers.metrics.instances`, power spectra in :mod:`~im2im_helpers.metrics.texture`).

Intensity metrics take an explicit data range (the target's by default): after percentile
normalisation a target spans several units, not 1, and a fixed range would flatter the numbers.

Instance metrics compare two label images (integer labels, 0 = background) object by object:
every true object is matched to at most one predicted object by their intersection over union.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from skimage import metrics as skm

from im2im_helpers import io
from im2im_helpers.levels import check_level
from im2im_helpers.metrics import headline, registration, texture
from im2im_helpers.metrics.headline import Headline, compare
from im2im_helpers.metrics.instances import (
    AP_THRESHOLDS,
    INSTANCE,
    ap50,
    average_precision,
    instance_table,
    iou_matrix,
    label_image,
    match_instances,
    merges_and_splits,
)
from im2im_helpers.metrics.texture import (
    checkerboard_ratio,
    high_frequency_ratio,
    nyquist_share,
    radial_power_spectrum,
)

__all__ = [
    "AP_THRESHOLDS", "INSTANCE", "METRICS", "REGRESSION", "Headline", "ap50",
    "average_precision", "checkerboard_ratio", "dice", "format_table", "grey", "headline",
    "high_frequency_ratio",
    "instance_table", "intensity_distance", "iou", "iou_matrix", "label_image",
    "match_instances", "merges_and_splits", "nrmse", "nyquist_share", "pearson", "psnr",
    "radial_power_spectrum", "registration", "ssim", "table", "texture", "write_json",
]


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape.")
    return pred, target


def _range(target: np.ndarray, data_range: float | None) -> float:
    return float(data_range) if data_range is not None else float(target.max() - target.min())


def pearson(pred, target) -> float:
    """Pearson correlation coefficient of all pixels."""
    pred, target = _pair(pred, target)
    return float(np.corrcoef(pred.ravel(), target.ravel())[0, 1])


def psnr(pred, target, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB (data range: the target's max - min by default)."""
    pred, target = _pair(pred, target)
    return float(skm.peak_signal_noise_ratio(target, pred, data_range=_range(target, data_range)))


def ssim(pred, target, data_range: float | None = None) -> float:
    """Structural similarity of a 2D or 3D single-channel image (leading size-1 axes dropped)."""
    pred, target = _pair(pred, target)
    pred, target = np.squeeze(pred), np.squeeze(target)
    win = min(7, *(s if s % 2 else s - 1 for s in target.shape))
    return float(skm.structural_similarity(target, pred, data_range=_range(target, data_range),
                                           win_size=win))


def nrmse(pred, target) -> float:
    """Root-mean-square error divided by the target's range (max - min)."""
    pred, target = _pair(pred, target)
    return float(skm.normalized_root_mse(target, pred, normalization="min-max"))


def intensity_distance(pred, target) -> float:
    """Earth mover's (Wasserstein-1) distance between the intensity distributions of two images,
    in intensity units: 0 when their histograms are the same, whatever the pixels' positions.
    A realism check for synthetic images (do they have the real image's grey levels?)."""
    from scipy.stats import wasserstein_distance

    pred, target = np.asarray(pred, np.float64).ravel(), np.asarray(target, np.float64).ravel()
    return float(wasserstein_distance(pred, target))


def grey(x: np.ndarray) -> np.ndarray:
    """The mean over the channels of ``(C, *spatial)`` as ``(1, *spatial)`` float32 (one channel
    is returned as it is): colour outputs and targets compared in one channel."""
    x = np.asarray(x, dtype=np.float32)
    return x if x.shape[0] == 1 else x.mean(axis=0, keepdims=True)


def _masks(pred, target, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape.")
    return pred > threshold, target > threshold


def dice(pred, target, threshold: float = 0.5) -> float:
    """Dice coefficient of foreground ``> threshold`` (1.0 when both are empty)."""
    p, t = _masks(pred, target, threshold)
    total = p.sum() + t.sum()
    return float(2 * np.logical_and(p, t).sum() / total) if total else 1.0


def iou(pred, target, threshold: float = 0.5) -> float:
    """Intersection over union of foreground ``> threshold`` (1.0 when both are empty)."""
    p, t = _masks(pred, target, threshold)
    union = np.logical_or(p, t).sum()
    return float(np.logical_and(p, t).sum() / union) if union else 1.0


METRICS: dict[str, Callable[..., float]] = {
    "pearson": pearson, "ssim": ssim, "psnr": psnr, "nrmse": nrmse, "dice": dice, "iou": iou,
    "intensity_distance": intensity_distance,
}
REGRESSION = ("pearson", "ssim", "psnr", "nrmse")


def table(
    predictions: Mapping[str, Sequence[np.ndarray]],
    targets: Sequence[np.ndarray],
    names: Sequence[str] = REGRESSION,
) -> dict[str, dict[str, float]]:
    """Mean of each metric over images, per method: ``{method: {metric: value}}``.

    ``predictions`` maps a method name (``"input"``, ``"ridge"``, ``"unet"``) to one prediction
    per target image.
    """
    result = {}
    for method, preds in predictions.items():
        if len(preds) != len(targets):
            raise ValueError(f"{method}: {len(preds)} predictions for {len(targets)} targets.")
        result[method] = {
            n: float(np.mean([METRICS[n](p, t) for p, t in zip(preds, targets)])) for n in names
        }
    return result


def format_table(values: Mapping[str, Mapping[str, float]]) -> str:
    """A fixed-width text table of :func:`table`'s result."""
    names = list(next(iter(values.values())))
    widths = [max(10, len(n) + 2) for n in names]  # long names (matched_iou) keep columns apart
    first = max(12, *(len(m) + 2 for m in values))
    lines = [f"{'method':<{first}}" + "".join(f"{n:>{w}}" for n, w in zip(names, widths))]
    for method, row in values.items():
        lines.append(f"{method:<{first}}"
                     + "".join(f"{row[n]:>{w}.3f}" for n, w in zip(names, widths)))
    return "\n".join(lines)


def write_json(
    path: str | os.PathLike,
    tutorial: str,
    dataset: str,
    methods: Mapping[str, Mapping[str, float]],
    simulated: bool,
    level: str,
    headline: Headline | Sequence[Headline] | None,
    split: str = "test",
    **extra,
) -> Path:
    """Write a tutorial's quality-control table as ``metrics.json`` (atomically).

    ``level`` is the run level (:data:`im2im_helpers.levels.LEVELS`); ``headline`` says which
    metric, network(s) and baseline the tutorial is about (``None`` for a tutorial without a
    network; a list for several experiments), checked by
    :func:`im2im_helpers.metrics.headline.check`."""
    path = Path(path)
    if isinstance(headline, Headline):
        headline_value = headline.to_dict()
    elif headline is None:
        headline_value = None
    else:
        headline_value = [h.to_dict() for h in headline]
    record = {"tutorial": tutorial, "dataset": dataset, "simulated": simulated, "split": split,
              "level": check_level(level), "headline": headline_value,
              "methods": {m: dict(v) for m, v in methods.items()}, **extra}
    compare(record)  # a headline naming a missing method or metric fails here, not in a checker
    return io.write_text(path, json.dumps(record, indent=2))
