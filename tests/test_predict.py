"""Sliding-window prediction: equal to one forward pass where one window fits; T axis; files."""

import numpy as np
import pytest
import torch

from im2im_helpers import io, models, predict, tasks


@pytest.fixture
def unet2d():
    return tasks.Supervised(models.build("unet", 2, channels=(4, 8, 16), num_res_units=0))


def test_one_window_equals_a_direct_forward_pass(unet2d):
    x = np.random.default_rng(0).normal(size=(1, 64, 96)).astype(np.float32)
    with torch.no_grad():
        direct = unet2d.eval()(torch.from_numpy(x)[None])[0].numpy()
    sw = predict.image(unet2d, x, roi=(64, 96))
    np.testing.assert_allclose(sw, direct, rtol=1e-4, atol=1e-5)


def test_overlapping_windows_stay_close_to_a_direct_pass():
    # Batch-norm-free convolutions: windows only differ from a full pass near their borders.
    net = models.build("basic_unet", 2, features=(4, 4, 8, 8, 16, 4), norm="batch")
    task = tasks.Supervised(net).eval()
    x = np.random.default_rng(1).normal(size=(1, 128, 128)).astype(np.float32)
    with torch.no_grad():
        direct = task(torch.from_numpy(x)[None])[0].numpy()
    sw = predict.image(task, x, roi=(64, 64), overlap=0.5)
    assert np.corrcoef(sw.ravel(), direct.ravel())[0, 1] > 0.95


def test_3d_and_time_axis_shapes():
    net3d = tasks.Supervised(models.build("unet", 3, out_channels=2, channels=(4, 8)))
    x = np.random.default_rng(2).normal(size=(1, 12, 40, 36)).astype(np.float32)
    assert predict.image(net3d, x, roi=(8, 16, 16)).shape == (2, 12, 40, 36)
    net2d = tasks.Supervised(models.build("unet", 2, channels=(4, 8)))
    xt = np.random.default_rng(3).normal(size=(3, 1, 30, 40)).astype(np.float32)
    out = predict.image(net2d, xt, roi=(16, 16), time_axis=True)
    assert out.shape == (3, 1, 30, 40)
    np.testing.assert_allclose(out[1], predict.image(net2d, xt[1], roi=(16, 16)), atol=1e-6)


def test_wrong_dimensionality_is_explained(unet2d):
    with pytest.raises(ValueError, match="time_axis=True"):
        predict.image(unet2d, np.zeros((2, 1, 16, 16), np.float32))


def test_segmentation_outputs_are_probabilities():
    net = models.build("unet", 2, out_channels=3, channels=(4, 8))
    task = tasks.Supervised(net, loss="dice_ce")
    out = predict.image(task, np.random.default_rng(4).normal(size=(1, 16, 16)).astype("f4"))
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)


def test_file_prediction_keeps_pixel_sizes_and_refuses_overwrite(unet2d, tmp_path):
    data = np.random.default_rng(5).integers(0, 1000, (2, 2, 1, 32, 48)).astype(np.uint16)
    src = io.write_ome_tiff(tmp_path / "movie.ome.tiff", data, "TCZYX", (1.0, 0.3, 0.3))
    out = predict.file(unet2d, src, tmp_path / "pred.ome.tiff", channel=1, roi=(32, 32))
    img = io.read(out)
    assert img.data.shape == (2, 1, 1, 32, 48)
    assert img.pixel_sizes[1:] == pytest.approx((0.3, 0.3))
    with pytest.raises(FileExistsError, match="pred.ome.tiff"):
        predict.file(unet2d, src, out, channel=1, roi=(32, 32))
    with pytest.raises(ValueError, match="channel=5"):
        predict.file(unet2d, src, tmp_path / "p2.ome.tiff", channel=5)


def test_test_time_augmentation_undoes_every_turn_and_flip():
    # A symmetric blur is unchanged by flips and turns: TTA must give the plain prediction.
    blur = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        blur.weight[:] = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    x = np.random.default_rng(6).normal(size=(1, 40, 56)).astype(np.float32)
    plain = predict.image(blur, x, roi=(32, 32))
    np.testing.assert_allclose(predict.image(blur, x, roi=(32, 32), tta=True), plain, atol=1e-5)
    # A shift is not: TTA averages the 8 shifted copies back into place, a symmetric blur of x.
    shift = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        shift.weight.zero_()
        shift.weight[0, 0, 0, 1] = 1.0  # output(y, x) = input(y - 1, x)
    averaged = predict.image(shift, x, roi=(40, 56), tta=True)
    inner = (slice(None), slice(2, -2), slice(2, -2))
    expected = (np.roll(x, 1, 1) + np.roll(x, -1, 1) + np.roll(x, 1, 2) + np.roll(x, -1, 2)) / 4
    np.testing.assert_allclose(averaged[inner], expected[inner], atol=1e-5)


@pytest.mark.parametrize("shape", [(50, 75), (5, 7), (33, 64)])
def test_without_a_window_any_image_size_comes_back_in_its_own_shape(shape):
    """Issue 14, item 10: a 3-level U-Net cannot take 50 x 75; one window used to fail inside
    torch or return 6 x 8 for 5 x 7."""
    net = models.build("unet", 2, channels=(4, 8, 16), num_res_units=0)
    x = np.random.default_rng(0).random((1, *shape)).astype(np.float32)
    out = predict.image(net, x)
    assert out.shape == (1, *shape) and np.isfinite(out).all()
    assert predict.image(net, x, roi=(30, 30)).shape == (1, *shape)  # 30 is not a multiple of 4


def test_size_divisor_follows_the_network():
    assert models.size_divisor(models.build("unet", 2, channels=(4, 8, 16)).im2im_spec) == 4
    assert models.size_divisor(models.build("basic_unet", 2).im2im_spec) == 16
    assert models.size_divisor(None) == models.DEFAULT_SIZE_DIVISOR
