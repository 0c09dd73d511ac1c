"""Fixtures of the registration tests: real nuclei images (offline samples), torch on one
thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from im2im_helpers.data import samples


@pytest.fixture(scope="package")
def nuclei() -> dict[str, np.ndarray]:
    """Real 2D nuclei images ``(1, Y, X)`` in [0, 1] by name (``fluorescent-nuclei-2d``)."""
    return {p.name: p.input for p in samples.fluorescent_nuclei_2d()}


@pytest.fixture(scope="package")
def transmitted() -> list:
    """The ``ndev-labelfree`` time-lapse (10 frames), percentile-normalised: dense texture."""
    from im2im_helpers import data

    return data.load("ndev-labelfree")


@pytest.fixture(autouse=True)
def one_thread():
    """Torch on one thread (two cores shared with other jobs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
