"""Every test here downloads into its own empty data cache; the paper's applications use the
tiny stand-in configurations of :mod:`tests.pretrained.standin`."""

from __future__ import annotations

import dataclasses

import pytest

from im2im_helpers.pretrained import paper
from tests.pretrained import standin


@pytest.fixture(autouse=True)
def cache(cache):
    """The root ``cache`` fixture (``IM2IM_DATA`` in an empty folder), used by every test here."""
    return cache


@pytest.fixture
def tiny(monkeypatch) -> dict[str, dict]:
    """The stand-in configurations, also installed as the paper's configurations of their
    applications (so that checkpoints found by folder use them)."""
    configs = standin.tiny_configs()
    for name, config in configs.items():
        entry = dataclasses.replace(paper.PAPER_CONFIGS[name], config=config)
        monkeypatch.setitem(paper.PAPER_CONFIGS, name, entry)
    return configs
