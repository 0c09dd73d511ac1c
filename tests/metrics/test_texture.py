"""Texture statistics: radial power spectra and the high-frequency ratio on known images, and
volumes judged plane by plane (:mod:`im2im_helpers.metrics.texture`)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from im2im_helpers import metrics
from im2im_helpers.metrics import texture


def test_power_spectrum_of_white_noise_is_flat_and_a_stripe_pattern_peaks_at_its_frequency():
    rng = np.random.default_rng(2)
    freq, power = metrics.radial_power_spectrum(rng.normal(size=(256, 256)), bins=16)
    assert freq[0] == pytest.approx(0.5 / 32) and freq[-1] == pytest.approx(0.5 - 0.5 / 32)
    flat = power[1:]  # the first ring holds the removed mean and the window's blur of it
    assert flat.std() / flat.mean() < 0.1
    x = np.arange(256)
    stripes = np.sin(2 * np.pi * 0.25 * x)[None, :].repeat(256, axis=0)  # 4 pixels a period
    freq, power = metrics.radial_power_spectrum(stripes, bins=25)  # rings 0.02 wide
    assert freq[np.argmax(power)] == pytest.approx(0.25)  # the ring [0.24, 0.26)
    assert power.max() > 1000 * np.median(power)
    colour = np.stack([stripes, stripes, stripes])  # (C, Y, X): averaged over channels
    np.testing.assert_allclose(metrics.radial_power_spectrum(colour, bins=25)[1], power)


def test_high_frequency_ratio_says_smoother_or_noisier_than_the_target():
    rng = np.random.default_rng(3)
    target = ndi.gaussian_filter(rng.random((128, 128)), 1)
    assert metrics.high_frequency_ratio(target, target) == pytest.approx(1.0)
    assert metrics.high_frequency_ratio(2 * target, target) == pytest.approx(4.0)
    assert metrics.high_frequency_ratio(ndi.gaussian_filter(target, 2), target) < 0.1
    noisy = target + rng.normal(0, 0.1, target.shape)
    assert metrics.high_frequency_ratio(noisy, target) > 2
    with pytest.raises(ValueError, match="cutoff"):
        metrics.high_frequency_ratio(target, target, cutoff=0.6)


def test_a_volume_is_the_average_of_its_planes():
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(1, 4, 64, 64))
    _, whole = texture.radial_power_spectrum(volume, bins=8)
    planes = [texture.radial_power_spectrum(volume[:, z], bins=8)[1] for z in range(4)]
    np.testing.assert_allclose(whole, np.mean(planes, axis=0))


def test_a_blurred_volume_has_less_fine_detail():
    target = np.random.default_rng(1).normal(size=(1, 6, 48, 48))
    blurred = ndi.gaussian_filter(target, (0, 0, 1.5, 1.5))
    assert texture.high_frequency_ratio(target, target) == pytest.approx(1.0)
    assert texture.high_frequency_ratio(blurred, target) < 0.1
    with pytest.raises(ValueError, match="expected"):
        texture.radial_power_spectrum(np.zeros((1, 1, 2, 8, 8)))
