"""Figures are written where asked, and the browser has a static figure and a working slider."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from im2im_helpers import viz  # noqa: E402


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
