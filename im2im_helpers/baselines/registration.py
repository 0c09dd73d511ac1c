"""Classical registration a network must beat: phase correlation (a translation) and TV-L1
optical flow (a dense field), from scikit-image.

Both return ``(displacement, warped)`` in the convention of :mod:`im2im_helpers.data.deform`
(MONAI's ``Warp``): ``displacement`` is ``(dims, *spatial)`` in pixels, channels in the
image's axis order, and ``warped(x) = moving(x + u(x)) ~ fixed(x)``.

Conversions (checked by the tests): ``skimage.registration.phase_cross_correlation(fixed,
moving)`` returns the shift that :func:`scipy.ndimage.shift` applies to ``moving`` to match
``fixed`` (``moving(x - s) ~ fixed(x)``), so ``u = -s`` everywhere;
``skimage.registration.optical_flow_tvl1(fixed, moving)`` returns ``(row, col[, ...])`` flows
``v`` with ``moving(x + v(x)) ~ fixed(x)``: already this convention, in the same axis order.
"""

from __future__ import annotations

import numpy as np
from skimage.registration import optical_flow_tvl1, phase_cross_correlation

from im2im_helpers.data import deform


def _spatial(moving, fixed) -> tuple[np.ndarray, np.ndarray]:
    deform.check_pair(moving, fixed)
    dims = deform.spatial_dims_of(moving, "moving")
    shape = np.shape(moving)[-dims:]
    return (np.asarray(moving, np.float32).reshape(shape),
            np.asarray(fixed, np.float32).reshape(shape))


def phase_correlation(moving, fixed, upsample_factor: int = 1, **options
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The translation that registers ``moving`` to ``fixed``, by phase correlation.

    Parameters
    ----------
    moving, fixed : array
        One image each, of one shape: ``(Y, X)``, ``(1, Y, X)`` or ``(1, Z, Y, X)``.
    upsample_factor : int
        Sub-pixel precision ``1 / upsample_factor`` (1: whole pixels).
    **options
        Passed to :func:`skimage.registration.phase_cross_correlation` (e.g.
        ``normalization=None``).

    Returns
    -------
    displacement : numpy.ndarray
        ``(dims, *spatial)``, the same vector everywhere.
    warped : numpy.ndarray
        ``moving`` warped by it (edge values outside), of ``moving``'s shape.
    """
    m, f = _spatial(moving, fixed)
    shift, _, _ = phase_cross_correlation(f, m, upsample_factor=upsample_factor, **options)
    u = deform.translation_field(m.shape, -np.asarray(shift, dtype=np.float64))
    return u, deform.warp(moving, u)


def tvl1(moving, fixed, **options) -> tuple[np.ndarray, np.ndarray]:
    """A dense field that registers ``moving`` to ``fixed``, by TV-L1 optical flow.

    Parameters
    ----------
    moving, fixed : array
        One image each, of one shape: ``(Y, X)``, ``(1, Y, X)`` or ``(1, Z, Y, X)``.
    **options
        Passed to :func:`skimage.registration.optical_flow_tvl1` (``attachment``,
        ``tightness``, ``num_warp``, ``num_iter``, ``tol``, ``prefilter``).

    Returns
    -------
    displacement : numpy.ndarray
        ``(dims, *spatial)`` float32, pixels.
    warped : numpy.ndarray
        ``moving`` warped by it, of ``moving``'s shape.
    """
    m, f = _spatial(moving, fixed)
    u = np.asarray(optical_flow_tvl1(f, m, **options), dtype=np.float32)
    return u, deform.warp(moving, u)


#: The baselines by name, each ``(moving, fixed) -> (displacement, warped)``.
METHODS = {"phase_correlation": phase_correlation, "tvl1": tvl1}
