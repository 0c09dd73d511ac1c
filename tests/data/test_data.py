"""The front door of :mod:`im2im_helpers.data`: what ``data.load`` says about a source it
cannot find, and where ``data.split`` keeps its split file when none is given."""

import pytest

from im2im_helpers import data


def test_unknown_source_lists_the_samples(tmp_path):
    with pytest.raises(FileNotFoundError, match="ndev-labelfree"):
        data.load(tmp_path / "missing")


def test_default_split_file_sits_beside_the_data(pair_folder):
    split = data.split(data.load(pair_folder), seed=5)
    assert (pair_folder / "split-seed5.json").is_file()
    assert split.config["path"] == str((pair_folder / "split-seed5.json").resolve())


def test_no_options_may_be_written_as_none():
    """``options=None`` (what a notebook passes for a dataset without organiser options) loads
    like no options at all."""
    assert data.load("ndev-labelfree", options=None).names == data.load("ndev-labelfree").names
