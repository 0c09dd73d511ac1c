"""Fixtures of the registration tests: real nuclei images (offline samples), torch on one
thread."""

from __future__ import annotations

import numpy as np
import pytest

from im2im_helpers.data import samples
from tests.helpers import one_torch_thread


@pytest.fixture(scope="package")
def nuclei() -> dict[str, np.ndarray]:
    """Real 2D nuclei images ``(1, Y, X)`` in [0, 1] by name (``fluorescent-nuclei-2d``)."""
    return {p.name: p.input for p in samples.fluorescent_nuclei_2d()}


@pytest.fixture(scope="package")
def transmitted() -> list:
    """The ``ndev-labelfree`` time-lapse (10 frames), percentile-normalised: dense texture."""
    from im2im_helpers import data

    return data.load("ndev-labelfree")


one_thread = pytest.fixture(autouse=True, name="one_thread")(one_torch_thread)
