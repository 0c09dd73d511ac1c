"""The window grid of a sliding-window prediction, cut into output blocks.

The grid is MONAI's (:func:`monai.inferers.sliding_window_inference`): the same window
positions (:func:`monai.data.utils.dense_patch_slices`), the same padding of an image smaller
than a window and the same importance map (:func:`monai.data.utils.compute_importance_map`),
so that a prediction assembled block by block equals the one made in memory. Each output
block is predicted from the windows that overlap it; a window that overlaps several blocks
is computed once (see :mod:`im2im_helpers.stream.engine`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.data.utils import compute_importance_map, dense_patch_slices


def scan_interval(image: Sequence[int], roi: Sequence[int], overlap: float) -> tuple[int, ...]:
    """The step between neighbouring windows per axis, as
    :func:`monai.inferers.sliding_window_inference` takes it: ``int(roi * (1 - overlap))``
    (at least 1), or the whole window where it spans the (padded) image."""
    return tuple(int(r) if r == s else max(1, int(r * (1 - overlap)))
                 for s, r in zip(image, roi))


@dataclass(frozen=True)
class WindowGrid:
    """Window positions over an image of ``shape`` (spatial), padded as MONAI pads it.

    Attributes
    ----------
    shape : tuple of int
        Spatial shape of the image.
    roi : tuple of int
        Window size.
    pad : tuple of int
        Zeros added before the image on each axis (MONAI pads an image smaller than the
        window symmetrically, the extra pixel after).
    starts : tuple of numpy.ndarray
        Start of every window, per axis, in padded coordinates.
    """

    shape: tuple[int, ...]
    roi: tuple[int, ...]
    pad: tuple[int, ...]
    starts: tuple[np.ndarray, ...]

    @classmethod
    def build(cls, shape: Sequence[int], roi: Sequence[int], overlap: float) -> WindowGrid:
        """The grid of windows ``roi`` with ``overlap`` over an image of ``shape``."""
        shape, roi = tuple(int(s) for s in shape), tuple(int(r) for r in roi)
        padded = tuple(max(s, r) for s, r in zip(shape, roi))
        pad = tuple((p - s) // 2 for s, p in zip(shape, padded))
        slices = dense_patch_slices(padded, roi, scan_interval(padded, roi, overlap))
        starts = tuple(np.unique([s[d].start for s in slices]) for d in range(len(shape)))
        return cls(shape, roi, pad, starts)

    def origin(self, window: Sequence[int]) -> tuple[int, ...]:
        """Start of ``window`` in image coordinates (negative inside the padding)."""
        return tuple(int(s[i]) - p for s, i, p in zip(self.starts, window, self.pad))

    def touching(self, block: Sequence[slice]) -> list[tuple[int, ...]]:
        """The windows that overlap ``block`` (slices in image coordinates)."""
        ranges = []
        for s, r, p, b in zip(self.starts, self.roi, self.pad, block):
            lo, hi = b.start + p, b.stop + p
            ranges.append(np.flatnonzero((s < hi) & (s + r > lo)).tolist())
        return list(itertools.product(*ranges))

    def importance(self, blend: str) -> np.ndarray:
        """The weight of each window pixel when windows are averaged (``"gaussian"`` or
        ``"constant"``), exactly as MONAI computes it."""
        weights = compute_importance_map(self.roi, mode=blend, sigma_scale=0.125,
                                         device=torch.device("cpu"), dtype=torch.float32)
        return weights.numpy().astype(np.float32, copy=False)


def blocks(shape: Sequence[int], chunks: Sequence[int]) -> list[tuple[slice, ...]]:
    """The blocks of ``chunks`` tiling ``shape`` (the last ones cut at the border), in raster
    order."""
    edges = [range(0, int(s), int(c)) for s, c in zip(shape, chunks)]
    return [tuple(slice(o, min(o + int(c), int(s))) for o, c, s in zip(origin, chunks, shape))
            for origin in itertools.product(*edges)]


def overlap_slices(window_origin: Sequence[int], roi: Sequence[int],
                   block: Sequence[slice]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Where a window and a block overlap: ``(in the window, in the block)``."""
    inside, target = [], []
    for o, r, b in zip(window_origin, roi, block):
        lo, hi = max(o, b.start), min(o + r, b.stop)
        inside.append(slice(lo - o, hi - o))
        target.append(slice(lo - b.start, hi - b.start))
    return tuple(inside), tuple(target)
