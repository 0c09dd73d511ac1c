"""Training patches in 2D and 3D: shapes, input and target kept aligned, unpaired sampling, and
seeds that decide which patches are drawn
(:mod:`im2im_helpers.data.patches`)."""

import os

import numpy as np
import pytest
import torch

from im2im_helpers import data
from im2im_helpers.data.pairs import PairError
from tests.helpers import write


@pytest.mark.parametrize("shape,patch", [((1, 40, 50), (16, 24)), ((1, 12, 40, 50), (8, 16, 24))])
def test_patch_shapes_2d_and_3d(tmp_path, shape, patch):
    dims = "YX" if len(shape) == 3 else "ZYX"
    for i in range(3):
        image = np.random.default_rng(i).random(shape[1:]).astype("f4")
        write(tmp_path / f"p{i}_IM.tif", image, dims)
        write(tmp_path / f"p{i}_GT.tif", np.ones(shape[1:], np.float32), dims)
    pairs = data.load(tmp_path)
    split = data.split(pairs, test=1, val=1, path=tmp_path / "split.json")
    dm = data.patches(split, patch=patch, batch_size=4, samples_per_image=8)
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
    dm = data.patches(split, patch=(16, 16), batch_size=8, samples_per_image=16, augment="flips")
    for batch in dm.train_dataloader():
        torch.testing.assert_close(batch["target"], 3 * batch["input"])


def test_patch_size_must_match_dimensionality(pair_folder, tmp_path):
    split = data.split(data.load(pair_folder), path=tmp_path / "s.json")
    with pytest.raises(PairError, match="patch=.*3D"):
        data.patches(split, patch=(8, 16, 16))


def test_unpaired_patches_take_targets_from_other_images(tmp_path):
    # each image is constant: its value says which image a patch came from
    for i in range(3):
        write(tmp_path / f"p{i}_IM.tif", np.full((40, 50), i, np.float32))
        write(tmp_path / f"p{i}_GT.tif", np.full((40, 50), 10 + i, np.float32))
    split = data.split(data.load(tmp_path, normalize_percentiles=None), test=0, val=0,
                       path=tmp_path / "s.json")
    dm = data.patches(split, patch=(16, 16), batch_size=6, samples_per_image=4, unpaired=True)
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
    dm = data.patches(split, patch=(16, 16), batch_size=8, samples_per_image=16, unpaired=True)
    batch = next(iter(dm.train_dataloader()))
    aligned = [torch.equal(t, 3 * i) for i, t in zip(batch["input"], batch["target"])]
    assert sum(aligned) < len(aligned) / 2


SEED_SCRIPT = """
import sys
import numpy as np
import torch
from im2im_helpers import data
from im2im_helpers.data.pairs import Pair, Pairs
from im2im_helpers.data.splits import make_split

seed, disturb, out = int(sys.argv[1]), sys.argv[2] == "yes", sys.argv[3]
if disturb:  # random draws elsewhere before the patches are made must not change them
    torch.manual_seed(1234)
    torch.rand(1000)
    np.random.seed(99)
    np.random.rand(10)
items = [Pair(f"img{i}", np.arange(64 * 64, dtype=np.float32).reshape(1, 64, 64) + 1e4 * i,
              np.zeros((1, 64, 64), np.float32)) for i in range(3)]
split = make_split(Pairs(items, {"source": {"folder": "memory"}}), out + ".split.json",
                   test=1, val=0, shuffle=False)
dm = data.patches(split, patch=(16, 16), batch_size=4, samples_per_image=4, seed=seed)
if disturb:
    torch.rand(17)
batches = [b["input"].numpy() for _, b in zip(range(3), dm.train_dataloader())]
np.save(out, np.stack(batches))
"""


def draw_patches(tmp_path, seed: int, disturb: bool) -> np.ndarray:
    """The first three training batches drawn by ``data.patches(seed=seed)`` in a fresh
    process; with ``disturb``, after other draws from torch's and numpy's global generators."""
    import subprocess
    import sys

    out = tmp_path / f"patches-{seed}-{disturb}.npy"
    done = subprocess.run([sys.executable, "-c", SEED_SCRIPT, str(seed),
                           "yes" if disturb else "no", str(out.with_suffix(""))],
                          capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(out)


def test_the_seed_decides_the_patches_whatever_else_was_drawn(tmp_path):
    quiet = draw_patches(tmp_path, seed=3, disturb=False)
    disturbed = draw_patches(tmp_path, seed=3, disturb=True)
    np.testing.assert_array_equal(quiet, disturbed)
    other = draw_patches(tmp_path, seed=4, disturb=False)
    assert not np.array_equal(quiet, other), "another seed draws other patches"


@pytest.mark.parametrize("settings,message", [
    ({"augment": 3}, r"data.patches.augment=3: must be a string"),
    ({"seed": 1.5}, r"data.patches.seed=1.5: must be a whole number >= 0"),
    ({"seed": -1}, r"data.patches.seed=-1: must be a whole number >= 0"),
    ({"seed": 2**64}, r"data.patches.seed=18446744073709551616: must be at most"),
    ({"samples_per_image": 2**70}, r"data.patches.samples_per_image=.*: must be at most"),
    ({"batch_size": 2**63}, r"data.patches.batch_size=.*: must be at most 1000000"),
    ({"unpaired": "yes"}, r"data.patches.unpaired='yes': must be true or false"),
], ids=["augment", "float-seed", "negative-seed", "huge-seed", "huge-samples", "huge-batch",
        "unpaired"])
def test_patch_settings_of_the_wrong_kind_are_refused_naming_them(tmp_path, settings, message):
    """Issue 14, property tests: each failed once patches were drawn (AttributeError,
    RuntimeError from torch's manual_seed, OverflowError, ValueError from islice)."""
    split = _ramp_split(tmp_path)
    with pytest.raises(ValueError, match=message):
        data.patches(split, patch=(16, 16), **settings)


def test_numpy_integer_settings_draw_patches(tmp_path):
    """Issue 14, property tests: a numpy seed failed in torch ("an integer is required")."""
    split = _ramp_split(tmp_path)
    dm = data.patches(split, patch=(16, 16), batch_size=np.int64(2), seed=np.int64(1))
    assert tuple(next(iter(dm.train_dataloader()))["input"].shape) == (2, 1, 16, 16)
