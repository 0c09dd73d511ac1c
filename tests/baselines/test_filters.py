"""The filter baselines: ridge regression on filter responses (label-free prediction) and
Gaussian / non-local-means denoising, tuned on training data only
(:mod:`im2im_helpers.baselines.filters`)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from im2im_helpers import baselines, metrics
from im2im_helpers.data import simulate
from tests.helpers import texture_image


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


def test_tuning_picks_the_best_sigma_on_training_data():
    rng = np.random.default_rng(0)
    clean = [ndi.gaussian_filter(rng.random((1, 64, 64)), (0, 4, 4)) * 5 for _ in range(2)]
    noisy = [c + rng.normal(0, 0.05, c.shape) for c in clean]
    tuned = baselines.tune(baselines.gaussian_denoise, noisy, clean, [0.5, 1, 2, 4, 8],
                           parameters=("sigma",))
    scores = tuned.scores
    assert tuned.value == max(scores, key=scores.get) and 1 <= tuned.value <= 4
    assert tuned.best_score > metrics.psnr(noisy[0], clean[0])
    assert tuned.chosen == {"sigma": tuned.value} and tuned.metric == "psnr"
    np.testing.assert_array_equal(tuned(noisy[0]),
                                  baselines.gaussian_denoise(noisy[0], tuned.value))


def test_nl_means_reduces_noise():
    rng = np.random.default_rng(1)
    clean = np.zeros((1, 48, 48), np.float32)
    clean[:, 12:36, 12:36] = 1
    noisy = clean + rng.normal(0, 0.2, clean.shape).astype(np.float32)
    assert metrics.psnr(baselines.nl_means(noisy, h=0.2), clean) > metrics.psnr(noisy, clean) + 3


def test_classical_denoisers_are_tuned_on_training_pairs_and_help_on_new_ones():
    train = simulate.poisson_gaussian([texture_image(0), texture_image(1)], photons=5, seed=0)
    test = simulate.poisson_gaussian([texture_image(7)], photons=5, seed=1)[0]
    fitted = baselines.fit_denoisers([p.input for p in train], [p.target for p in train],
                                     sigmas=(0.5, 1, 2, 4), factors=(0.5, 1, 2))
    gaussian = fitted["gaussian"]
    assert gaussian.value == max(gaussian.scores, key=gaussian.scores.get)
    assert gaussian.chosen == {"sigma": gaussian.value} and gaussian.metric == "psnr"
    noisy_psnr = metrics.psnr(test.input, test.target)
    for method in fitted.values():
        assert metrics.psnr(method(test.input), test.target) > noisy_psnr + 3
