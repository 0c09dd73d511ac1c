"""Fixtures of the active-learning tests: tiny images of discs, one torch thread."""

from __future__ import annotations

import numpy as np
import pytest

from im2im_helpers.active import LoopConfig
from tests.helpers import one_torch_thread

one_thread = pytest.fixture(autouse=True, name="one_thread")(one_torch_thread)


def discs(seed: int, shape=(64, 64), n: int = 6, radius: float = 5.0):
    """A ``(1, Y, X)`` noisy image of bright discs and its ``(Y, X)`` label image."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint32)
    yy, xx = np.indices(shape)
    for k in range(1, n + 1):
        cy, cx = rng.integers(6, np.array(shape) - 6)
        labels[(np.hypot(yy - cy, xx - cx) <= radius) & (labels == 0)] = k
    image = (labels > 0).astype(np.float32) + rng.normal(0, 0.25, shape).astype(np.float32)
    return image[None], labels


@pytest.fixture
def pool_data():
    """Two pool images and one held-out image of discs: ``(images, truths, held_out)``."""
    from im2im_helpers.data.pairs import Pair

    made = {f"img{i}": discs(i) for i in range(2)}
    images = {k: v[0] for k, v in made.items()}
    truths = {k: v[1] for k, v in made.items()}
    x, y = discs(10)
    held_out = [Pair("test0", x, (y > 0)[None].astype(np.float32))]
    return images, truths, held_out


@pytest.fixture
def tiny_config():
    """A loop of 32 x 32 crops, a two-level U-Net, one short epoch per round."""
    return LoopConfig(crop=32, per_round=1, channels=[4, 8], epochs=1, samples_per_crop=2,
                      batch_size=2, initial=1, seed=0)
