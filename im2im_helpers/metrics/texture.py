"""Texture statistics: how much fine detail an image has, frequency by frequency, next to a
reference. Used to tell a blurred prediction (an average of plausible outputs) from a sharp or
noisy one, and to measure checkerboard artifacts (patterns of period two pixels), in 2D and 3D.
"""

from __future__ import annotations

import numpy as np

#: Default half-width, in cycles per pixel along each axis, of the neighbourhood of each
#: period-2 frequency that :func:`checkerboard_ratio` counts.
NYQUIST_WIDTH = 0.05


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


def _power_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The YX power spectrum ``|F|^2 / pixels`` of the planes of ``x`` (mean removed, Hann
    window), averaged over planes, and the frequencies of its rows and columns (cycles/pixel,
    FFT order)."""
    planes = _planes(x)
    ny, nx = planes.shape[1:]
    window = np.outer(np.hanning(ny), np.hanning(nx))
    centred = (planes - planes.mean(axis=(1, 2), keepdims=True)) * window
    power = (np.abs(np.fft.fft2(centred)) ** 2).mean(axis=0) / (ny * nx)
    return power, np.fft.fftfreq(ny)[:, None], np.fft.fftfreq(nx)[None, :]


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
    power, fy, fx = _power_2d(x)
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


def nyquist_share(x: np.ndarray, width: float = NYQUIST_WIDTH) -> float:
    """Share of an image's variance that sits at the period-2 frequencies of the pixel grid.

    The power spectrum of the YX planes (as in :func:`radial_power_spectrum`: mean removed, Hann
    window, a volume's planes averaged) summed near the three frequencies of patterns that
    repeat every two pixels: a checkerboard (0.5, 0.5 cycles/pixel), horizontal stripes (0.5,
    0) and vertical stripes (0, 0.5), each within ``width`` cycles/pixel along each axis (the
    artifacts of a stride-2 network are such patterns modulated by the image content, which
    spreads their power a little around these points); divided by the power at all
    frequencies. White noise puts ``12 width²`` there (0.03 for the default width); smooth
    images far less.

    Parameters
    ----------
    x : numpy.ndarray
        ``(Y, X)``, ``(C, Y, X)`` or ``(C, Z, Y, X)`` (periods along Z are not looked at).
    width : float
        Half-width of each neighbourhood, in cycles per pixel, between 0 and 0.25.

    Returns
    -------
    float
        Between 0 and 1 (0 for a constant image).
    """
    if not 0 < width < 0.25:
        raise ValueError(f"width={width}: choose a half-width between 0 and 0.25 cycles/pixel "
                         f"(default {NYQUIST_WIDTH}).")
    power, fy, fx = _power_2d(x)
    half_y, zero_y = np.abs(fy) >= 0.5 - width, np.abs(fy) <= width
    half_x, zero_x = np.abs(fx) >= 0.5 - width, np.abs(fx) <= width
    near = (half_y & (half_x | zero_x)) | (zero_y & half_x)
    total = power.sum()
    return float(power[near].sum() / total) if total > 0 else 0.0


def checkerboard_ratio(pred: np.ndarray, target: np.ndarray,
                       width: float = NYQUIST_WIDTH) -> float:
    """How much more of ``pred``'s variance sits at the period-2 frequencies than of the target's:
    :func:`nyquist_share` of ``pred`` divided by that of ``target``.

    1: the prediction has the target's share of checkerboard- and stripe-like patterns of period
    two pixels; above 1: more (checkerboard artifacts of a network, or pixel noise left over,
    which also has power there: compare with the noisy input's value); below 1: less (smoother
    than the target at the finest scale). A share, not a power, so a prediction brighter or
    dimmer than the target is not penalised for that.
    """
    return nyquist_share(pred, width) / max(nyquist_share(target, width), 1e-30)
