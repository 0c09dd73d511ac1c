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


@pytest.mark.parametrize("settings,message", [
    ({"test": float("nan")}, r"test=nan: give a fraction"),
    ({"val": float("inf")}, r"val=inf: give a fraction"),
    ({"test": -0.2}, r"test=-0.2: give a fraction"),
    ({"test": "0.2"}, r"test='0.2': give a fraction"),
    ({"test": ["img0", "img0"]}, r"test=\['img0', 'img0'\]: a list of held-out pairs names "
                                 r"each pair once"),
    ({"seed": -1}, r"seed=-1: the seed of the shuffle is a whole number >= 0"),
    ({"seed": 1.5}, r"seed=1.5"),
    ({"shuffle": "yes"}, r"shuffle='yes': True"),
], ids=["nan", "inf", "negative", "text", "twice", "negative-seed", "float-seed", "shuffle"])
def test_split_settings_that_cannot_divide_pairs_are_split_errors(pair_folder, tmp_path,
                                                                   settings, message):
    """Issue 14, property tests: NaN, infinity, text and negative seeds failed inside numpy or
    int() (ValueError, OverflowError, TypeError); a name listed twice was held out twice."""
    with pytest.raises(SplitError, match=message):
        data.split(data.load(pair_folder), path=tmp_path / "s.json", **settings)
    assert not (tmp_path / "s.json").exists()


def test_numpy_numbers_and_empty_lists_split(pair_folder, tmp_path):
    """Issue 14, property tests: numpy integers could not be written to the split file
    (TypeError: not JSON serializable) and ``test=[]`` failed comparing a list with 0."""
    import numpy as np

    pairs = data.load(pair_folder)
    split = data.split(pairs, test=np.int64(2), val=np.float64(0.2), seed=np.int64(1),
                       path=tmp_path / "s.json")
    assert (len(split.test), len(split.val)) == (2, 1)
    split = data.split(pairs, test=[], val=[], path=tmp_path / "t.json")
    assert sorted(split.train.names) == pairs.names and not split.val and not split.test


@pytest.mark.parametrize("content", [b"{oops", b"\xff\xfe", b"[]", b'{"names": 3}',
                                     b'{"names": {"train": ["img0"]}}', "folder"])
def test_a_split_file_that_is_not_one_is_a_split_error_naming_it(pair_folder, tmp_path,
                                                                   content):
    """Issue 14, property tests: JSONDecodeError, UnicodeDecodeError, AttributeError,
    KeyError or IsADirectoryError came out instead."""
    path = tmp_path / "s.json"
    path.mkdir() if content == "folder" else path.write_bytes(content)
    with pytest.raises(SplitError, match=r"s.json: (cannot be read as|not) a split file"):
        data.split(data.load(pair_folder), path=path)


def test_pairs_with_one_name_twice_cannot_be_split(tmp_path):
    """Issue 14, property tests: the split kept one of the two pairs, twice or not at all."""
    pairs = simulate.poisson_gaussian([blob_image(i) for i in range(3)])
    pairs[1].name = pairs[0].name
    with pytest.raises(SplitError, match=r"pairs named \['img000'\] appear more than once"):
        data.split(pairs, path=tmp_path / "s.json")
