"""Seeded train/validation/test splits written to disk and reused, splits by name, and the
errors for a split that does not fit (:mod:`im2im_helpers.data.splits`)."""

import json

import pytest

from im2im_helpers import data
from im2im_helpers.data import simulate
from im2im_helpers.data.splits import SplitError
from tests.helpers import blob_image


def test_split_is_seeded_written_and_reused(pair_folder, tmp_path):
    pairs = data.load(pair_folder)
    a = data.split(pairs, test=0.4, val=0.2, seed=3, path=tmp_path / "s1.json")
    b = data.split(pairs, test=0.4, val=0.2, seed=3, path=tmp_path / "s2.json")
    assert (a.train.names, a.val.names, a.test.names) == (b.train.names, b.val.names, b.test.names)
    assert len(a.test) == 2 and len(a.val) == 1 and len(a.train) == 2
    others = {tuple(data.split(pairs, test=0.4, val=0.2, seed=s,
                               path=tmp_path / f"o{s}.json").test.names) for s in range(6)}
    assert len(others) > 1  # the seed matters
    # reused from disk: an edited file wins over re-splitting
    saved = json.loads((tmp_path / "s1.json").read_text())
    names = saved["names"]
    names["train"], names["test"] = names["test"], names["train"]
    (tmp_path / "s1.json").write_text(json.dumps(saved))
    c = data.split(pairs, test=0.4, val=0.2, seed=3, path=tmp_path / "s1.json")
    assert c.test.names == a.train.names


def test_split_file_from_other_parameters_is_refused(pair_folder, tmp_path):
    pairs = data.load(pair_folder)
    data.split(pairs, test=0.4, seed=0, path=tmp_path / "s.json")
    with pytest.raises(SplitError, match=r"s.json: this split was made with"):
        data.split(pairs, test=0.4, seed=1, path=tmp_path / "s.json")


def test_unshuffled_split_holds_out_the_last_pairs(pair_folder, tmp_path):
    split = data.split(data.load(pair_folder), test=2, val=1, shuffle=False,
                       path=tmp_path / "s.json")
    assert split.test.names == ["img3", "img4"] and split.val.names == ["img2"]


def test_split_by_names(tmp_path):
    pairs = simulate.poisson_gaussian([blob_image(i) for i in range(5)])
    split = data.split(pairs, test=["img001", "img004"], val=["img000"], shuffle=False,
                       path=tmp_path / "split.json")
    assert split.test.names == ["img001", "img004"] and split.val.names == ["img000"]
    assert split.train.names == ["img002", "img003"]
    again = data.split(pairs, test=["img001", "img004"], val=["img000"], shuffle=False,
                       path=tmp_path / "split.json")
    assert again.train.names == split.train.names
    with pytest.raises(SplitError, match="not among"):
        data.split(pairs, test=["nope"], path=tmp_path / "other.json")
    with pytest.raises(SplitError, match="No pair left"):
        data.split(pairs, test=pairs.names[:3], val=pairs.names[3:], path=tmp_path / "x.json")
