"""Pairs from folders, bad-input errors, seeded splits on disk, normalisation, patches."""

import json

import numpy as np
import pytest
import torch
from conftest import write

from im2im_helpers import data, io
from im2im_helpers.pairs import PairError, find_pair_files
from im2im_helpers.splits import SplitError


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


def test_split_is_seeded_written_and_reused(pair_folder, tmp_path):
    pairs = data.load(pair_folder)
    a = data.split(pairs, test=0.4, val=0.2, seed=3, path=tmp_path / "s1.json")
    b = data.split(pairs, test=0.4, val=0.2, seed=3, path=tmp_path / "s2.json")
    assert (a.train.names, a.val.names, a.test.names) == (b.train.names, b.val.names, b.test.names)
    assert len(a.test) == 2 and len(a.val) == 1 and len(a.train) == 2
    others = {tuple(data.split(pairs, 0.4, 0.2, seed=s, path=tmp_path / f"o{s}.json").test.names)
              for s in range(6)}
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


def test_default_split_file_sits_beside_the_data(pair_folder):
    split = data.split(data.load(pair_folder), seed=5)
    assert (pair_folder / "split-seed5.json").is_file()
    assert split.config["file"] == str((pair_folder / "split-seed5.json").resolve())


def test_unshuffled_split_holds_out_the_last_pairs(pair_folder, tmp_path):
    split = data.split(data.load(pair_folder), test=2, val=1, shuffle=False,
                       path=tmp_path / "s.json")
    assert split.test.names == ["img3", "img4"] and split.val.names == ["img2"]


def test_percentile_normalisation_per_channel():
    x = np.stack([np.linspace(0, 100, 1001), np.linspace(-5, 5, 1001)]).reshape(2, 7, 143)
    y = data.percentile_normalize(x, 1, 99)
    for c in range(2):
        assert np.percentile(y[c], 1) == pytest.approx(0, abs=1e-5)
        assert np.percentile(y[c], 99) == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize("shape,patch", [((1, 40, 50), (16, 24)), ((1, 12, 40, 50), (8, 16, 24))])
def test_patch_shapes_2d_and_3d(tmp_path, shape, patch):
    dims = "YX" if len(shape) == 3 else "ZYX"
    for i in range(3):
        image = np.random.default_rng(i).random(shape[1:]).astype("f4")
        write(tmp_path / f"p{i}_IM.tif", image, dims)
        write(tmp_path / f"p{i}_GT.tif", np.ones(shape[1:], np.float32), dims)
    pairs = data.load(tmp_path)
    split = data.split(pairs, test=1, val=1, path=tmp_path / "split.json")
    dm = data.patches(split, patch=patch, batch=4, samples_per_image=8)
    batch = next(iter(dm.train_dataloader()))
    assert tuple(batch["input"].shape) == (4, 1, *patch)
    assert tuple(batch["target"].shape) == (4, 1, *patch)
    assert isinstance(batch["input"], torch.Tensor)
    val = next(iter(dm.val_dataloader()))
    assert tuple(val["input"].shape[1:]) == (1, *patch)


def _ramp_split(tmp_path):
    """One pair: a ramp image and 3 x the ramp as its target, all of it for training."""
    x = np.arange(40 * 50, dtype=np.float32).reshape(40, 50)
    write(tmp_path / "a_IM.tif", x)
    write(tmp_path / "a_GT.tif", 3 * x)
    return data.split(data.load(tmp_path, normalize_percentiles=None), test=0, val=0,
                      path=tmp_path / "s.json")


def test_patches_keep_input_and_target_aligned(tmp_path):
    split = _ramp_split(tmp_path)
    dm = data.patches(split, patch=(16, 16), batch=8, samples_per_image=16, augment="flips")
    for batch in dm.train_dataloader():
        torch.testing.assert_close(batch["target"], 3 * batch["input"])


def test_patch_size_must_match_dimensionality(pair_folder, tmp_path):
    split = data.split(data.load(pair_folder), path=tmp_path / "s.json")
    with pytest.raises(PairError, match="patch=.*3D"):
        data.patches(split, patch=(8, 16, 16))


def test_ndev_sample_is_a_real_labelfree_time_lapse():
    pairs = data.load("ndev-labelfree", normalize_percentiles=None)
    assert pairs.names == [f"t{t:02d}" for t in range(10)]
    assert pairs[0].input.shape == (1, 210, 576)
    assert pairs[0].pixel_sizes[2] == pytest.approx(0.619)
    assert not pairs.simulated
    r = np.corrcoef(pairs[9].input.ravel(), pairs[9].target.ravel())[0, 1]
    assert abs(r) < 0.2  # transmitted light is not the nuclear stain: the task is not trivial


def test_unknown_source_lists_the_samples(tmp_path):
    with pytest.raises(FileNotFoundError, match="ndev-labelfree"):
        data.load(tmp_path / "missing")


def test_unpaired_patches_take_targets_from_other_images(tmp_path):
    # each image is constant: its value says which image a patch came from
    for i in range(3):
        write(tmp_path / f"p{i}_IM.tif", np.full((40, 50), i, np.float32))
        write(tmp_path / f"p{i}_GT.tif", np.full((40, 50), 10 + i, np.float32))
    split = data.split(data.load(tmp_path, normalize_percentiles=None), test=0, val=0,
                       path=tmp_path / "s.json")
    dm = data.patches(split, patch=(16, 16), batch=6, samples_per_image=4, unpaired=True)
    seen = set()
    for batch in dm.train_dataloader():
        sources = batch["input"].amax(dim=(1, 2, 3)).long().tolist()
        partners = (batch["target"].amax(dim=(1, 2, 3)) - 10).long().tolist()
        assert all(a != b for a, b in zip(sources, partners))  # never an image's own target
        seen |= set(zip(sources, partners))
    assert len(seen) == 6  # every input met both other images' targets
    assert dm.config["unpaired"] is True


def test_unpaired_crops_lose_the_correspondence_of_one_pair(tmp_path):
    split = _ramp_split(tmp_path)
    dm = data.patches(split, patch=(16, 16), batch=8, samples_per_image=16, unpaired=True)
    batch = next(iter(dm.train_dataloader()))
    aligned = [torch.equal(t, 3 * i) for i, t in zip(batch["input"], batch["target"])]
    assert sum(aligned) < len(aligned) / 2


def test_recorded_transforms_are_redone_from_a_config():
    pairs = data.load("nuclei-instances-2d", normalize_target=False)
    made = data.three_class(data.halves(pairs.subset(["ndev-t00"])), boundary_width=2)
    assert made.config["transforms"] == [{"kind": "halves"},
                                         {"kind": "three_class", "boundary_width": 2}]
    again = data.apply_transforms(pairs.subset(["ndev-t00"]), made.config["transforms"])
    assert again.names == made.names
    np.testing.assert_array_equal(again[1].target, made[1].target)
    with pytest.raises(ValueError, match="unknown transform.*known kinds"):
        data.apply_transforms(pairs, [{"kind": "blur"}])


def test_synthetic_images_replace_the_inputs_and_are_marked():
    masks = data.masks_to_images(data.load("ndev-nuclei", normalize_target=False).subset(["t00"]))
    synthetic = data.synthetic_images(masks, lambda m: 0.5 + m, {"generator": "offset"})
    assert synthetic.simulated
    assert synthetic.config["source"]["simulated"] == {"kind": "synthetic_images",
                                                       "generator": "offset"}
    np.testing.assert_array_equal(synthetic[0].target, masks[0].input)  # the mask is the target
    np.testing.assert_array_equal(synthetic[0].input, 0.5 + masks[0].input)
