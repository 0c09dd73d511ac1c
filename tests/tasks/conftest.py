"""Fixtures of the task tests."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Torch on one thread during the test (the instance and embedding tests use it)."""
    # two cores shared with other jobs: more threads make small convolutions far slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
