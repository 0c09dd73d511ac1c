"""Comparing methods on held-out images: every method (a tuned baseline, a network wrapped by
:func:`im2im_helpers.predict.as_function`, or ``None`` for the input itself) applied to every
test input (:func:`apply`), and how restoration methods fare as the light dose changes
(:func:`noise_sweep`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from im2im_helpers import baselines, metrics
from im2im_helpers.data import simulate
from im2im_helpers.data.pairs import Pairs

Method = Callable[[np.ndarray], np.ndarray]


def apply(methods: Mapping[str, Method | None], pairs: Pairs) -> dict[str, list[np.ndarray]]:
    """Run every method on every input of ``pairs``; ``None`` stands for "the input itself"."""
    return {name: [p.input if f is None else f(p.input) for p in pairs]
            for name, f in methods.items()}


def noise_sweep(
    train_clean: Sequence[np.ndarray],
    test_clean: Sequence[np.ndarray],
    photons: Sequence[float],
    networks: Mapping[str, Method],
    read_noise: float = 0.02,
    seed: int = 0,
    names: Sequence[str] = ("psnr", "ssim"),
) -> dict[str, dict[str, dict[float, float]]]:
    """How each method does as the light dose changes.

    At every photon count, new Poisson-Gaussian noise is simulated on the training and test
    images (seeded); the Gaussian filter and non-local means are re-tuned on the *training*
    images at that noise level (a fair classical baseline knows the noise level); the networks
    are applied as they are (trained at one level: the sweep shows how far that carries).

    Returns
    -------
    dict
        ``{metric: {method: {photons: mean value over test images}}}``, methods ``noisy``,
        ``gaussian``, ``nl_means`` and the networks.
    """
    out: dict[str, dict[str, dict[float, float]]] = {n: {} for n in names}
    for level in photons:
        train = simulate.poisson_gaussian(train_clean, level, read_noise, seed=seed)
        test = simulate.poisson_gaussian(test_clean, level, read_noise, seed=seed + 1)
        tuned = baselines.fit_denoisers([p.input for p in train], [p.target for p in train])
        methods = {"noisy": None, **tuned, **networks}
        table = metrics.table(apply(methods, test), [p.target for p in test], names)
        for method, row in table.items():
            for n in names:
                out[n].setdefault(method, {})[float(level)] = row[n]
    return out
