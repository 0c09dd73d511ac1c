"""Pixel metrics agree with scikit-image / numpy and with values worked out by hand; tables,
metrics.json and the grey image of a colour image (:mod:`im2im_helpers.metrics`)."""

import numpy as np
import pytest
from skimage import metrics as skm

from im2im_helpers import metrics


def test_pearson_known_values():
    x = np.arange(100, dtype=float).reshape(10, 10)
    assert metrics.pearson(2 * x + 3, x) == pytest.approx(1.0)
    assert metrics.pearson(-x, x) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(size=500)
    assert metrics.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1])


def test_psnr_uses_the_target_range():
    target = np.zeros((10, 10))
    target[0, 0] = 4.0  # range 4
    pred = target + 0.1  # MSE 0.01
    expected = 10 * np.log10(4.0**2 / 0.01)
    assert metrics.psnr(pred, target) == pytest.approx(expected)
    assert metrics.psnr(pred, target, data_range=1.0) == pytest.approx(20.0)


def test_ssim_matches_scikit_image_2d_and_3d():
    rng = np.random.default_rng(1)
    t = rng.random((32, 32))
    p = t + rng.normal(0, 0.1, t.shape)
    assert metrics.ssim(p[None], t[None]) == pytest.approx(
        skm.structural_similarity(t, p, data_range=t.max() - t.min()))
    assert metrics.ssim(t, t) == pytest.approx(1.0)
    t3 = rng.random((5, 16, 16))
    assert metrics.ssim(t3, t3) == pytest.approx(1.0)  # a thin 3D stack still works


def test_nrmse_is_rmse_over_range():
    target = np.array([0.0, 10.0, 5.0, 5.0])
    pred = target + np.array([1.0, -1.0, 1.0, -1.0])
    assert metrics.nrmse(pred, target) == pytest.approx(1.0 / 10.0)


def test_dice_and_iou_on_hand_made_masks():
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    a[:2, :2] = 1  # 4 pixels
    b[:2, :3] = 1  # 6 pixels, overlap 4
    assert metrics.dice(a, b) == pytest.approx(2 * 4 / 10)
    assert metrics.iou(a, b) == pytest.approx(4 / 6)
    assert metrics.dice(np.zeros(3), np.zeros(3)) == 1.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.pearson(np.zeros(3), np.zeros(4))


def test_table_and_json(tmp_path):
    t = [np.arange(16.0).reshape(4, 4)]
    values = metrics.table({"perfect": [t[0]], "flipped": [t[0][::-1]]}, t, ("pearson", "nrmse"))
    assert values["perfect"]["pearson"] == pytest.approx(1.0)
    assert values["flipped"]["pearson"] < 0
    path = metrics.write_json(tmp_path / "m.json", "t", "d", values, simulated=False,
                              level="smoke", headline=None)
    import json

    record = json.loads(path.read_text())
    assert record["methods"]["perfect"]["nrmse"] == pytest.approx(0.0)
    assert record["split"] == "test" and record["simulated"] is False
    assert "perfect" in metrics.format_table(values)


def test_intensity_distance_ignores_positions_but_not_grey_levels():
    from im2im_helpers import metrics

    x = np.random.default_rng(2).random((32, 32))
    assert metrics.intensity_distance(np.fliplr(x), x) == pytest.approx(0.0)
    assert metrics.intensity_distance(x + 0.25, x) == pytest.approx(0.25)


def test_grey_averages_channels_and_keeps_one():
    x = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
    np.testing.assert_allclose(metrics.grey(x), x.mean(0, keepdims=True))
    one = x[:1]
    assert metrics.grey(one).shape == (1, 2, 4) and np.array_equal(metrics.grey(one), one)
