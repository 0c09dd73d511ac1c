"""Fixtures of the time-lapse tests: torch on one thread."""

import pytest

from tests.helpers import one_torch_thread

one_thread = pytest.fixture(autouse=True, name="one_thread")(one_torch_thread)
