"""Fixtures of the uncertainty tests: tiny networks on one thread."""

import pytest

from im2im_helpers import models, tasks
from tests.helpers import one_torch_thread

one_thread = pytest.fixture(autouse=True, name="one_thread")(one_torch_thread)


@pytest.fixture
def dropout_task():
    """A tiny regression U-Net with dropout 0.3 and batch normalisation."""
    net = models.build("unet", 2, channels=(4, 8), num_res_units=0, norm="BATCH", dropout=0.3)
    return tasks.Supervised(net)
