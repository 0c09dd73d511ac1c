"""Texture statistics in 3D: a volume is judged plane by plane."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from im2im_helpers import texture


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


def test_intensity_distance_ignores_positions_but_not_grey_levels():
    from im2im_helpers import metrics

    x = np.random.default_rng(2).random((32, 32))
    assert metrics.intensity_distance(np.fliplr(x), x) == pytest.approx(0.0)
    assert metrics.intensity_distance(x + 0.25, x) == pytest.approx(0.25)
