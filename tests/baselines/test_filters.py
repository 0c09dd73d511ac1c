"""The classical label-free baseline learns what a linear filter model can learn."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from im2im_helpers import baselines, metrics


def test_ridge_recovers_a_filter_relation_on_unseen_images():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(64, 64)).astype(np.float32) for _ in range(3)]
    ys = [ndi.gaussian_gradient_magnitude(x, 2) + ndi.gaussian_filter(x, 4) for x in xs]
    model = baselines.FilterRidge(samples=20000).fit(xs[:2], ys[:2])
    assert metrics.pearson(model.predict(xs[2]), ys[2]) > 0.98
    assert metrics.pearson(xs[2], ys[2]) < 0.5  # the raw input is a much worse predictor


def test_ridge_works_in_3d_and_refuses_predict_before_fit():
    with pytest.raises(RuntimeError, match="before fit"):
        baselines.FilterRidge().predict(np.zeros((8, 8)))
    x = np.random.default_rng(1).normal(size=(8, 16, 16))
    model = baselines.FilterRidge(sigmas=(1, 2), samples=2000).fit([x], [ndi.gaussian_filter(x, 1)])
    assert model.predict(x).shape == x.shape


def test_ridge_prediction_in_chunks_is_the_whole_prediction():
    x = np.random.default_rng(2).normal(size=(6, 20, 20))
    model = baselines.FilterRidge(sigmas=(1, 2), samples=2000).fit([x], [ndi.gaussian_filter(x, 1)])
    np.testing.assert_allclose(model.predict(x, chunk=333), model.predict(x), rtol=1e-6)
