"""N2V2 (Höck et al. 2022) as options of Noise2Void: the median replacement never shows a hidden
pixel its own value, N2V2's U-Net has no full-resolution skip connection and pools with max-blur
pooling (2D and 3D), the checkerboard measure sees period-2 patterns, and a run with both options
trains, saves its settings and reloads (:mod:`im2im_helpers.nets.n2v2`,
:mod:`im2im_helpers.tasks.noise2void`, :mod:`im2im_helpers.metrics.texture`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from im2im_helpers import config, data, models, predict, tasks, train
from im2im_helpers.data.splits import make_split
from im2im_helpers.metrics import texture
from im2im_helpers.nets import MaxBlurPool, N2V2UNet, binomial_kernel
from im2im_helpers.tasks import noise2void
from tests.helpers import noisy_pairs, one_torch_thread

one_thread = pytest.fixture(autouse=True, name="one_thread")(one_torch_thread)


def _unique_values(shape):
    return torch.arange(int(np.prod(shape)), dtype=torch.float32).reshape(shape)


def _lower_median_of_visible(x, mask, pos, radius):
    """The reference: the lower median of the pixels within ``radius`` of ``pos`` (in the
    image) that are not hidden, the pixel itself included in the window but hidden."""
    window = tuple(slice(max(p - radius, 0), p + radius + 1) for p in pos)
    values = np.sort(x[window][~mask[window]])
    return values[(len(values) - 1) // 2]


# ---- the median replacement -------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 2, 24, 28), (1, 1, 10, 12, 14)])
def test_median_replacement_is_the_median_of_the_visible_neighbours_never_the_pixel(shape):
    x = _unique_values(shape)  # every pixel (and channel) holds a different value
    g = torch.Generator().manual_seed(3)
    masked, mask = tasks.blind_spot(x, fraction=0.1, radius=2, generator=g, replacement="median")
    assert mask.shape == (shape[0], 1, *shape[2:]) and mask.dtype == torch.bool
    keep = ~mask.expand_as(x)
    assert torch.equal(masked[keep], x[keep])  # visible pixels untouched
    xs, ms, outs = x.numpy(), mask.numpy(), masked.numpy()
    for b in range(shape[0]):
        hidden_values = set(xs[b][np.broadcast_to(ms[b], xs[b].shape)].tolist())
        assert hidden_values.isdisjoint(outs[b].ravel().tolist())  # no hidden value anywhere
        for pos in zip(*np.nonzero(ms[b, 0])):
            for ch in range(shape[1]):
                expected = _lower_median_of_visible(xs[b, ch], ms[b, 0], pos, radius=2)
                assert outs[(b, ch, *pos)] == expected


def test_a_pixel_without_visible_neighbours_gets_the_median_of_the_visible_image(monkeypatch):
    x = _unique_values((1, 1, 8, 8))
    block = torch.zeros(8, 8)
    block[3:6, 3:6] = 1  # the 3 x 3 block is hidden: its centre has no visible neighbour
    monkeypatch.setattr(noise2void.torch, "rand",
                        lambda *shape, generator=None: block.reshape(1, 64) + 0.01)
    masked, mask = tasks.blind_spot(x, fraction=9 / 64, radius=1, replacement="median")
    assert mask[0, 0].equal(block.bool())
    visible = np.sort(x[~mask].numpy())
    assert masked[0, 0, 4, 4] == visible[(len(visible) - 1) // 2]
    assert set(x[mask].tolist()).isdisjoint(masked.flatten().tolist())


def test_replacement_must_be_neighbour_or_median():
    with pytest.raises(ValueError, match="replacement='mean'"):
        tasks.blind_spot(torch.zeros(1, 1, 16, 16), replacement="mean")
    with pytest.raises(ValueError, match="replacement"):
        tasks.Noise2Void(models.build("unet", 2, channels=(4, 8), num_res_units=0),
                         replacement="uniform")


def test_the_default_replacement_is_noise2voids_own():
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    default = tasks.blind_spot(x, 0.05, 2, torch.Generator().manual_seed(1))
    explicit = tasks.blind_spot(x, 0.05, 2, torch.Generator().manual_seed(1), "neighbour")
    assert all(torch.equal(a, b) for a, b in zip(default, explicit))
    task = tasks.Noise2Void(models.build("unet", 2, channels=(4, 8), num_res_units=0))
    assert task.hparams.replacement == "neighbour"


def test_what_the_network_sees_at_a_hidden_pixel_says_nothing_about_its_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 1, 64, 64, generator=g)  # pure noise: nothing to predict from context
    masked, mask = tasks.blind_spot(x, 0.05, 2, g, replacement="median")
    shown, hidden = masked[mask].numpy(), x[mask].numpy()
    assert len(shown) > 3000
    assert abs(np.corrcoef(shown, hidden)[0, 1]) < 0.07  # a copy of the pixel would give 1
    assert shown.std() < 0.5 * hidden.std()  # a median of 24 values varies less than one


# ---- the network ------------------------------------------------------------------------------

@pytest.mark.parametrize("dims, shape, channels", [
    (2, (2, 3, 32, 48), (4, 8, 16)),
    (2, (1, 1, 30, 34), (4, 8)),  # sizes that are not multiples of 2**levels still work
    (3, (1, 2, 8, 16, 16), (4, 8, 16)),
])
def test_n2v2_unet_keeps_the_spatial_shape_in_2d_and_3d(dims, shape, channels):
    net = models.build("n2v2_unet", dims, in_channels=shape[1], out_channels=2,
                       channels=channels, norm="BATCH")
    assert isinstance(net, N2V2UNet)
    assert net(torch.rand(shape)).shape == (shape[0], 2, *shape[2:])
    assert models.size_divisor(net.im2im_spec) == 2 ** (len(channels) - 1)
    assert net.im2im_spec["name"] == "n2v2_unet"
    # no transposed convolutions: upsampling is interpolation
    assert not any(isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d))
                   for m in net.modules())


class NoPassage(torch.nn.Module):
    """A pooling that lets nothing through: zeros of the pooled size."""

    def forward(self, x):
        pool = torch.nn.functional.max_pool2d if x.ndim == 4 else torch.nn.functional.max_pool3d
        return torch.zeros_like(pool(x, 2))


@pytest.mark.parametrize("dims", [2, 3])
def test_every_path_from_input_to_output_goes_through_the_first_pooling(dims):
    shape = (2, 1, 16, 16) if dims == 2 else (2, 1, 8, 16, 16)
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(shape, generator=g), torch.rand(shape, generator=g)
    for top_skip in (False, True):
        torch.manual_seed(0)
        net = N2V2UNet(dims, channels=(4, 8, 8), top_skip=top_skip).eval()
        net.pools[0] = NoPassage()  # cut the only way down from full resolution
        with torch.no_grad():
            difference = (net(a) - net(b)).abs().max().item()
        # N2V2: nothing of the input reaches the output; the usual U-Net: the skip carries it
        assert (difference > 0) if top_skip else (difference == 0)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("n", [2, 3, 8, 9, 16])
def test_max_blur_pooling_halves_sizes_as_max_pooling_does(dims, n):
    x = torch.rand((1, 3) + (n,) * dims)
    max_pool = torch.nn.MaxPool2d(2) if dims == 2 else torch.nn.MaxPool3d(2)
    assert MaxBlurPool(dims)(x).shape == max_pool(x).shape
    constant = torch.full_like(x, 2.5)  # the blur sums to 1 and the border repeats the edge
    torch.testing.assert_close(MaxBlurPool(dims)(constant), torch.full_like(max_pool(x), 2.5))


def test_max_blur_pooling_follows_a_moving_point_by_half_a_pixel_per_pixel():
    def centre_of_mass_y(pool, p):
        x = torch.zeros(1, 1, 32, 32)
        x[0, 0, p, 15] = 1
        out = pool(x)[0, 0]
        return float((out.sum(1) * torch.arange(out.shape[0])).sum() / out.sum())

    positions = range(4, 28)
    blur = np.diff([centre_of_mass_y(MaxBlurPool(2), p) for p in positions])
    np.testing.assert_allclose(blur, 0.5, atol=1e-6)  # moves with the point
    plain = np.diff([centre_of_mass_y(torch.nn.MaxPool2d(2), p) for p in positions])
    assert set(np.round(plain, 6)) == {0.0, 1.0}  # max pooling jumps every second pixel


def test_binomial_kernel_and_bad_network_arguments():
    torch.testing.assert_close(binomial_kernel(2), torch.tensor([[1, 2, 1], [2, 4, 2],
                                                                 [1, 2, 1]]) / 16.0)
    assert binomial_kernel(3, 5).shape == (5, 5, 5)
    assert float(binomial_kernel(3, 5).sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="size=4"):
        binomial_kernel(2, 4)
    with pytest.raises(ValueError, match="dims=4"):
        N2V2UNet(4)
    with pytest.raises(ValueError, match="channels"):
        N2V2UNet(2, channels=[8])
    with pytest.raises(ValueError, match="norm='layer'"):
        N2V2UNet(2, norm="layer")
    with pytest.raises(ValueError, match="has no option"):
        models.build("n2v2_unet", 2, strides=[2, 2])
    with pytest.raises(ValueError, match="input of shape"):
        N2V2UNet(3, channels=(4, 8))(torch.zeros(1, 1, 16, 16))


# ---- the checkerboard measure -----------------------------------------------------------------

def test_checkerboard_ratio_is_one_for_the_clean_image_and_high_for_a_checkerboard():
    # a clean image with some fine detail of its own (float64: no rounding noise)
    clean = ndi.gaussian_filter(np.random.default_rng(0).random((96, 96)), 1.0)
    yy, xx = np.indices(clean.shape)
    assert texture.checkerboard_ratio(clean, clean) == pytest.approx(1.0)
    assert texture.checkerboard_ratio(clean[::-1, ::-1], clean) == pytest.approx(1.0)
    for pattern in ((-1.0) ** (yy + xx), (-1.0) ** yy, (-1.0) ** xx):  # board, both stripes
        assert texture.checkerboard_ratio(clean + 0.02 * pattern, clean) > 20
    modulated = clean + 0.05 * clean * (-1.0) ** (yy + xx)  # stronger where the image is bright
    assert texture.checkerboard_ratio(modulated, clean) > 20
    assert texture.checkerboard_ratio(ndi.gaussian_filter(clean, 1), clean) < 1  # smoother


def test_white_noise_puts_its_area_share_at_the_period_2_frequencies():
    noise = np.random.default_rng(0).normal(size=(2, 128, 128))  # (C, Y, X)
    assert texture.nyquist_share(noise) == pytest.approx(12 * texture.NYQUIST_WIDTH**2, rel=0.2)
    assert texture.nyquist_share(noise, width=0.1) == pytest.approx(0.12, rel=0.2)
    assert texture.nyquist_share(np.ones((16, 16))) == 0.0
    volume = np.random.default_rng(1).normal(size=(1, 3, 64, 64))
    assert 0.015 < texture.nyquist_share(volume) < 0.05
    with pytest.raises(ValueError, match="width=0.3"):
        texture.nyquist_share(noise, width=0.3)


# ---- a run with both options ------------------------------------------------------------------

def test_an_n2v2_run_trains_saves_its_settings_and_reloads(tmp_path):
    split = make_split(noisy_pairs((48, 48), 3), tmp_path / "split.json", test=1, val=1,
                       shuffle=False)
    dm = data.patches(split, patch=(32, 32), batch_size=4, samples_per_image=8)
    net = models.build("n2v2_unet", 2, channels=(8, 16), seed=1)
    task = tasks.Noise2Void(net, lr=3e-3, mask_fraction=0.05, replacement="median")
    run = train.fit(task, dm, tmp_path / "run", max_epochs=2, progress=False)
    history = [v for *_, v in run.history()["train_loss_epoch"]]
    assert len(history) == 2 and np.isfinite(history).all()
    saved = config.load(tmp_path / "run" / "config.yaml")
    assert saved.task.hparams["replacement"] == "median"
    assert saved.model["name"] == "n2v2_unet" and saved.model["channels"] == [8, 16]
    rebuilt = config.build_task(saved)  # config.yaml rebuilds the same task
    assert isinstance(rebuilt.net, N2V2UNet)
    assert tasks.hyperparameters(rebuilt) == tasks.hyperparameters(run.model)
    loaded = train.load_run_model(run.path, tasks.Noise2Void)  # the checkpoint reloads it
    assert loaded.hparams.replacement == "median" and isinstance(loaded.net, N2V2UNet)
    for (name, a), b in zip(run.model.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    test = split.test[0]
    np.testing.assert_allclose(predict.image(loaded, test.input, roi=(32, 32)),
                               predict.image(run.model, test.input, roi=(32, 32)), atol=1e-5)
