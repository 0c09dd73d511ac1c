"""Fixtures of the uncertainty tests: tiny networks on one thread."""

import pytest
import torch

from im2im_helpers import models, tasks


@pytest.fixture(autouse=True)
def one_thread():
    """Torch on one thread (two cores are shared with other jobs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def dropout_task():
    """A tiny regression U-Net with dropout 0.3 and batch normalisation."""
    net = models.build("unet", 2, channels=(4, 8), num_res_units=0, norm="BATCH", dropout=0.3)
    return tasks.Supervised(net)
