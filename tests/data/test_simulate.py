"""Simulated pairs are what they say they are: noise with the documented statistics, blur,
shuffled pairings, 3D cells and curved touching worms, seeded and marked simulated
(:mod:`im2im_helpers.data.simulate`)."""

import numpy as np
import pytest
from skimage.measure import label, regionprops

from im2im_helpers import data
from im2im_helpers.data import simulate


def test_poisson_gaussian_noise_has_the_documented_statistics():
    clean = np.full((1, 200, 200), 0.5, np.float32)
    pairs = simulate.poisson_gaussian([clean], photons=20, read_noise=0.05, seed=1)
    noise = pairs[0].input - pairs[0].target
    assert pairs.simulated and pairs.config["source"]["simulated"]["photons"] == 20
    assert noise.mean() == pytest.approx(0, abs=0.005)
    assert noise.var() == pytest.approx(0.5 / 20 + 0.05**2, rel=0.05)
    again = simulate.poisson_gaussian([clean], photons=20, read_noise=0.05, seed=1)
    np.testing.assert_array_equal(again[0].input, pairs[0].input)  # seeded


def test_confocal_like_is_blurred_and_keeps_the_sharp_target():
    sharp = np.zeros((1, 41, 41), np.float32)
    sharp[0, 20, 20] = 1.0
    pair = simulate.confocal_like([sharp], psf_sigma=3, photons=1e6, read_noise=0)[0]
    assert pair.target[0, 20, 20] == 1.0
    assert pair.input[0, 20, 20] < 0.05 and pair.input[0, 20, 26] > 0.001  # spread out


def test_shuffled_pairs_take_every_target_from_another_pair():
    pairs = data.load("ndev-nuclei", normalize_target=False)
    unpaired = simulate.shuffled(pairs, seed=0)
    assert unpaired.simulated
    order = unpaired.config["simulated_pairing"]["shuffled"]
    assert sorted(order) == list(range(10)) and all(i != j for i, j in enumerate(order))
    np.testing.assert_array_equal(unpaired[0].target, pairs[order[0]].target)


def test_simulated_3d_cells_are_seeded_and_marked():
    a = simulate.cells_3d(n_volumes=2, shape=(16, 48, 48), cells=4, seed=3)
    b = simulate.cells_3d(n_volumes=2, shape=(16, 48, 48), cells=4, seed=3)
    assert a.simulated and a.names == ["vol000", "vol001"]
    assert a.config["source"]["simulated"]["kind"] == "cells_3d"
    assert a[0].input.shape == a[0].target.shape == (1, 16, 48, 48)
    np.testing.assert_array_equal(a[1].input, b[1].input)
    stained = a[0].target[0] > 0.1
    assert 0 < stained.mean() < 0.3  # nuclei: a small part of the volume
    # the brightfield-like input is not a picture of the stain: nearly uncorrelated
    assert abs(np.corrcoef(a[0].input.ravel(), a[0].target.ravel())[0, 1]) < 0.5
    with pytest.raises(ValueError, match="3D"):
        simulate.cells_3d(shape=(48, 48))


def test_worms_are_seeded_and_marked_simulated():
    a = simulate.worms(n_images=2, shape=(96, 96), worms_per_image=(3, 5), seed=3)
    b = simulate.worms(n_images=2, shape=(96, 96), worms_per_image=(3, 5), seed=3)
    c = simulate.worms(n_images=2, shape=(96, 96), worms_per_image=(3, 5), seed=4)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.input, q.input)
        np.testing.assert_array_equal(p.target, q.target)
    assert not np.array_equal(a[0].target, c[0].target)
    assert a.simulated and a.names == ["img000", "img001"]
    made = a.config["source"]["simulated"]
    assert made["kind"] == "worms" and made["seed"] == 3 and made["shape"] == [96, 96]
    assert made["worms_per_image"] == [3, 5] and made["touching"] is True


def test_worms_are_curved_touching_instances(worm_pairs):
    non_star, touching_pairs = 0, 0
    for p in worm_pairs:
        assert p.input.shape == p.target.shape == (1, 128, 128)
        assert p.input.dtype == p.target.dtype == np.float32
        lab = p.target[0]
        assert (lab == np.round(lab)).all() and lab.min() == 0
        lab = lab.astype(np.int32)
        ids = np.unique(lab[lab > 0])
        np.testing.assert_array_equal(ids, np.arange(1, len(ids) + 1))  # 1..N
        assert 4 <= len(ids) <= 10  # 6 to 10 tried; one that finds no free place is left out
        for region in regionprops(lab):
            assert label(region.image, connectivity=1).max() == 1  # every worm is one piece
            cy, cx = np.round(region.centroid).astype(int)
            non_star += lab[cy, cx] != region.label  # centroid outside: not star-convex
        for a, b in ((lab[1:], lab[:-1]), (lab[:, 1:], lab[:, :-1])):
            both = (a > 0) & (b > 0) & (a != b)
            touching_pairs += len({tuple(sorted(uv)) for uv in zip(a[both], b[both])})
        assert p.input[0][lab > 0].mean() > p.input[0][lab == 0].mean() + 0.3  # bright worms
    # Measured with seed 0: 45 worms in 6 images (5 to 9 each), 24 of them with the centroid
    # outside the worm (the C-shaped ones), 19 pairs of worms in contact.
    assert non_star >= 3
    assert touching_pairs >= 3
