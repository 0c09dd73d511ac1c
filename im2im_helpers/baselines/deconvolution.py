"""Deconvolution baselines: Richardson–Lucy with a Gaussian point-spread function, its width and
iteration count tuned on training data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from im2im_helpers.tuning import Tuned, tune


def gaussian_psf(sigma: float, dims: int = 2, size: int | None = None) -> np.ndarray:
    """A normalised Gaussian point-spread function (odd ``size``, default ~6 sigma)."""
    size = size or 2 * int(np.ceil(3 * sigma)) + 1
    delta = np.zeros((size,) * dims, np.float32)
    delta[(size // 2,) * dims] = 1
    psf = ndi.gaussian_filter(delta, sigma)
    return psf / psf.sum()


def richardson_lucy(x: np.ndarray, psf: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Richardson–Lucy deconvolution (scikit-image) of each channel of ``(C, *spatial)`` with a
    known ``psf``; negative values are set to 0 first (the method assumes counts)."""
    from skimage.restoration import richardson_lucy as rl

    return np.stack([rl(np.clip(c, 0, None), psf, num_iter=iterations, clip=False)
                     for c in np.asarray(x, dtype=np.float32)]).astype(np.float32)


def fit_deconvolution(blurred: Sequence[np.ndarray], sharp: Sequence[np.ndarray],
                      psf_sigmas: Sequence[float],
                      iterations: Sequence[int] = (1, 2, 3, 5, 10, 20, 40),
                      metric: str = "psnr") -> Tuned:
    """Richardson–Lucy with a Gaussian PSF, its width and iteration count tuned on *training*
    pairs (give one ``psf_sigmas`` value when the PSF is known).

    Too few iterations leave the blur, too many amplify noise: the count is a regulariser.

    Returns
    -------
    Tuned
        Deconvolves one image; ``value`` is ``(psf_sigma, iterations)``.
    """
    values = [(float(s), int(n)) for s in psf_sigmas for n in iterations]
    dims = np.asarray(blurred[0]).ndim - 1

    def deconvolve(x: np.ndarray, value: tuple[float, int]) -> np.ndarray:
        return richardson_lucy(x, gaussian_psf(value[0], dims), value[1])

    return tune(deconvolve, blurred, sharp, values, metric,
                parameters=("psf_sigma", "iterations"))
