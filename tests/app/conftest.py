"""The app's tests run torch on one thread (the shared fixture body)."""

import pytest

from tests.helpers import one_torch_thread

one_thread = pytest.fixture(autouse=True, name="one_thread")(one_torch_thread)
