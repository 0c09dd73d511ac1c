"""Texture statistics: how much fine detail an image has, frequency by frequency, next to a
reference. Used to tell a blurred prediction (an average of plausible outputs) from a sharp or
noisy one, in 2D and 3D.
"""

from __future__ import annotations

import numpy as np


def _planes(x: np.ndarray) -> np.ndarray:
    """``(Y, X)``, ``(C, Y, X)`` or ``(C, Z, Y, X)`` as a stack of grey 2D planes ``(n, Y, X)``
    (channels averaged). A 3D array is read as ``(C, Y, X)``: give a volume its channel axis,
    ``(1, Z, Y, X)``, or its planes would be averaged as if they were channels."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return x[None]
    if x.ndim in (3, 4):
        return x.mean(axis=0).reshape(-1, *x.shape[-2:])
    raise ValueError(f"shape {x.shape}: expected (Y, X), (C, Y, X) or (C, Z, Y, X).")


def radial_power_spectrum(x: np.ndarray, bins: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """How the variance of an image is spread over spatial frequencies in the YX plane.

    The image (``(Y, X)``, or ``(C, Y, X)`` averaged over channels; a volume ``(C, Z, Y, X)``
    plane by plane, the planes' spectra averaged) minus its mean is multiplied
    by a Hann window (so the image border adds no spurious high frequencies), Fourier
    transformed, and its power ``|F|^2 / pixels`` averaged in ``bins`` rings of equal width
    between 0 and 0.5 cycles per pixel (the Nyquist frequency; the corners beyond are left out).
    Fine texture and noise sit at high frequencies; a blurred image has less power there.

    Returns
    -------
    frequencies, power : numpy.ndarray
        Centre of each ring (cycles per pixel) and the mean power in it.
    """
    planes = _planes(x)
    ny, nx = planes.shape[1:]
    window = np.outer(np.hanning(ny), np.hanning(nx))
    centred = (planes - planes.mean(axis=(1, 2), keepdims=True)) * window
    power = (np.abs(np.fft.fft2(centred)) ** 2).mean(axis=0) / (ny * nx)
    fy = np.fft.fftfreq(ny)[:, None]
    fx = np.fft.fftfreq(nx)[None, :]
    radius = np.hypot(fy, fx)
    edges = np.linspace(0, 0.5, bins + 1)
    ring = np.digitize(radius, edges) - 1
    inside = (ring >= 0) & (ring < bins)
    total = np.bincount(ring[inside], power[inside], bins)
    count = np.bincount(ring[inside], minlength=bins)
    return (edges[:-1] + edges[1:]) / 2, total / np.maximum(count, 1)


def high_frequency_ratio(pred: np.ndarray, target: np.ndarray, cutoff: float = 0.25) -> float:
    """Power of ``pred`` above ``cutoff`` cycles per pixel divided by the target's.

    1: as much fine detail (texture, edges, noise) as the target; below 1: smoother (blurred,
    as an average of plausible outputs is); above 1: more (noise, invented texture). Says
    nothing about whether the detail is in the right place: read it next to Pearson r and SSIM.
    """
    if not 0 < cutoff < 0.5:
        raise ValueError(f"cutoff={cutoff}: choose a frequency between 0 and 0.5 cycles/pixel.")
    freq, p_pred = radial_power_spectrum(pred)
    _, p_target = radial_power_spectrum(target)
    high = freq > cutoff
    return float(p_pred[high].sum() / max(p_target[high].sum(), 1e-30))
