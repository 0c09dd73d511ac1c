"""Registration figures: a warped grid drawn where the field sends each point, magenta/green
overlays that are grey where two images agree, and refusals that name the parameter."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from im2im_helpers.data import deform  # noqa: E402
from im2im_helpers.viz import registration as reg_viz  # noqa: E402


def test_the_grid_lines_are_drawn_where_the_field_sends_each_point():
    u = deform.translation_field((16, 24), (2.0, -3.0))
    fig, ax = plt.subplots()
    reg_viz.draw_grid(ax, u, spacing=8)
    lines = ax.get_lines()
    assert len(lines) == 2 + 3  # rows 0, 8 and columns 0, 8, 16
    x, y = lines[1].get_data()  # the row y = 8, shifted by (2, -3)
    np.testing.assert_allclose(y, 10.0)
    np.testing.assert_allclose(x, np.arange(24) - 3.0)
    plt.close(fig)


def test_overlays_are_grey_where_aligned_and_coloured_where_not(nuclei):
    image = nuclei["stardist-left"][:, :64, :64]
    same = reg_viz.overlay(image, image)
    assert same.shape == (64, 64, 3)
    np.testing.assert_allclose(same[..., 0], same[..., 1])
    shifted = reg_viz.overlay(np.roll(image, 5, axis=-1), image)
    assert np.abs(shifted[..., 0] - shifted[..., 1]).mean() > 0.05
    fig = reg_viz.overlays(image, {"before": np.roll(image, 5, axis=-1), "after": image})
    assert len([ax for ax in fig.axes if ax.images]) == 2
    plt.close(fig)


def test_3d_fields_are_shown_in_plane_and_wrong_shapes_are_refused():
    u = np.zeros((3, 5, 8, 9), np.float32)
    u[1, 2] = 4.0
    plane = reg_viz.field_plane(u)
    assert plane.shape == (2, 8, 9) and (plane[0] == 4).all()
    fig = reg_viz.fields(np.zeros((1, 5, 8, 9)), {"true": u}, spacing=4)
    plt.close(fig)
    with pytest.raises(ValueError, match=r"displacement has shape \(2, 5, 8, 9\)"):
        reg_viz.field_plane(np.zeros((2, 5, 8, 9)))
    with pytest.raises(ValueError, match=r"moving has shape \(8, 8\) but fixed has shape"):
        reg_viz.overlay(np.zeros((8, 8)), np.zeros((8, 9)))
