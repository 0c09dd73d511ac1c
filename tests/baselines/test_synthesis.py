"""The classical baseline of image synthesis from masks: a blurred mask at fitted grey levels
(:mod:`im2im_helpers.baselines.synthesis`)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from im2im_helpers.baselines import synthesis
from tests.helpers import labelled_blobs


def _pair(rng, shape=(48, 64), sigma=1.5, levels=((0.1, 0.3), (0.8, 0.5)), noise=0.0):
    """A mask of random discs and a two-channel image made from it by blur, levels, noise."""
    mask = (labelled_blobs(int(rng.integers(1000)), shape=shape)[1] > 0).astype(np.float32)
    blurred = ndi.gaussian_filter(mask[0].astype(np.float64), sigma)
    low, high = (np.asarray(v)[:, None, None] for v in levels)
    image = low + (high - low) * blurred + noise * rng.normal(size=(2, *shape))
    return mask, image.astype(np.float32)


def test_fit_recovers_the_blur_and_the_levels_of_each_channel():
    rng = np.random.default_rng(0)
    pairs = [_pair(rng) for _ in range(3)]
    model = synthesis.fit_blurred_mask([m for m, _ in pairs], [x for _, x in pairs],
                                       sigmas=(0.0, 1.5, 4.0))
    sigma, background, foreground = model.value
    assert sigma == 1.5 and model.chosen["sigma"] == 1.5 and model.metric == "ssim"
    np.testing.assert_allclose(background, (0.1, 0.3), atol=1e-6)
    np.testing.assert_allclose(foreground, (0.8, 0.5), atol=1e-6)
    mask, image = _pair(rng)  # a new mask: the same image up to rounding
    drawn = model(mask)
    assert drawn.shape == image.shape and drawn.dtype == np.float32
    np.testing.assert_allclose(drawn, image, atol=1e-5)
    assert model.scores[model.value] == max(model.scores.values())


def test_levels_are_least_squares_under_noise_and_3d_masks_work():
    rng = np.random.default_rng(1)
    pairs = [_pair(rng, noise=0.05) for _ in range(4)]
    low, high = synthesis.fit_levels([m for m, _ in pairs], [x for _, x in pairs], 1.5)
    np.testing.assert_allclose(low, (0.1, 0.3), atol=0.01)
    np.testing.assert_allclose(high, (0.8, 0.5), atol=0.01)
    volume = np.zeros((1, 6, 20, 20), np.float32)
    volume[0, 2:4, 5:15, 5:15] = 1
    drawn = synthesis.blurred_mask(volume, 0.0, [0.2], [0.9])
    assert drawn.shape == (1, 6, 20, 20)
    assert set(np.unique(drawn).round(6)) == {np.float32(0.2).round(6), np.float32(0.9).round(6)}


def test_it_says_what_is_wrong_with_its_arguments():
    mask = np.zeros((1, 8, 8), np.float32)
    with pytest.raises(ValueError, match="one channel"):
        synthesis.blurred_mask(np.zeros((2, 8, 8)), 1.0, [0.0], [1.0])
    with pytest.raises(ValueError, match="one of each per output channel"):
        synthesis.blurred_mask(mask, 1.0, [0.0, 0.1], [1.0])
    with pytest.raises(ValueError, match="all object or all background"):
        synthesis.fit_levels([mask], [np.zeros((1, 8, 8))], 0.0)
    with pytest.raises(ValueError, match="differ in size"):
        synthesis.fit_levels([mask], [np.zeros((1, 8, 9))], 0.0)
    with pytest.raises(ValueError, match="give as many"):
        synthesis.fit_levels([mask], [], 0.0)
