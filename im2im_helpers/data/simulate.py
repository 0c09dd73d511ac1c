"""Simulated pairs made from real images, each marked ``simulated`` with how it was made.

Used where no real pair ships offline: noise for denoising, a wider PSF for a confocal-like
input, shuffled correspondences for unpaired training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import ndimage as ndi

from im2im_helpers.data.pairs import Pair, Pairs


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


# --- simulated instance segmentation: curved, touching worms --------------------------------

#: Blur (sigma of the Gaussian PSF, pixels) and background level of :func:`worms` images.
WORM_PSF_SIGMA = 1.0
WORM_BACKGROUND = 0.1
#: Random positions tried per worm before it is left out (crowded images hold fewer worms).
WORM_TRIES = 500


def _worm_mask(rng: np.random.Generator, length: float, width: float) -> np.ndarray:
    """One worm in its own box: a disk of diameter ``width`` swept along a centre line of
    ``length`` pixels whose heading turns steadily (a C) or one way and then back (an S),
    plus a slow random wobble. The box has an empty margin of at least one pixel."""
    n = max(2, int(round(2 * length)))  # half-pixel steps: the rasterised line has no gaps
    u = np.linspace(0, 1, n)
    sign = rng.choice([-1.0, 1.0])
    if rng.random() < 0.5:  # C: the heading turns by 145 to 235 degrees along the worm
        heading = sign * rng.uniform(0.8, 1.3) * np.pi * u
    else:  # S: it turns by 110 to 180 degrees one way along the first half, back along the second
        heading = sign * rng.uniform(0.3, 0.5) * np.pi * (1 - np.cos(2 * np.pi * u))
    wobble = ndi.gaussian_filter1d(np.cumsum(rng.normal(0, 0.04, n)), n / 10)
    heading = heading + wobble + rng.uniform(0, 2 * np.pi)
    step = length / (n - 1)
    y = np.concatenate([[0.0], np.cumsum(np.sin(heading[:-1]) * step)])
    x = np.concatenate([[0.0], np.cumsum(np.cos(heading[:-1]) * step)])
    pad = int(np.ceil(width / 2)) + 1
    iy = np.round(y - y.min()).astype(int) + pad
    ix = np.round(x - x.min()).astype(int) + pad
    line = np.zeros((iy.max() + pad + 1, ix.max() + pad + 1), bool)
    line[iy, ix] = True
    return ndi.distance_transform_edt(~line) <= width / 2


def _place_worms(rng: np.random.Generator, shape: tuple[int, int], n_worms: int,
                 length: Sequence[float], width: Sequence[float], touching: bool
                 ) -> tuple[np.ndarray, list[float]]:
    """Label image of up to ``n_worms`` worms, and each placed worm's brightness."""
    labels = np.zeros(shape, np.int32)
    brightness: list[float] = []
    max_overlap = int(width[0]) // 2  # too few pixels to cut through an earlier worm
    for _ in range(n_worms):
        mask = _worm_mask(rng, rng.uniform(*length), rng.uniform(*width))
        grown = ndi.binary_dilation(mask)  # the worm and the pixels that would touch it
        touch = touching and len(brightness) > 0 and rng.random() < 0.6
        h, w = mask.shape
        if h > shape[0] or w > shape[1]:
            continue
        for attempt in range(WORM_TRIES):
            oy, ox = rng.integers(0, shape[0] - h + 1), rng.integers(0, shape[1] - w + 1)
            window = labels[oy:oy + h, ox:ox + w]  # a view: writing to it writes to labels
            occupied = window > 0
            contact = np.count_nonzero(occupied & grown)
            if touch and attempt < WORM_TRIES // 2:
                ok = 0 < contact and np.count_nonzero(occupied & mask) <= max_overlap
            else:  # a worm that found no contact in half the tries is placed apart
                ok = contact == 0 or (touch and np.count_nonzero(occupied & mask) <= max_overlap)
            if ok:
                brightness.append(float(rng.uniform(0.6, 1.0)))
                window[mask] = len(brightness)  # a later worm overwrites an earlier one
                break
    return labels, brightness


def worms(n_images: int = 4, shape: Sequence[int] = (128, 128),
          worms_per_image: Sequence[int] = (6, 10), length: Sequence[float] = (40, 90),
          width: Sequence[float] = (5, 9), touching: bool = True, noise: float = 0.1,
          seed: int = 0) -> Pairs:
    """Simulated fluorescence images of curved, touching, worm-like objects -> instance labels.

    **Simulated data**, made to show where classical instance segmentation fails: the worms
    are long and bent into C and S shapes, so they are not star-convex (for a C-shaped worm
    even its centroid lies outside it), and many touch. Otsu + distance-transform watershed
    cuts such a worm into several pieces and merges worms that touch along their length;
    a method that lets every pixel point at its object's centre (spatial embeddings) does not
    need convex objects.

    Each worm is a disk of diameter drawn from ``width`` swept along a centre line of length
    drawn from ``length`` (pixels). Half the worms are C-shaped (the heading turns by 145 to 235
    degrees), half S-shaped (it turns one way, then back), all with a slow random wobble.
    Worms are placed at random positions; with ``touching=True`` about 60 % of the worms after
    the first are meant to touch an earlier one (they may overlap it by a few pixels, which the
    later worm takes over; half of :data:`WORM_TRIES` random positions are tried for a contact,
    then any free place will do), the others touch no earlier worm. A worm that finds no place
    in :data:`WORM_TRIES` tries is left out, so crowded images hold fewer worms.

    The input is fluorescence-like: background :data:`WORM_BACKGROUND`, each worm uniformly
    bright (0.6 to 1.0), blurred by a Gaussian PSF of :data:`WORM_PSF_SIGMA` pixels, plus
    Gaussian noise of standard deviation ``noise``.

    Parameters
    ----------
    n_images : int
        Number of pairs.
    shape : sequence of int
        ``(Y, X)`` size of every image (2D only).
    worms_per_image : (int, int)
        Smallest and largest number of worms tried per image (inclusive).
    length, width : (float, float)
        Ranges of the centre-line length and of the worm diameter, in pixels.
    touching : bool
        Place some worms in contact with others.
    noise : float
        Standard deviation of the additive Gaussian noise.
    seed : int
        Seed of everything random: the same seed gives the same pairs.

    Returns
    -------
    Pairs
        ``simulated=True``, named ``img000``, ``img001``, ...; inputs ``(1, Y, X)`` float32,
        targets ``(1, Y, X)`` float32 label images (integer values, 0 = background, worms
        1..N); ``config["source"]["simulated"]`` records every parameter.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise ValueError(f"worms: shape {shape} must be 2D (Y, X).")
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n_images):
        n_worms = int(rng.integers(worms_per_image[0], worms_per_image[1] + 1))
        labels, brightness = _place_worms(rng, shape, n_worms, length, width, touching)
        clean = np.concatenate([[WORM_BACKGROUND], brightness])[labels]
        image = ndi.gaussian_filter(clean, WORM_PSF_SIGMA) + rng.normal(0, noise, shape)
        items.append(Pair(f"img{i:03d}", image[None].astype(np.float32),
                          labels[None].astype(np.float32)))
    return _pairs(items, {"kind": "worms", "n_images": n_images, "shape": list(shape),
                          "worms_per_image": list(worms_per_image), "length": list(length),
                          "width": list(width), "touching": touching, "noise": noise,
                          "seed": seed, "psf_sigma": WORM_PSF_SIGMA,
                          "background": WORM_BACKGROUND})


# --- simulated label-free 3D: brightfield-like cells -> nuclear stain ------------------------

#: Refractive-index contrast (arbitrary units) of cytoplasm, nucleus and nucleoli in
#: :func:`cells_3d`: the nucleus differs little from the cytoplasm around it.
CELL_INDEX = {"cytoplasm": 1.0, "nucleus": 0.25, "nucleolus": 0.6}


def _ellipsoid(grid: Sequence[np.ndarray], centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1.0


def cells_3d(n_volumes: int = 6, shape: Sequence[int] = (24, 96, 96), cells: int = 8,
             noise: float = 0.03, seed: int = 0) -> Pairs:
    """Simulated brightfield-like 3D stacks of cells -> their nuclear stain (label-free 3D).

    **Simulated data**, a stand-in for the Allen hiPSC fields of view (brightfield -> DNA or
    structure channel) that cannot ship offline. Every volume holds ``cells`` ellipsoidal cells
    (radii about 11-15 pixels in YX, 5-7 in Z: anisotropic, like a confocal stack), each with an
    off-centre ellipsoidal nucleus (0.45-0.6 of the cell) holding 1-3 nucleoli.

    * **Input** (brightfield-like): a transparent object seen slightly out of focus shows the
      curvature of its optical thickness, not the object: ``1 - Laplacian(blurred index)``, with
      the refractive index of :data:`CELL_INDEX` (the nucleus adds little to the cytoplasm, the
      nucleoli more), an axially elongated blur (sigma 2 pixels in Z, 1 in YX), a slow
      illumination gradient and Gaussian noise of ``noise``. Nuclear edges are faint; a model
      must use the shape and context of the cell.
    * **Target** (nuclear stain): each nucleus uniformly stained at a brightness drawn from
      0.6-1.0 (not visible in the input: no model can know it), times a chromatin texture
      (smoothed noise, +-20 %: fine detail that is not in the input either), nucleoli left dark,
      blurred by sigma 1 pixel.

    Parameters
    ----------
    n_volumes : int
        Number of pairs.
    shape : sequence of int
        ``(Z, Y, X)`` size of every volume.
    cells : int
        Cells placed per volume (they may touch and overlap a little).
    noise : float
        Standard deviation of the input's Gaussian noise.
    seed : int
        Seed of everything random: the same seed gives the same pairs.

    Returns
    -------
    Pairs
        ``simulated=True``, named ``vol000``, ...; inputs and targets ``(1, Z, Y, X)`` float32;
        ``config["source"]["simulated"]`` records every parameter.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise ValueError(f"cells_3d: shape {shape} must be 3D (Z, Y, X).")
    rng = np.random.default_rng(seed)
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    items = []
    for i in range(n_volumes):
        index, stain = np.zeros(shape), np.zeros(shape)
        for _ in range(cells):
            radii = np.array([rng.uniform(5, 7), *rng.uniform(11, 15, 2)])
            centre = np.array([rng.uniform(0.35, 0.65) * shape[0],
                               *(rng.uniform(0, s) for s in shape[1:])])
            cell = _ellipsoid(grid, centre, radii)
            scale = rng.uniform(0.45, 0.6)
            offset = rng.uniform(-0.2, 0.2, 3) * radii * np.array([0.5, 1, 1])
            nucleus = _ellipsoid(grid, centre + offset, radii * scale) & cell
            nucleoli = np.zeros(shape, bool)
            for _ in range(int(rng.integers(1, 4))):
                spot = centre + offset + rng.uniform(-0.4, 0.4, 3) * radii * scale
                nucleoli |= _ellipsoid(grid, spot, np.array([1.2, 2.0, 2.0]) * rng.uniform(1, 1.5))
            nucleoli &= nucleus
            index = np.maximum(index, CELL_INDEX["cytoplasm"] * cell)
            index += CELL_INDEX["nucleus"] * nucleus + CELL_INDEX["nucleolus"] * nucleoli
            stain = np.where(nucleus & ~nucleoli, rng.uniform(0.6, 1.0), stain)
        grain = ndi.gaussian_filter(rng.normal(0, 1, shape), 1.0)
        texture = 1 + 0.2 * grain / grain.std()
        target = ndi.gaussian_filter(stain * np.clip(texture, 0.5, 1.5), 1.0)
        phase = ndi.gaussian_filter(index, (2.0, 1.0, 1.0))
        gradient = 0.1 * np.linspace(-1, 1, shape[2])[None, None, :]
        image = 1 - 2.0 * ndi.laplace(phase) + gradient + rng.normal(0, noise, shape)
        items.append(Pair(f"vol{i:03d}", image[None].astype(np.float32),
                          target[None].astype(np.float32)))
    return _pairs(items, {"kind": "cells_3d", "n_volumes": n_volumes, "shape": list(shape),
                          "cells": cells, "noise": noise, "seed": seed,
                          "index": dict(CELL_INDEX)})
