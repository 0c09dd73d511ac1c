"""Simulated pairs made from real images, each marked ``simulated`` with how it was made.

Used where no real pair ships offline: noise for denoising, a wider PSF for a confocal-like
input, masks as inputs for synthetic images, shuffled correspondences for unpaired training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import ndimage as ndi

from im2im_helpers.pairs import Pair, Pairs


def _clean_images(images: Pairs | Sequence[np.ndarray]) -> list[tuple[str, np.ndarray, tuple]]:
    if isinstance(images, Pairs):
        return [(p.name, p.target, p.pixel_sizes) for p in images]
    return [(f"img{i:03d}", np.asarray(x, np.float32), (None, None, None))
            for i, x in enumerate(images)]


def _pairs(items: list[Pair], how: dict) -> Pairs:
    return Pairs(items, {"source": {"simulated": how}}, simulated=True)


def poisson_gaussian(images: Pairs | Sequence[np.ndarray], photons: float = 10.0,
                     read_noise: float = 0.02, seed: int = 0) -> Pairs:
    """Noisy -> clean pairs: ``noisy = Poisson(photons * clean) / photons + N(0, read_noise²)``.

    ``clean`` should be scaled to about [0, 1] (values below 0 count as 0 photons). Fewer
    ``photons`` means more shot noise. From :class:`Pairs` the *targets* are the clean images.
    """
    rng = np.random.default_rng(seed)
    items = []
    for name, clean, sizes in _clean_images(images):
        expected = np.clip(clean, 0, None) * photons
        noisy = rng.poisson(expected) / photons + rng.normal(0, read_noise, clean.shape)
        items.append(Pair(name, noisy.astype(np.float32), clean.astype(np.float32), None, sizes))
    return _pairs(items, {"kind": "poisson_gaussian", "photons": photons,
                          "read_noise": read_noise, "seed": seed})


def confocal_like(images: Pairs | Sequence[np.ndarray], psf_sigma: float = 2.0,
                  photons: float = 50.0, read_noise: float = 0.01, seed: int = 0) -> Pairs:
    """Blurred, noisy -> sharp pairs: a Gaussian PSF of ``psf_sigma`` pixels (per spatial axis)
    and Poisson-Gaussian noise turn a sharp image into a confocal-like input."""
    rng = np.random.default_rng(seed)
    items = []
    for name, sharp, sizes in _clean_images(images):
        blurred = ndi.gaussian_filter(sharp, [0] + [psf_sigma] * (sharp.ndim - 1))
        noisy = rng.poisson(np.clip(blurred, 0, None) * photons) / photons
        noisy = noisy + rng.normal(0, read_noise, sharp.shape)
        items.append(Pair(name, noisy.astype(np.float32), sharp.astype(np.float32), None, sizes))
    return _pairs(items, {"kind": "confocal_like", "psf_sigma": psf_sigma, "photons": photons,
                          "read_noise": read_noise, "seed": seed})


def masks_to_images(pairs: Pairs, binary: bool = True) -> Pairs:
    """Swap input and target: masks (binary foreground by default) become the input and the
    real image the target, for learning to synthesise images from masks."""
    items = [replace(p, input=(p.target > 0).astype(np.float32) if binary else p.target,
                     target=p.input) for p in pairs]
    return Pairs(items, {**pairs.config, "simulated_pairing": "masks_to_images"},
                 simulated=True)


def shuffled(pairs: Pairs, seed: int = 0) -> Pairs:
    """Unpaired data from paired data: every input gets another pair's target (no pair keeps
    its own when there are two or more), so a model cannot use the correspondence."""
    n = len(pairs)
    rng = np.random.default_rng(seed)
    order = np.arange(n)
    while n > 1 and np.any(order == np.arange(n)):  # a derangement, ~e draws on average
        order = rng.permutation(n)
    items = [replace(p, target=pairs[int(j)].target, name=f"{p.name}~{pairs[int(j)].name}")
             for p, j in zip(pairs, order)]
    return Pairs(items, {**pairs.config, "simulated_pairing": {"shuffled": order.tolist(),
                                                               "seed": seed}}, simulated=True)
