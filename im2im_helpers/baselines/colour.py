"""The colour baseline of stain transfer: a per-pixel function of the colour, fitted on training
pixels (:class:`ColourRidge`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ColourRidge:
    """Ridge regression from each pixel's colour to its target value(s), pixel by pixel.

    The classical answer to stain transfer without context: what a (polynomial) function of one
    pixel's channel values can predict. No neighbourhood is seen, so texture, shape and anything
    that is not written in the colour itself are out of reach. Fitted in closed form on a seeded
    sample of training pixels.

    Parameters
    ----------
    degree : {1, 2}
        1: a linear function of the channels; 2: also every product of two channels (squares
        included), a little non-linearity.
    alpha : float
        Ridge penalty on standardised features.
    optical_density : bool
        Use ``-log(max(x, eps))`` of the channels (the optical density of a brightfield image
        scaled to [0, 1], where colour deconvolution is linear) instead of the values.
    samples : int
        Training pixels drawn (seeded) from all training images.
    seed : int
        Seed of the pixel sample.
    """

    def __init__(self, degree: int = 2, alpha: float = 1e-3, optical_density: bool = False,
                 samples: int = 200_000, seed: int = 0, eps: float = 1e-3):
        if degree not in (1, 2):
            raise ValueError(f"degree={degree}: choose 1 (linear) or 2 (quadratic).")
        self.degree, self.alpha, self.optical_density = degree, alpha, optical_density
        self.samples, self.seed, self.eps = samples, seed, eps
        self.coef_: np.ndarray | None = None

    def features(self, x: np.ndarray) -> np.ndarray:
        """Per-pixel features of ``(C, *spatial)``: ``(pixels, features)``."""
        x = np.asarray(x, dtype=np.float64)
        f = x.reshape(x.shape[0], -1).T
        if self.optical_density:
            f = -np.log(np.maximum(f, self.eps))
        if self.degree == 2:
            i, j = np.triu_indices(f.shape[1])
            f = np.concatenate([f, f[:, i] * f[:, j]], axis=1)
        return f

    def fit(self, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> ColourRidge:
        """Fit on training images ``(C, *spatial)`` and their targets ``(T, *spatial)``."""
        if not len(inputs) or len(inputs) != len(targets):
            raise ValueError(f"{len(inputs)} inputs and {len(targets)} targets: need as many, "
                             "at least one.")
        rng = np.random.default_rng(self.seed)
        per_image = max(1, self.samples // len(inputs))
        rows, ys = [], []
        for x, y in zip(inputs, targets):
            design = self.features(x)
            yv = np.asarray(y, dtype=np.float64).reshape(np.shape(y)[0], -1).T
            if len(design) != len(yv):
                raise ValueError(f"input {np.shape(x)} and target {np.shape(y)} differ in size.")
            idx = rng.choice(len(yv), size=min(per_image, len(yv)), replace=False)
            rows.append(design[idx])
            ys.append(yv[idx])
        a, b = np.concatenate(rows), np.concatenate(ys)
        self.mean_, self.scale_ = a.mean(0), a.std(0) + 1e-8
        a = (a - self.mean_) / self.scale_
        self.intercept_ = b.mean(0)
        gram = a.T @ a + self.alpha * len(a) * np.eye(a.shape[1])
        self.coef_ = np.linalg.solve(gram, a.T @ (b - self.intercept_))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predict ``(T, *spatial)`` float32 for one image ``(C, *spatial)``."""
        if self.coef_ is None:
            raise RuntimeError("ColourRidge.predict called before fit().")
        a = (self.features(x) - self.mean_) / self.scale_
        y = a @ self.coef_ + self.intercept_
        return y.T.reshape(-1, *np.shape(x)[1:]).astype(np.float32)
