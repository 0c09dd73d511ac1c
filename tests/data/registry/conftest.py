"""Every registry test downloads into, and organises in, its own empty cache."""

import pytest


@pytest.fixture(autouse=True)
def cache(cache):
    """The root ``cache`` fixture (``IM2IM_DATA`` in an empty folder), used by every test here."""
    return cache
