"""Filter-based baselines: ridge regression on filter responses (label-free prediction) and the
classical denoisers (Gaussian, non-local means), tuned on training data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from im2im_helpers.tuning import Tuned, tune


def filter_features(x: np.ndarray, sigmas: Sequence[float] = (1, 2, 4, 8)) -> np.ndarray:
    """Per-pixel filter responses of a single-channel 2D/3D image: raw, and per sigma a
    Gaussian, local standard deviation, gradient magnitude and Laplacian of Gaussian.

    Returns an array of shape ``(1 + 4 * len(sigmas), *x.shape)``.
    """
    x = np.asarray(x, dtype=np.float32)
    feats = [x]
    for s in sigmas:
        mean = ndi.gaussian_filter(x, s)
        feats += [
            mean,
            np.sqrt(np.maximum(ndi.gaussian_filter(x * x, s) - mean * mean, 0)),
            ndi.gaussian_gradient_magnitude(x, s),
            ndi.gaussian_laplace(x, s),
        ]
    return np.stack(feats)


class FilterRidge:
    """Ridge regression from filter responses of the input to the target, pixel by pixel.

    The classical answer to label-free prediction: what a linear model of local texture can
    predict. Fitted in closed form on a seeded sample of training pixels (a few lines of numpy;
    scikit-learn's Ridge would add a dependency for the same solve).

    Parameters
    ----------
    sigmas : sequence of float
        Filter scales in pixels.
    alpha : float
        Ridge penalty on standardised features.
    squares : bool
        Add the square of every feature (a little non-linearity).
    samples : int
        Training pixels drawn (seeded) from all training images.
    seed : int
        Seed of the pixel sample.
    """

    def __init__(self, sigmas: Sequence[float] = (1, 2, 4, 8), alpha: float = 1.0,
                 squares: bool = True, samples: int = 200_000, seed: int = 0):
        self.sigmas, self.alpha, self.squares = tuple(sigmas), alpha, squares
        self.samples, self.seed = samples, seed
        self.coef_: np.ndarray | None = None

    def _features(self, x: np.ndarray) -> np.ndarray:
        """Filter responses, ``(features, pixels)`` float32."""
        return filter_features(np.squeeze(x), self.sigmas).reshape(len(self.sigmas) * 4 + 1, -1)

    def _design(self, features: np.ndarray) -> np.ndarray:
        """Rows of the (unstandardised) design matrix for the pixels in ``features``."""
        f = features.T.astype(np.float64)
        return np.concatenate([f, f * f], axis=1) if self.squares else f

    def fit(self, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> FilterRidge:
        """Fit on single-channel training images and their targets."""
        rng = np.random.default_rng(self.seed)
        per_image = max(1, self.samples // len(inputs))
        rows, ys = [], []
        for x, y in zip(inputs, targets):
            features, yv = self._features(x), np.asarray(y, dtype=np.float64).ravel()
            idx = rng.choice(len(yv), size=min(per_image, len(yv)), replace=False)
            rows.append(self._design(features[:, idx]))
            ys.append(yv[idx])
        a, b = np.concatenate(rows), np.concatenate(ys)
        self.mean_, self.scale_ = a.mean(0), a.std(0) + 1e-8
        a = (a - self.mean_) / self.scale_
        gram = a.T @ a + self.alpha * np.eye(a.shape[1])
        self.coef_ = np.linalg.solve(gram, a.T @ (b - b.mean()))
        self.intercept_ = b.mean()
        return self

    def predict(self, x: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
        """Predict the target for one image (same shape as ``x``); the model is applied to
        ``chunk`` pixels at a time, so a large 3D field of view needs only its filter
        responses in memory."""
        if self.coef_ is None:
            raise RuntimeError("FilterRidge.predict called before fit().")
        features = self._features(x)
        out = np.empty(features.shape[1], np.float32)
        for start in range(0, len(out), chunk):
            a = (self._design(features[:, start:start + chunk]) - self.mean_) / self.scale_
            out[start:start + chunk] = a @ self.coef_ + self.intercept_
        return out.reshape(np.shape(x))


def gaussian_denoise(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of each channel of ``(C, *spatial)`` (``sigma`` in pixels)."""
    x = np.asarray(x, dtype=np.float32)
    return ndi.gaussian_filter(x, [0] + [sigma] * (x.ndim - 1)).astype(np.float32)


def nl_means(x: np.ndarray, h: float) -> np.ndarray:
    """Non-local means (scikit-image) of each channel of ``(C, *spatial)``; ``h`` is the
    filtering strength in intensity units."""
    from skimage.restoration import denoise_nl_means

    return np.stack([denoise_nl_means(c, h=h, patch_size=5, patch_distance=6, fast_mode=True)
                     for c in np.asarray(x, dtype=np.float32)]).astype(np.float32)


def nl_means_relative(x: np.ndarray, factor: float) -> np.ndarray:
    """Non-local means with ``h = factor x`` the noise level of ``x`` (:func:`noise_sigma`):
    one tuned ``factor`` then suits images of different brightness and noise."""
    return nl_means(x, h=max(factor * noise_sigma(x), 1e-6))


def noise_sigma(x: np.ndarray) -> float:
    """Rough noise level of an image: the standard deviation of differences between horizontal
    neighbours, over sqrt(2). Edges inflate it a little; the factor tuned on training data
    absorbs that. (A median-based estimate fails on photon-starved images, where most
    neighbours hold the same count; scikit-image's ``estimate_sigma`` needs PyWavelets.)"""
    d = np.diff(np.asarray(x, dtype=np.float64), axis=-1)
    return float(np.std(d) / np.sqrt(2))


#: Parameters tried when tuning the classical denoisers (Gaussian sigma in pixels; non-local
#: means strength as a multiple of the estimated noise level).
GAUSSIAN_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0)
NLM_FACTORS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)


def fit_denoisers(noisy: Sequence[np.ndarray], clean: Sequence[np.ndarray],
                  sigmas: Sequence[float] = GAUSSIAN_SIGMAS,
                  factors: Sequence[float] = NLM_FACTORS,
                  methods: Sequence[str] = ("gaussian", "nl_means")) -> dict[str, Tuned]:
    """Tune a Gaussian filter and non-local means on *training* pairs (best mean PSNR).

    Returns
    -------
    dict of str to Tuned
        ``{"gaussian": Tuned, "nl_means": Tuned}`` (the ``methods`` asked for): call one on an
        image to denoise it with the chosen parameter (``sigma`` in pixels; ``factor`` times
        the estimated noise level).
    """
    candidates = {"gaussian": (gaussian_denoise, sigmas, "sigma"),
                  "nl_means": (nl_means_relative, factors, "factor")}
    unknown = set(methods) - set(candidates)
    if unknown:
        raise ValueError(f"methods={list(methods)}: unknown {sorted(unknown)}; choose from "
                         f"{sorted(candidates)}.")
    return {name: tune(candidates[name][0], noisy, clean, candidates[name][1],
                       parameters=(candidates[name][2],))
            for name in methods}
