"""The classical baseline of image synthesis from masks: the mask, blurred and scaled to the grey
levels of real images (:func:`blurred_mask`), its blur and levels fitted on training pairs
(:func:`fit_blurred_mask`).

This is what a mask alone says about an image under the simplest model of a microscope: objects
of one brightness on a background of another, seen through a Gaussian blur. It is the
per-pixel least-squares answer for each blur, so it is faithful on average — but it has no noise,
no texture and no brightness that varies from object to object. A generator trained on real
images has to beat it to be worth its training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from im2im_helpers.metrics import grey, ssim
from im2im_helpers.tuning import Tuned, tune

#: Gaussian blurs (pixels) tried by :func:`fit_blurred_mask`.
BLUR_SIGMAS = (0.0, 1.0, 2.0, 3.0, 4.0)


def _blurred(mask: np.ndarray, sigma: float) -> np.ndarray:
    """The foreground of ``mask`` (``(1, *spatial)``, object > 0.5) blurred by ``sigma``
    pixels, as float64 ``(*spatial)``."""
    mask = np.asarray(mask)
    if mask.ndim < 3 or mask.shape[0] != 1:
        raise ValueError(f"mask of shape {mask.shape}: expected one channel, (1, Y, X) or "
                         "(1, Z, Y, X), as data.masks_to_images gives it.")
    foreground = (mask[0] > 0.5).astype(np.float64)
    return ndi.gaussian_filter(foreground, sigma) if sigma > 0 else foreground


def blurred_mask(mask: np.ndarray, sigma: float, background: Sequence[float],
                 foreground: Sequence[float]) -> np.ndarray:
    """An image drawn from a mask the classical way: ``background + (foreground - background)
    * blur(mask)``, channel by channel.

    Parameters
    ----------
    mask : numpy.ndarray
        ``(1, *spatial)``, 1 (or > 0.5) where an object is.
    sigma : float
        Gaussian blur in pixels (0: none).
    background, foreground : sequence of float
        Grey level of each output channel far from and deep inside an object.

    Returns
    -------
    numpy.ndarray
        ``(len(background), *spatial)`` float32.
    """
    if len(background) != len(foreground) or not len(background):
        raise ValueError(f"{len(background)} background and {len(foreground)} foreground levels: "
                         "give one of each per output channel.")
    blurred = _blurred(mask, sigma)
    low = np.asarray(background, np.float64).reshape(-1, *[1] * blurred.ndim)
    high = np.asarray(foreground, np.float64).reshape(low.shape)
    return (low + (high - low) * blurred[None]).astype(np.float32)


def fit_levels(masks: Sequence[np.ndarray], images: Sequence[np.ndarray],
               sigma: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The background and foreground level of every channel that make :func:`blurred_mask`
    closest to ``images`` in the least-squares sense, for one blur ``sigma``.

    Returns
    -------
    background, foreground : tuple of float
        One level per channel of the images.
    """
    if not len(masks) or len(masks) != len(images):
        raise ValueError(f"{len(masks)} masks and {len(images)} images: give as many, at least "
                         "one.")
    channels = np.shape(images[0])[0]
    n, sb, sbb = 0.0, 0.0, 0.0
    sy, sby = np.zeros(channels), np.zeros(channels)
    for mask, image in zip(masks, images):
        b = _blurred(mask, sigma).ravel()
        y = np.asarray(image, np.float64).reshape(channels, -1)
        if y.shape[1] != b.size:
            raise ValueError(f"mask {np.shape(mask)} and image {np.shape(image)} differ in size.")
        n, sb, sbb = n + b.size, sb + b.sum(), sbb + b @ b
        sy, sby = sy + y.sum(axis=1), sby + y @ b
    var = sbb - sb * sb / n
    if var <= 0:
        raise ValueError("the training masks are all object or all background: no levels to fit.")
    slope = (sby - sb * sy / n) / var
    low = (sy - slope * sb) / n
    return tuple(map(float, low)), tuple(map(float, low + slope))


def _grey_ssim(pred: np.ndarray, target: np.ndarray) -> float:
    return ssim(grey(pred), grey(target))


def fit_blurred_mask(masks: Sequence[np.ndarray], images: Sequence[np.ndarray],
                     sigmas: Sequence[float] = BLUR_SIGMAS) -> Tuned:
    """:func:`blurred_mask` fitted on *training* pairs: for each blur in ``sigmas`` the levels
    of :func:`fit_levels`, and the blur whose images have the best mean SSIM to the real ones
    (channels averaged).

    Returns
    -------
    Tuned
        Draws one image from one mask; ``value`` is ``(sigma, background, foreground)``.
    """
    values = [(float(s), *fit_levels(masks, images, s)) for s in sigmas]

    def draw(mask: np.ndarray, value: tuple) -> np.ndarray:
        return blurred_mask(mask, *value)

    return tune(draw, masks, images, values, metric=_grey_ssim, metric_name="ssim",
                parameters=("sigma", "background", "foreground"))
