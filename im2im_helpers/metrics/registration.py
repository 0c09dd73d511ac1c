"""Registration quality: endpoint error where the displacement is known, similarity after
warping (NCC, SSIM), and folding (a negative Jacobian determinant).

Fields are ``(dims, *spatial)`` in pixels, channels in the image's axis order, in the
convention of :mod:`im2im_helpers.data.deform`: ``warped(x) = moving(x + u(x))``. The map
whose Jacobian is measured is ``x -> x + u(x)``; where its determinant is ``<= 0`` the field
folds the image over itself (no physical motion does that).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity


def _field(u, what: str) -> np.ndarray:
    u = np.asarray(u, dtype=np.float64)
    if u.ndim not in (3, 4) or u.shape[0] != u.ndim - 1:
        raise ValueError(f"{what} has shape {u.shape}: expected a displacement field (2, Y, X) "
                         "or (3, Z, Y, X), one channel per spatial axis.")
    return u


def _mask(mask, spatial: tuple, what: str = "mask") -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask, dtype=bool)
    m = m.reshape(m.shape[1:]) if m.ndim == len(spatial) + 1 and m.shape[0] == 1 else m
    if m.shape != spatial:
        raise ValueError(f"{what} has shape {np.shape(mask)}: expected the fields' spatial "
                         f"shape {spatial}.")
    if not m.any():
        raise ValueError(f"{what} selects no pixel: nothing to measure.")
    return m


def endpoint_error(pred, true, mask=None) -> float:
    """Mean length of ``pred - true`` in pixels (over ``mask``'s pixels when given).

    Parameters
    ----------
    pred, true : array
        Displacement fields of one shape, ``(dims, *spatial)``.
    mask : array of bool, optional
        Spatial (``(*spatial)`` or ``(1, *spatial)``): where to measure (e.g. away from the
        border, or on cells).
    """
    p, t = _field(pred, "pred"), _field(true, "true")
    if p.shape != t.shape:
        raise ValueError(f"pred has shape {p.shape} but true has shape {t.shape}: compare fields "
                         "of one shape.")
    error = np.sqrt(((p - t) ** 2).sum(0))
    m = _mask(mask, error.shape)
    return float(error[m].mean() if m is not None else error.mean())


def _images(a, b, a_name: str, b_name: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{a_name} has shape {a.shape} but {b_name} has shape {b.shape}: "
                         "compare images of one shape.")
    return np.squeeze(a), np.squeeze(b)


def ncc(warped, fixed, mask=None) -> float:
    """Normalised cross-correlation (Pearson's r over the pixels, within ``mask``) of the
    warped moving image and the fixed image: 1 for images equal up to brightness and contrast;
    0 when either is constant."""
    a, b = _images(warped, fixed, "warped", "fixed")
    m = _mask(mask, a.shape)
    a, b = (a[m], b[m]) if m is not None else (a.ravel(), b.ravel())
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def ssim(warped, fixed, data_range: float | None = None) -> float:
    """Structural similarity of the warped moving and the fixed image (data range: the fixed
    image's max - min by default; a 7-pixel window, smaller for small images)."""
    a, b = _images(warped, fixed, "warped", "fixed")
    if data_range is None:
        data_range = float(b.max() - b.min()) or 1.0
    win = min(7, *(s if s % 2 else s - 1 for s in b.shape))
    return float(structural_similarity(b, a, data_range=data_range, win_size=win))


def jacobian_determinant(displacement) -> np.ndarray:
    """The determinant of the Jacobian of ``x -> x + u(x)`` at every pixel (central
    differences, one-sided at the border; :func:`numpy.gradient`): 1 for a translation,
    ``<= 0`` where the field folds."""
    u = _field(displacement, "displacement")
    dims = u.shape[0]
    # jac[..., i, j] = d(x_i + u_i) / d x_j
    jac = np.stack([np.stack(np.gradient(u[i]), axis=-1) for i in range(dims)], axis=-2)
    jac = jac + np.eye(dims)
    return np.linalg.det(jac)


def folding_fraction(displacement, mask=None) -> float:
    """The fraction of pixels (within ``mask``) where the field folds: the Jacobian determinant
    of ``x -> x + u(x)`` is ``<= 0``."""
    det = jacobian_determinant(displacement)
    m = _mask(mask, det.shape)
    folded = det <= 0
    return float(folded[m].mean() if m is not None else folded.mean())


def scores(displacement, warped, fixed, true=None, mask=None) -> dict[str, float]:
    """All registration metrics of one result: ``ncc``, ``ssim`` (warped vs fixed),
    ``folding`` and, when the true field is given, ``epe`` (within ``mask`` if given)."""
    out = {"ncc": ncc(warped, fixed, mask), "ssim": ssim(warped, fixed),
           "folding": folding_fraction(displacement, mask)}
    if true is not None:
        out["epe"] = endpoint_error(displacement, true, mask)
    return out


#: Registration metrics of :func:`scores`, and which direction is better.
HIGHER_IS_BETTER = {"ncc": True, "ssim": True, "folding": False, "epe": False}
