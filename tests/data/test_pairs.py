"""Pairs read from folders (both layouts, with cost maps), errors that name the bad file,
percentile normalisation, pairs written to a folder and read back, and image halves
(:mod:`im2im_helpers.data.pairs`)."""

import json

import numpy as np
import pytest

from im2im_helpers import data, io
from im2im_helpers.data import simulate
from im2im_helpers.data.pairs import PairError, find_pair_files
from tests.helpers import blob_image, blob_pairs, write


def test_pairs_from_suffix_layout(pair_folder):
    pairs = data.load(pair_folder, normalize_percentiles=None)
    assert pairs.names == [f"img{i}" for i in range(5)]
    assert pairs[0].input.shape == (1, 48, 64) and pairs[0].dims == 2
    assert pairs[0].pixel_sizes[1:] == pytest.approx((0.5, 0.5))


def test_pairs_from_subfolders_with_cost_map(tmp_path):
    for role in ("IM", "GT", "CM"):
        (tmp_path / role).mkdir()
    for name in ("a", "b"):
        write(tmp_path / "IM" / f"{name}.tiff", np.ones((8, 8), np.float32))
        write(tmp_path / "GT" / f"{name}.tiff", np.zeros((8, 8), np.float32))
        write(tmp_path / "CM" / f"{name}.tiff", np.full((8, 8), 2, np.float32))
    pairs = data.load(tmp_path, normalize_percentiles=None)
    assert pairs.names == ["a", "b"]
    assert pairs[1].cost is not None and pairs[1].cost.mean() == 2


def test_input_and_gt_shapes_differ(tmp_path):
    write(tmp_path / "x_IM.tif", np.zeros((8, 8), np.float32))
    write(tmp_path / "x_GT.tif", np.zeros((8, 9), np.float32))
    with pytest.raises(PairError, match=r"x_GT.tif.*differs.*x_IM.tif"):
        data.load(tmp_path)


def test_gt_file_missing(tmp_path):
    write(tmp_path / "x_IM.tif", np.zeros((8, 8), np.float32))
    write(tmp_path / "y_IM.tif", np.zeros((8, 8), np.float32))
    write(tmp_path / "y_GT.tif", np.zeros((8, 8), np.float32))
    with pytest.raises(PairError, match=r"x_IM.tif: has no ground truth.*x_GT"):
        find_pair_files(tmp_path)


def test_wrong_dimensionality(tmp_path):
    write(tmp_path / "v_IM.tif", np.zeros((3, 8, 8), np.float32), "ZYX")
    write(tmp_path / "v_GT.tif", np.zeros((3, 8, 8), np.float32), "ZYX")
    with pytest.raises(PairError, match=r"v_IM.tif: is 3D \(Z=3\).*dims=3"):
        data.load(tmp_path, dims=2)
    assert data.load(tmp_path, dims=3, normalize_percentiles=None)[0].input.shape == (1, 3, 8, 8)


def test_nan_or_inf_in_an_image(tmp_path):
    gt = np.zeros((8, 8), np.float32)
    gt[2, 3] = np.nan
    gt[4, 4] = np.inf
    write(tmp_path / "n_IM.tif", np.zeros((8, 8), np.float32))
    write(tmp_path / "n_GT.tif", gt)
    with pytest.raises(PairError, match=r"n_GT.tif: contains 2 NaN or infinite"):
        data.load(tmp_path)


def test_a_file_that_is_not_an_image(tmp_path):
    write(tmp_path / "k_IM.tif", np.zeros((8, 8), np.float32))
    (tmp_path / "k_GT.tif").write_bytes(b"\x00garbage")
    with pytest.raises(io.ImageReadError, match="k_GT.tif"):
        data.load(tmp_path)


def test_empty_folder_says_what_is_expected(tmp_path):
    with pytest.raises(PairError, match="X_IM.tif and X_GT.tif"):
        data.load(tmp_path)


def test_percentile_normalisation_per_channel():
    x = np.stack([np.linspace(0, 100, 1001), np.linspace(-5, 5, 1001)]).reshape(2, 7, 143)
    y = data.percentile_normalize(x, 1, 99)
    for c in range(2):
        assert np.percentile(y[c], 1) == pytest.approx(0, abs=1e-5)
        assert np.percentile(y[c], 99) == pytest.approx(1, abs=1e-5)


def test_simulated_pairs_saved_as_files_load_back_as_simulated(tmp_path):
    pairs = simulate.poisson_gaussian([blob_image(0), blob_image(1)], photons=10, seed=3)
    folder = data.write_folder(pairs, tmp_path / "pairs")
    again = data.load(folder, normalize_percentiles=None)
    assert again.names == pairs.names and again.simulated
    assert again.config["made"]["source"]["simulated"]["photons"] == 10
    np.testing.assert_array_equal(again[1].input, pairs[1].input)
    before = (folder / "img000_IM.ome.tiff").stat().st_mtime_ns
    data.write_folder(pairs, folder)  # the same pairs again: nothing is rewritten
    assert (folder / "img000_IM.ome.tiff").stat().st_mtime_ns == before
    other = simulate.poisson_gaussian([blob_image(2)], photons=3, seed=3)
    with pytest.raises(FileExistsError, match="left untouched"):
        data.write_folder(other, folder)
    data.write_folder(other, folder, overwrite=True)
    assert data.load(folder, normalize_percentiles=None).names == ["img000"]  # no stale pair
    assert json.loads((folder / "pairs.json").read_text())["names"] == ["img000"]


def test_pair_names_with_folders_are_written_flat_and_read_back(tmp_path):
    from dataclasses import replace

    pairs = simulate.poisson_gaussian([blob_image(0), blob_image(1)], photons=10, seed=3)
    named = type(pairs)([replace(p, name=f"{part}/{p.name}") for p, part in
                         zip(pairs, ("train", "test"))], pairs.config, pairs.simulated)
    folder = data.write_folder(named, tmp_path / "pairs")
    assert (folder / "train__img000_IM.ome.tiff").is_file()
    assert data.load(folder, normalize_percentiles=None).names == ["test/img001", "train/img000"]


def test_halves_cut_inputs_and_labels_along_x():
    whole = blob_pairs(1)
    parts = data.halves(whole)
    assert parts.names == ["img0-left", "img0-right"]
    np.testing.assert_array_equal(np.concatenate([p.target for p in parts], axis=-1),
                                  whole[0].target)
    assert parts[1].origin["half"] == "right" and parts[0].input.flags["C_CONTIGUOUS"]


def test_two_files_for_one_role_are_an_error(tmp_path):
    """Issue 14, item 11: ``a_IM.tif`` beside ``a_IM.tiff`` used to drop one silently."""
    img = np.ones((8, 8), np.float32)
    for name in ("a_IM.tif", "a_IM.tiff", "a_GT.tif"):
        write(tmp_path / name, img)
    with pytest.raises(PairError, match=r"a_IM.tif.* and .*a_IM.tiff: two IM files"):
        data.load(tmp_path)


def test_2d_and_3d_files_in_one_folder_are_an_error(tmp_path):
    """Issue 14, item 11: the first file used to decide, and 2D files became Z=1 stacks."""
    write(tmp_path / "a_IM.tif", np.ones((8, 8), np.float32))
    write(tmp_path / "a_GT.tif", np.ones((8, 8), np.float32))
    write(tmp_path / "b_IM.tif", np.ones((4, 8, 8), np.float32), "ZYX")
    write(tmp_path / "b_GT.tif", np.ones((4, 8, 8), np.float32), "ZYX")
    with pytest.raises(PairError, match=r"2D files .*a_IM.tif.* and 3D files .*b_IM.tif"):
        data.load(tmp_path)
    with pytest.raises(PairError, match=r"a_IM.tif: is 2D .* 3D dataset was asked for"):
        data.load(tmp_path, dims=3)


def test_inputs_with_different_channel_counts_are_an_error_at_load(tmp_path):
    """Issue 14, item 11: accepted, then a collate error naming no file."""
    write(tmp_path / "a_IM.tif", np.ones((1, 8, 8), np.float32), "CYX")
    write(tmp_path / "b_IM.tif", np.ones((2, 8, 8), np.float32), "CYX")
    for stem in "ab":
        write(tmp_path / f"{stem}_GT.tif", np.ones((8, 8), np.float32))
    with pytest.raises(PairError, match=r"a_IM.tif has 1 channel.*b_IM.tif has 2"):
        data.load(tmp_path)


def test_labels_float32_cannot_hold_are_an_error(tmp_path):
    """Issue 14, item 11: label 2**24 + 1 used to become 2**24 silently."""
    labels = np.zeros((8, 8), np.uint32)
    labels[2:4, 2:4] = 2**24 + 1
    write(tmp_path / "a_IM.tif", np.ones((8, 8), np.float32))
    write(tmp_path / "a_GT.tif", labels)
    with pytest.raises(PairError, match=r"a_GT.tif: labels up to 16777217.*relabel"):
        data.load(tmp_path, normalize_target=False)


def test_inverted_percentiles_and_impossible_dims_are_refused(pair_folder):
    """Issue 14, item 11: [99, 1] inverted the images; dims=4 said "found 3D"."""
    with pytest.raises(ValueError, match=r"normalize_percentiles=\(99, 1\).*invert"):
        data.load(pair_folder, normalize_percentiles=(99, 1))
    with pytest.raises(PairError, match=r"dims=4: images are 2D or 3D"):
        data.load(pair_folder, dims=4)


def test_a_corrupt_pairs_record_names_its_file(pair_folder):
    """Issue 14, item 12: a corrupt pairs.json gave a JSON error without a path."""
    (pair_folder / "pairs.json").write_text("{not json")
    with pytest.raises(PairError, match=r"pairs.json: not valid JSON"):
        data.load(pair_folder)


def test_the_default_split_file_of_a_read_only_folder_goes_to_the_cache(pair_folder, cache,
                                                                        monkeypatch):
    """Issue 14, item 12: the split file was written into the data folder, which fails for a
    shared read-only dataset (simulated here: as root every folder is writable)."""
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if os.path.samefile(
        path, pair_folder) else real_access(path, mode))
    split = data.split(data.load(pair_folder), test=1, val=1)
    assert split.config["path"].startswith(str(cache)) and not list(pair_folder.glob("split*"))


@pytest.mark.parametrize("record", ["[]", "null", "3", '{"names": 5}', '{"names": [1, 2]}'])
def test_a_pairs_record_that_is_not_a_mapping_of_names_names_its_file(pair_folder, record):
    """Issue 14, property tests: valid JSON of another shape failed with AttributeError or
    TypeError."""
    (pair_folder / "pairs.json").write_text(record)
    with pytest.raises(PairError, match=r"pairs.json: expected a mapping with 'names'"):
        data.load(pair_folder)


def test_values_beyond_float32_name_the_file(tmp_path):
    """Issue 14, property tests: float64 values past the float32 range became infinities when
    the pairs were converted (or, summed, "0 NaN or infinite values" were reported)."""
    image = np.ones((4, 4))
    image[0, 0] = 1e300
    write(tmp_path / "a_IM.ome.tiff", image)
    write(tmp_path / "a_GT.ome.tiff", np.ones((4, 4)))
    with pytest.raises(PairError, match=r"a_IM.ome.tiff: values up to 1e\+300 exceed the float32"):
        data.load(tmp_path)


def test_any_stem_is_found_and_names_files_cannot_keep_apart_are_refused(tmp_path):
    """Issue 14, property tests: a stem with a new line was not found; write_folder silently
    lost pairs whose names were empty, hidden or equal once flattened ('a/b', 'a__b'), and
    failed inside the file system for a NUL or a too long name."""
    x = np.ones((1, 4, 4), np.float32)
    pairs = data.Pairs([data.Pair(n, x, x) for n in ["line\nbreak", "a/b"]])
    assert sorted(data.load(data.write_folder(pairs, tmp_path / "ok")).names) == sorted(
        pairs.names)
    for names in (["a/b", "a__b"], ["a", "a"], ["", "b"], [".hidden"], ["nul\0"], ["x" * 250]):
        with pytest.raises(PairError, match=r"bad: pair.* (would both be written|cannot be)"):
            data.write_folder(data.Pairs([data.Pair(n, x, x) for n in names]), tmp_path / "bad")
        assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("settings,message", [
    ({"normalize_percentiles": [1]}, r"data.load.normalize_percentiles=\[1\]: give two"),
    ({"normalize_percentiles": "1, 99"}, r"normalize_percentiles='1, 99'"),
    ({"normalize_percentiles": [1, "high"]}, r"normalize_percentiles=\[1, 'high'\]"),
    ({"options": ["target"]}, r"data.load.options=\['target'\]: give the options"),
])
def test_load_settings_of_the_wrong_kind_are_refused_naming_them(pair_folder, settings,
                                                                  message):
    """Issue 14, property tests: these failed with TypeError while unpacking or comparing."""
    with pytest.raises(ValueError, match=message):
        data.load(pair_folder, **settings)
