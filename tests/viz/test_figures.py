"""Figures are written where asked: comparisons, loss curves and loss terms, histograms, line
profiles, sweeps, colour comparisons and power spectra; the browser has a static figure and a
working slider (:mod:`im2im_helpers.viz.figures`)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

from im2im_helpers import viz  # noqa: E402
from tests.helpers import blob_image  # noqa: E402


def test_compare_and_loss_curves_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    images = {k: rng.random((1, 40, 120)) for k in ("input", "prediction", "target")}
    fig = viz.compare(images, path=tmp_path / "c.png", crop=(slice(0, 20), slice(0, 20)))
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert len([a for a in fig.axes if a.images]) == 4  # three panels + the error map
    assert viz.center_crop((1, 40, 120), 32) == (slice(4, 36), slice(44, 76))
    assert viz.center_crop((10, 20), 32) == (slice(0, 10), slice(0, 20))
    history = {"train_loss_epoch": [(0, 9, 1.0), (1, 19, 0.5)], "val_loss": [(0, 9, 1.2)]}
    viz.loss_curves(history, path=tmp_path / "l.png")
    assert (tmp_path / "l.png").is_file()


def test_browse_has_a_static_figure_and_a_slider_that_redraws(tmp_path):
    stack = np.random.default_rng(1).random((4, 1, 16, 16))
    widget = viz.browse({"a": stack, "b": stack}, path=tmp_path / "b.png")
    assert (tmp_path / "b.png").is_file()
    slider, picture = widget.children
    before = picture.value
    slider.value = 3
    assert picture.value != before and picture.value[:4] == b"\x89PNG"


def test_histograms_share_bins_and_a_wide_grid_has_two_columns(tmp_path):
    rng = np.random.default_rng(2)
    fig = viz.histograms({"real": [rng.random((16, 16))], "shifted": [rng.random((16, 16)) + 1]},
                         path=tmp_path / "h.png", bins=10)
    assert (tmp_path / "h.png").is_file()
    real, shifted = (patch.get_path().vertices for patch in fig.axes[0].patches)
    assert real[:, 0].min() == shifted[:, 0].min() and real[:, 0].max() == shifted[:, 0].max()
    assert real[:, 0][real[:, 1] > 0].max() < shifted[:, 0][shifted[:, 1] > 0].max()
    viz.histograms({"flat": [np.zeros((4, 4))]})  # one grey level: still a figure
    fig, axes = viz.panel_grid(5, height=40, width=200)  # wide images: 2 columns, 3 rows
    assert axes.shape == (3, 2) and not any(ax.axison for ax in axes.flat)


def test_line_profile_and_sweep_figures(tmp_path):
    img = blob_image(0)
    viz.line_profiles({"a": img, "b": ndi.gaussian_filter(img, 1)}, (5, 5), (50, 60),
                      path=tmp_path / "profile.png", pixel_size=0.1)
    viz.sweep({"m": {3: 20.0, 10: 25.0}}, "photons", "PSNR", path=tmp_path / "sweep.png")
    assert (tmp_path / "profile.png").stat().st_size > 1000
    assert (tmp_path / "sweep.png").stat().st_size > 1000


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
