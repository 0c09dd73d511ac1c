"""The prediction window is chosen from the memory a window costs and the memory free: the
whole image when it fits, else the largest window that does, never more than allowed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from im2im_helpers import models, predict
from im2im_helpers.stream import tiling


def test_bytes_per_pixel_grows_with_the_network_width():
    small = models.build("unet", 2, 1, 1, channels=(4, 8), strides=(2,))
    wide = models.build("unet", 2, 1, 1, channels=(32, 64), strides=(2,))
    cost_small = tiling.bytes_per_pixel(small, 2, 1, 2)
    cost_wide = tiling.bytes_per_pixel(wide, 2, 1, 2)
    assert 4 < cost_small < cost_wide and cost_wide / cost_small > 4


def test_the_window_is_the_image_when_it_fits_else_the_largest_that_does(unet3d):
    cost = tiling.bytes_per_pixel(unet3d, 3, 1, 2)
    whole = tiling.auto_window(unet3d, (20, 300, 301), multiple=2, budget=10**12)
    assert whole == (20, 300, 302)
    budget = int(cost * 2 * 48**3)  # two windows of 48^3
    window = tiling.auto_window(unet3d, (20, 300, 301), multiple=2, batch_size=2,
                                budget=budget)
    assert all(w % 2 == 0 for w in window) and window[0] == 20
    assert math.prod(window) * cost * 2 <= budget
    assert window[1] >= 40  # not needlessly small
    with pytest.raises(MemoryError, match="more than the"):
        tiling.auto_window(unet3d, (20, 300, 301), multiple=2, budget=int(cost))


def test_predict_image_without_a_window_tiles_when_memory_is_short(unet2d, monkeypatch):
    x = np.random.default_rng(0).random((1, 256, 384)).astype(np.float32)
    cost = tiling.bytes_per_pixel(unet2d, 2, 1, 2)
    free = cost * 4 * 96 * 96 / tiling.MEMORY_FRACTION  # room for a batch of four 96^2 windows
    monkeypatch.setattr(tiling, "free_memory", lambda device: int(free))
    chosen = tiling.auto_window(unet2d, x.shape[1:], multiple=2, batch_size=4)
    assert chosen[0] < 256 and chosen[1] < 384
    np.testing.assert_allclose(predict.image(unet2d, x), predict.image(unet2d, x, roi=chosen),
                               atol=1e-6)


def test_a_tiled_window_covers_the_receptive_field_or_says_why_not(unet2d, caplog):
    radius = tiling.receptive_field(unet2d, 2, 2)
    floor = tiling.context_floor(unet2d, 2, 1, 2, (4000, 4000))
    assert floor == [2 * -(-tiling.CONTEXT_WINDOWS * r // 2) for r in radius]
    cost = tiling.bytes_per_pixel(unet2d, 2, 1, 2)
    small = int(cost * (floor[0] // 2) ** 2)  # room for a window of half the floor
    with caplog.at_level("WARNING", logger="im2im_helpers.stream.tiling"):
        window = tiling.auto_window(unet2d, (4000, 4000), multiple=2, budget=small)
    assert window[0] < floor[0] and "receptive-field radius" in caplog.text
