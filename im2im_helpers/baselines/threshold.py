"""Threshold baselines of semantic segmentation: Otsu's threshold, with its smoothing and
polarity tuned on training data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from im2im_helpers.metrics import dice
from im2im_helpers.tuning import Tuned, tune

#: Gaussian smoothing (pixels) tried by :func:`fit_otsu`.
OTSU_FOREGROUND_SIGMAS = (0.0, 1.0, 2.0, 4.0)


def otsu_mask(x: np.ndarray, sigma: float = 1.0, dark_objects: bool = False) -> np.ndarray:
    """Foreground by Otsu's threshold: the classical one-line segmentation.

    The channels of ``x`` (``(C, Y, X)`` or ``(C, Z, Y, X)``; RGB included) are averaged,
    smoothed by a Gaussian of ``sigma`` pixels, and thresholded at Otsu's value; with
    ``dark_objects`` the objects are the pixels *below* it (glands in H&E, cells in
    brightfield). Returns a float32 ``(1, *spatial)`` mask of 0 and 1, shaped like a
    one-channel target.
    """
    from skimage.filters import threshold_otsu

    x = np.asarray(x, dtype=np.float32)
    grey = x.mean(axis=0)
    if sigma > 0:
        grey = ndi.gaussian_filter(grey, sigma)
    if grey.max() <= grey.min():
        return np.zeros((1, *grey.shape), np.float32)
    above = grey > threshold_otsu(grey)
    return (~above if dark_objects else above)[None].astype(np.float32)


def fit_otsu(images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
             sigmas: Sequence[float] = OTSU_FOREGROUND_SIGMAS) -> Tuned:
    """:func:`otsu_mask` with its smoothing and polarity (bright or dark objects) chosen by
    the best mean Dice on *training* pairs.

    Returns
    -------
    Tuned
        Segments one image; ``value`` is ``(sigma, dark_objects)``.
    """
    values = [(float(s), dark) for dark in (False, True) for s in sigmas]

    def segment(x: np.ndarray, value: tuple[float, bool]) -> np.ndarray:
        return otsu_mask(x, *value)

    return tune(segment, images, masks, values, metric=dice,
                parameters=("sigma", "dark_objects"))
