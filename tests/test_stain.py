"""Stain transfer: the IHC sample's regions and computed target, the per-pixel colour baseline,
texture statistics on known images, and the figures of the stain-transfer tutorial."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

from im2im_helpers import data, metrics, samples, stain, viz  # noqa: E402


def test_ihc_regions_do_not_overlap_and_cover_the_image():
    covered = np.zeros((512, 512), int)
    for rows, cols in samples.IHC_REGIONS.values():
        covered[slice(*rows), slice(*cols)] += 1
    assert covered.max() == 1 and covered.min() == 1  # every pixel in exactly one region


def test_ihc_target_is_the_normalised_hematoxylin_channel_of_rgb2hed():
    from skimage import data as skdata
    from skimage.color import rgb2hed

    rgb = skdata.immunohistochemistry()  # the same file, read by scikit-image
    hematoxylin = rgb2hed(rgb)[..., 0]
    lo, hi = np.percentile(hematoxylin, samples.IHC_PERCENTILES)
    expected = np.clip((hematoxylin - lo) / (hi - lo), 0, 1)
    pairs = data.load("ihc-hematoxylin", normalize_percentiles=None)
    assert pairs.names == ["ihc-train", "ihc-val", "ihc-test"]
    assert pairs.simulated is False  # a real image ...
    assert pairs.config["targets"]["by"] == "skimage.color.rgb2hed"  # ... with a computed target
    for pair in pairs:
        rows, cols = (slice(*r) for r in samples.IHC_REGIONS[pair.name])
        assert pair.input.dtype == pair.target.dtype == np.float32
        assert pair.input.shape[0] == 3 and pair.target.shape[0] == 1
        np.testing.assert_allclose(pair.input, np.moveaxis(rgb[rows, cols], -1, 0) / 255.0,
                                   atol=1e-6)
        np.testing.assert_allclose(pair.target[0], expected[rows, cols], atol=1e-5)
        assert pair.origin["target"]["kind"] == "computed"
    assert pairs.subset(["ihc-test"])[0].target.shape == (1, 256, 256)


def _stained(rng, shape=(64, 64)):
    """RGB in (0, 1] from two stain amounts by Beer-Lambert, and the first stain's amount."""
    amounts = np.stack([ndi.gaussian_filter(rng.random(shape), 2) for _ in range(2)]) * 3
    vectors = np.array([[0.65, 0.70, 0.29], [0.27, 0.57, 0.78]])  # hematoxylin, DAB
    rgb = np.exp(-np.einsum("syx,sc->cyx", amounts, vectors)).astype(np.float32)
    return rgb, amounts[:1].astype(np.float32)


def test_colour_ridge_in_optical_density_learns_a_colour_deconvolution():
    rng = np.random.default_rng(0)
    (x1, y1), (x2, y2) = _stained(rng), _stained(rng)
    od = stain.ColourRidge(degree=1, optical_density=True, samples=4000).fit([x1], [y1])
    rgb = stain.ColourRidge(degree=1, samples=4000).fit([x1], [y1])
    assert od.predict(x2).shape == y2.shape and od.predict(x2).dtype == np.float32
    assert metrics.pearson(od.predict(x2), y2) > 0.999  # linear in OD: exactly the model
    assert metrics.pearson(rgb.predict(x2), y2) < metrics.pearson(od.predict(x2), y2)
    quadratic = stain.ColourRidge(degree=2, samples=4000).fit([x1], [y1])
    assert metrics.pearson(quadratic.predict(x2), y2) > metrics.pearson(rgb.predict(x2), y2)


def test_colour_ridge_predicts_every_target_channel_and_checks_its_arguments():
    rng = np.random.default_rng(1)
    x = rng.random((3, 20, 30)).astype(np.float32)
    y = np.stack([x[0] + 2 * x[1], 1 - x[2]])  # two target channels, linear in the colour
    model = stain.ColourRidge(degree=1, alpha=1e-9).fit([x], [y])
    np.testing.assert_allclose(model.predict(x), y, atol=1e-4)
    with pytest.raises(RuntimeError, match="before fit"):
        stain.ColourRidge().predict(x)
    with pytest.raises(ValueError, match="degree"):
        stain.ColourRidge(degree=3)
    with pytest.raises(ValueError, match="differ in size"):
        stain.ColourRidge().fit([x], [y[:, :10]])


def test_grey_averages_channels_and_keeps_one():
    x = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
    np.testing.assert_allclose(stain.grey(x), x.mean(0, keepdims=True))
    one = x[:1]
    assert stain.grey(one).shape == (1, 2, 4) and np.array_equal(stain.grey(one), one)


def test_power_spectrum_of_white_noise_is_flat_and_a_stripe_pattern_peaks_at_its_frequency():
    rng = np.random.default_rng(2)
    freq, power = stain.radial_power_spectrum(rng.normal(size=(256, 256)), bins=16)
    assert freq[0] == pytest.approx(0.5 / 32) and freq[-1] == pytest.approx(0.5 - 0.5 / 32)
    flat = power[1:]  # the first ring holds the removed mean and the window's blur of it
    assert flat.std() / flat.mean() < 0.1
    x = np.arange(256)
    stripes = np.sin(2 * np.pi * 0.25 * x)[None, :].repeat(256, axis=0)  # 4 pixels a period
    freq, power = stain.radial_power_spectrum(stripes, bins=25)  # rings 0.02 wide
    assert freq[np.argmax(power)] == pytest.approx(0.25)  # the ring [0.24, 0.26)
    assert power.max() > 1000 * np.median(power)
    colour = np.stack([stripes, stripes, stripes])  # (C, Y, X): averaged over channels
    np.testing.assert_allclose(stain.radial_power_spectrum(colour, bins=25)[1], power)


def test_high_frequency_ratio_says_smoother_or_noisier_than_the_target():
    rng = np.random.default_rng(3)
    target = ndi.gaussian_filter(rng.random((128, 128)), 1)
    assert stain.high_frequency_ratio(target, target) == pytest.approx(1.0)
    assert stain.high_frequency_ratio(2 * target, target) == pytest.approx(4.0)
    assert stain.high_frequency_ratio(ndi.gaussian_filter(target, 2), target) < 0.1
    noisy = target + rng.normal(0, 0.1, target.shape)
    assert stain.high_frequency_ratio(noisy, target) > 2
    with pytest.raises(ValueError, match="cutoff"):
        stain.high_frequency_ratio(target, target, cutoff=0.6)


def test_loss_terms_draws_one_panel_per_logged_term(tmp_path):
    history = {"train_g_l1_epoch": [(0, 9, 0.3), (1, 19, 0.1)], "train_g_l1_step": [(0, 5, 1.0)],
               "train_d_epoch": [(0, 9, 0.3), (1, 19, 0.25)], "val_loss": [(0, 9, 0.2)]}
    fig = viz.loss_terms(history, ["train_g_l1", "train_g_adv", "train_d", "val_loss"],
                         path=tmp_path / "terms.png", guides={"train_d": 0.25})
    assert (tmp_path / "terms.png").stat().st_size > 1000
    panels = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title() for ax in panels] == ["train_g_l1", "train_d", "val_loss"]
    assert list(panels[0].lines[0].get_ydata()) == [0.3, 0.1]  # per epoch, not per step
    assert len(panels[1].lines) == 2  # the curve and its guide
    with pytest.raises(ValueError, match="None of"):
        viz.loss_terms(history, ["train_cycle"])


def test_compare_colour_shows_rgb_in_colour_and_spectra_plot_every_image(tmp_path):
    rng = np.random.default_rng(4)
    rgb, plane = rng.random((3, 40, 40)), rng.random((1, 40, 40))
    fig = viz.compare_colour({"input": rgb, "prediction": plane, "target": plane},
                             crop=(slice(0, 20), slice(0, 30)), path=tmp_path / "c.png")
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert [a.shape for a in shown] == [(20, 30, 3), (20, 30), (20, 30)]
    assert (tmp_path / "c.png").is_file()
    fig = viz.power_spectra({"a": plane, "b": rgb}, path=tmp_path / "s.png")
    assert len(fig.axes[0].lines) == 2 and (tmp_path / "s.png").is_file()
