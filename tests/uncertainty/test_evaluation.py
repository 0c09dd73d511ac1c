"""Checks of uncertainty on held-out data, where the right answer is known: an uncertainty equal
to the error ranks perfectly (rho 1, the oracle curve, AUSE 0); a random one is no better than
random; a constant one is exactly random; objects' confidence against matching."""

import numpy as np
import pytest

from im2im_helpers import uncertainty


@pytest.fixture
def error():
    rng = np.random.default_rng(0)
    return rng.gamma(2.0, size=(1, 64, 96))


def test_uncertainty_equal_to_the_error_is_the_oracle(error):
    corr = uncertainty.spearman_patches(error, error, patch=16)
    assert corr.rho == pytest.approx(1.0) and corr.p < 1e-6
    assert corr.n == 4 * 6 and corr.patch == (16, 16)
    curves = uncertainty.sparsification(error, error)
    np.testing.assert_allclose(curves.model, curves.oracle)
    assert curves.ause == pytest.approx(0.0, abs=1e-12) and curves.relative_ause == 0.0
    assert curves.aurg > 0 and curves.below_random == 1.0
    # any increasing function of the error ranks the same way
    assert uncertainty.sparsification(np.sqrt(error) + 3, error).ause == pytest.approx(0, abs=1e-12)


def test_random_uncertainty_is_about_random(error):
    rng = np.random.default_rng(1)
    noise = rng.random(error.shape)
    curves = uncertainty.sparsification(noise, error)
    assert abs(curves.relative_ause - 1) < 0.1
    np.testing.assert_allclose(curves.model, curves.random, rtol=0.1)
    assert abs(uncertainty.spearman_patches(noise, error, patch=8).rho) < 0.3


def test_constant_uncertainty_is_exactly_random_and_has_no_rank_correlation(error):
    curves = uncertainty.sparsification(np.ones_like(error), error)
    np.testing.assert_allclose(curves.model, curves.random, rtol=1e-10)
    np.testing.assert_allclose(curves.random, error.mean())
    assert curves.relative_ause == pytest.approx(1.0)
    assert np.isnan(uncertainty.spearman_patches(np.ones_like(error), error, 16).rho)


def test_inverted_uncertainty_is_worse_than_random(error):
    curves = uncertainty.sparsification(-error, error)
    assert curves.below_random == 0.0 and curves.aurg < 0 and curves.relative_ause > 1
    assert uncertainty.spearman_patches(-error, error, 16).rho == pytest.approx(-1.0)


def test_curves_by_hand():
    err = np.array([4.0, 3.0, 2.0, 1.0])
    unc = np.array([0.0, 1.0, 2.0, 3.0])  # exactly wrong ranking
    curves = uncertainty.sparsification(unc, err, fractions=[0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(curves.model, [2.5, 3.0, 3.5, 4.0])
    np.testing.assert_allclose(curves.oracle, [2.5, 2.0, 1.5, 1.0])
    np.testing.assert_allclose(curves.random, 2.5)
    # trapezoids of model - oracle = [0, 1, 2, 3] over steps of 0.25
    assert curves.ause == pytest.approx(0.25 * (0.5 + 1.5 + 2.5))
    with pytest.raises(ValueError, match="increasing"):
        uncertainty.sparsification(unc, err, fractions=[0, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        uncertainty.sparsification(unc, err, fractions=[0, 1.0])


def test_images_are_pooled(error):
    rng = np.random.default_rng(2)
    unc = error + rng.random(error.shape)
    left, right = (slice(None), slice(None), slice(0, 48)), (slice(None), slice(None),
                                                             slice(48, 96))
    pooled = uncertainty.sparsification([unc[left], unc[right]], [error[left], error[right]])
    whole = uncertainty.sparsification(unc, error)
    np.testing.assert_allclose(pooled.model, whole.model)
    corr = uncertainty.spearman_patches([unc[left], unc[right]], [error[left], error[right]], 16)
    assert corr.rho == pytest.approx(uncertainty.spearman_patches(unc, error, 16).rho)


def test_patch_means_tile_with_smaller_edge_patches():
    img = np.arange(5 * 6, dtype=float).reshape(1, 5, 6)
    means = uncertainty.patch_means(img, (4, 4))
    expected = [img[0, :4, :4].mean(), img[0, :4, 4:].mean(), img[0, 4:, :4].mean(),
                img[0, 4:, 4:].mean()]
    np.testing.assert_allclose(means, expected)
    stack = np.stack([img[0], 2 * img[0]])  # channels pooled into each patch
    np.testing.assert_allclose(uncertainty.patch_means(stack, (5, 6)), [1.5 * img.mean()])
    vol = np.ones((1, 4, 8, 8))
    assert uncertainty.patch_means(vol, (2, 4, 4)).size == 8


def test_bad_inputs_name_the_problem(error):
    with pytest.raises(ValueError, match="differ in shape"):
        uncertainty.sparsification(error[..., :10], error)
    with pytest.raises(ValueError, match="NaN or infinite"):
        uncertainty.spearman_patches(np.full_like(error, np.nan), error)
    with pytest.raises(ValueError, match="at least 3"):
        uncertainty.spearman_patches(error, error, patch=64)
    with pytest.raises(ValueError, match="one of each per image"):
        uncertainty.sparsification([error, error], [error])
    with pytest.raises(ValueError, match="kind="):
        uncertainty.error_map(error, error, kind="huber")


def test_error_map():
    p, t = np.array([[1.0, -2.0]]), np.array([[0.0, 0.0]])
    np.testing.assert_allclose(uncertainty.error_map(p, t), [[1, 2]])
    np.testing.assert_allclose(uncertainty.error_map(p, t, "squared"), [[1, 4]])
    assert uncertainty.error_map(p, t).dtype == np.float32


def test_auroc():
    assert uncertainty.auroc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert uncertainty.auroc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert uncertainty.auroc([0.5, 0.5, 0.5], [True, False, True]) == 0.5
    assert uncertainty.auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert np.isnan(uncertainty.auroc([0.1, 0.2], [True, True]))


def discs(centres, shape=(48, 48), radius=5):
    yy, xx = np.indices(shape)
    labels = np.zeros(shape, np.int32)
    for k, (cy, cx) in enumerate(centres, 1):
        labels[np.hypot(yy - cy, xx - cx) <= radius] = k
    return labels


def test_object_confidence_against_matching():
    true = discs([(10, 10), (10, 35), (35, 20)])
    pred = discs([(10, 10), (35, 20), (36, 40)])   # two found, one spurious (label 3)
    pred[pred == 2] = 7                            # labels need not be contiguous
    prob = np.where(pred > 0, 0.6, 0.05)
    prob[pred == 1], prob[pred == 7] = 0.95, 0.9
    result = uncertainty.object_confidence(pred, true, probability=prob[None])
    assert result.n == 3 and sorted(result.labels) == [1, 3, 7]
    assert dict(zip(result.labels, result.matched)) == {1: True, 3: False, 7: True}
    assert result.auroc == 1.0 and result.threshold == 0.5
    np.testing.assert_allclose(sorted(result.confidence), [0.6, 0.9, 0.95])
    assert result.iou[result.labels == 1][0] == pytest.approx(1.0)
    # confidence from an uncertainty map: 1 - its mean inside the object
    unc = np.where(pred == 3, 0.4, 0.05)
    from_unc = uncertainty.object_confidence([pred], [true], uncertainty=[unc])
    assert from_unc.auroc == 1.0
    np.testing.assert_allclose(from_unc.confidence[from_unc.labels == 3], 0.6)
    with pytest.raises(ValueError, match="exactly one"):
        uncertainty.object_confidence(pred, true)
    with pytest.raises(ValueError, match="non-integer"):
        uncertainty.object_confidence(prob, true, probability=prob)


def test_object_confidence_pools_images_and_handles_no_objects():
    true = discs([(10, 10)])
    empty = np.zeros_like(true)
    result = uncertainty.object_confidence([true, empty], [true, true],
                                           probability=[np.ones(true.shape)] * 2)
    assert result.n == 1 and list(result.image) == [0] and np.isnan(result.auroc)
    none = uncertainty.object_confidence(empty, true, probability=np.ones(true.shape))
    assert none.n == 0 and np.isnan(none.auroc)
