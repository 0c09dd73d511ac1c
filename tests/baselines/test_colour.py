"""The per-pixel colour baseline of stain transfer: ridge regression on (optical-density)
colour features (:mod:`im2im_helpers.baselines.colour`)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from im2im_helpers import metrics
from im2im_helpers.baselines import colour


def _stained(rng, shape=(64, 64)):
    """RGB in (0, 1] from two stain amounts by Beer-Lambert, and the first stain's amount."""
    amounts = np.stack([ndi.gaussian_filter(rng.random(shape), 2) for _ in range(2)]) * 3
    vectors = np.array([[0.65, 0.70, 0.29], [0.27, 0.57, 0.78]])  # hematoxylin, DAB
    rgb = np.exp(-np.einsum("syx,sc->cyx", amounts, vectors)).astype(np.float32)
    return rgb, amounts[:1].astype(np.float32)


def test_colour_ridge_in_optical_density_learns_a_colour_deconvolution():
    rng = np.random.default_rng(0)
    (x1, y1), (x2, y2) = _stained(rng), _stained(rng)
    od = colour.ColourRidge(degree=1, optical_density=True, samples=4000).fit([x1], [y1])
    rgb = colour.ColourRidge(degree=1, samples=4000).fit([x1], [y1])
    assert od.predict(x2).shape == y2.shape and od.predict(x2).dtype == np.float32
    assert metrics.pearson(od.predict(x2), y2) > 0.999  # linear in OD: exactly the model
    assert metrics.pearson(rgb.predict(x2), y2) < metrics.pearson(od.predict(x2), y2)
    quadratic = colour.ColourRidge(degree=2, samples=4000).fit([x1], [y1])
    assert metrics.pearson(quadratic.predict(x2), y2) > metrics.pearson(rgb.predict(x2), y2)


def test_colour_ridge_predicts_every_target_channel_and_checks_its_arguments():
    rng = np.random.default_rng(1)
    x = rng.random((3, 20, 30)).astype(np.float32)
    y = np.stack([x[0] + 2 * x[1], 1 - x[2]])  # two target channels, linear in the colour
    model = colour.ColourRidge(degree=1, alpha=1e-9).fit([x], [y])
    np.testing.assert_allclose(model.predict(x), y, atol=1e-4)
    with pytest.raises(RuntimeError, match="before fit"):
        colour.ColourRidge().predict(x)
    with pytest.raises(ValueError, match="degree"):
        colour.ColourRidge(degree=3)
    with pytest.raises(ValueError, match="differ in size"):
        colour.ColourRidge().fit([x], [y[:, :10]])
