"""Pool crops: a grid that covers each image, written to disk and checked when read back."""

import numpy as np
import pytest

from im2im_helpers.active import ActiveLoop, LoopConfig, Pool, PoolError, grid_crops


def test_the_grid_covers_each_image_and_ids_are_safe():
    crops = grid_crops({"train/a": (1, 70, 64)}, 32)
    assert [(c.y, c.x) for c in crops] == [(0, 0), (0, 32), (32, 0), (32, 32), (38, 0), (38, 32)]
    assert crops[0].id == "train_a-y00000-x00000"
    with pytest.raises(PoolError, match="smaller crop"):
        grid_crops({"a": (1, 16, 16)}, 32)


def test_a_pool_reads_back_only_over_the_same_images(tmp_path):
    images = {"a": np.random.default_rng(0).random((1, 64, 64)).astype(np.float32)}
    pool = Pool.from_images(images, 32)
    pool.write(tmp_path / "pool.json")
    again = Pool.read(tmp_path / "pool.json", images)
    assert again.ids == pool.ids
    np.testing.assert_array_equal(again.input(pool.ids[3]), images["a"][:, 32:, 32:])
    with pytest.raises(PoolError, match="differs"):
        Pool.read(tmp_path / "pool.json", {"a": images["a"] + 1})
    with pytest.raises(PoolError, match="not among"):
        Pool.read(tmp_path / "pool.json", {"b": images["a"]})


def test_an_empty_or_mixed_image_set_is_refused_before_the_loop_writes(tmp_path):
    folder = tmp_path / "loop"
    for images, words in [({}, "no images given"),
                          ({"a": np.zeros((1, 64, 64)), "b": np.zeros((2, 64, 64))},
                           r"image 'a' has 1 channel\(s\) but 'b' has 2: .*same channels"),
                          ({"a": np.full((1, 64, 64), np.nan)}, "'a': holds NaN")]:
        with pytest.raises(PoolError, match=words):
            ActiveLoop(folder, images, LoopConfig(crop=32))
    assert not folder.exists()
