"""Offline real samples line up, and simulated pairs are what they say they are."""

import numpy as np
import pytest

from im2im_helpers import data, samples, simulate


@pytest.mark.parametrize("name,shape,labels", [
    ("ndev-nuclei", (1, 210, 576), (59, 83)),
    ("ndev-cytoplasm", (1, 210, 576), (66, 103)),
    ("stardist-nuclei-2d", (1, 512, 512), (125, 125)),
    ("stardist-nuclei-3d", (1, 31, 61, 57), (51, 51)),
])
def test_real_label_samples(name, shape, labels):
    pairs = data.load(name, normalize_target=False)
    assert not pairs.simulated
    for p in pairs:
        assert p.input.shape == p.target.shape == shape
        count = len(np.unique(p.target)) - 1
        assert labels[0] <= count <= labels[1]


def test_ndev_frames_line_up():
    nuclei = data.load("ndev-nuclei", normalize_percentiles=None)
    labelfree = data.load("ndev-labelfree", normalize_percentiles=None)
    def contrast(hoechst, labels):
        mask = labels[0] > 0
        return hoechst[0][mask].mean() / hoechst[0][~mask].mean()

    for t, other in ((0, 9), (9, 0)):
        # frame t's nuclei are bright in frame t's Hoechst image, much less so in another frame's
        same = contrast(nuclei[t].input, nuclei[t].target)
        assert same > 1.5 and contrast(nuclei[other].input, nuclei[t].target) < 1.3
        np.testing.assert_array_equal(labelfree[t].target, nuclei[t].input)
    assert not np.array_equal(nuclei[0].target, nuclei[9].target)


def test_sample_images_without_ground_truth():
    assert samples.image("skimage-ihc").data.shape == (1, 3, 1, 512, 512)
    assert samples.image("ndev-neuron").data.shape == (1, 4, 1, 623, 502)
    with pytest.raises(KeyError, match="choose one of"):
        samples.image("nope")


def test_missing_package_names_the_extra():
    with pytest.raises(ImportError, match=r"im2im-helpers\[samples\]"):
        samples.package_file("not_a_package_xyz", "a.tif")


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


def test_masks_to_images_and_shuffled_pairs():
    pairs = data.load("ndev-nuclei", normalize_target=False)
    synth = data.masks_to_images(pairs)
    assert not synth.simulated and set(np.unique(synth[0].input)) == {0.0, 1.0}
    np.testing.assert_array_equal(synth[0].target, pairs[0].input)
    assert synth.config["transforms"] == [{"kind": "masks_to_images"}]
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
