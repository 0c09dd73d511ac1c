"""Tiny trained runs to export, shared by the export tests (trained once per session): each is
a tutorial-like output folder ``OUT/`` with ``run/``, ``split.json`` and the pairs beside it.

The networks are MONAI U-Nets with channels (4, 8) and no residual units (a few hundred
parameters), trained for one epoch of a few patches: packages of a few hundred kB whose
bioimageio test takes seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from im2im_helpers import data, models, tasks, train
from tests.helpers import labelled_blobs, one_torch_thread, smooth_pair, write

TINY = {"channels": (4, 8), "num_res_units": 0}


one_thread = pytest.fixture(autouse=True, scope="session", name="one_thread")(one_torch_thread)


def _pairs_2d(folder: Path, n: int = 5) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n):
        x, y = smooth_pair(rng)
        write(folder / f"img{i}_IM.ome.tiff", (x * 100 + 500).astype(np.float32))
        write(folder / f"img{i}_GT.ome.tiff", y)
    return folder


def _pairs_3d(folder: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    for i in range(n):
        x, y = smooth_pair(rng, shape=(16, 24, 32))
        write(folder / f"vol{i}_IM.ome.tiff", (x * 100 + 500).astype(np.float32), "ZYX")
        write(folder / f"vol{i}_GT.ome.tiff", y, "ZYX")
    return folder


def _blobs(folder: Path, n: int = 5) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        image, labels = labelled_blobs(i, shape=(48, 48))
        write(folder / f"blob{i}_IM.ome.tiff", image[0] * 1000 + 200)
        write(folder / f"blob{i}_GT.ome.tiff", labels[0])
    return folder


def fit(out: Path, pairs, task, patch, **options) -> Path:
    """Train ``task`` for one epoch on ``pairs`` into ``out/run`` (split in ``out``)."""
    split = data.split(pairs, test=1, val=1, path=out / "split.json")
    dm = data.patches(split, patch=patch, batch_size=4, samples_per_image=2, **options)
    return train.fit(task, dm, out / "run", max_epochs=1, progress=False).path


@pytest.fixture(scope="session")
def run_2d(tmp_path_factory) -> Path:
    """A 2D regression run (48 x 64 images of raw values ~500 +- 100)."""
    out = tmp_path_factory.mktemp("out2d")
    pairs = data.load(_pairs_2d(out / "pairs"))
    return fit(out, pairs, tasks.Supervised(models.build("unet", 2, **TINY)), (32, 32))


@pytest.fixture(scope="session")
def run_3d(tmp_path_factory) -> Path:
    """A 3D regression run (16 x 24 x 32 volumes)."""
    out = tmp_path_factory.mktemp("out3d")
    pairs = data.load(_pairs_3d(out / "pairs"))
    return fit(out, pairs, tasks.Supervised(models.build("unet", 3, **TINY)), (8, 16, 16))


@pytest.fixture(scope="session")
def blob_folder(tmp_path_factory) -> Path:
    """Five 2D images of bright discs (48 x 48) with their label images."""
    return _blobs(tmp_path_factory.mktemp("blobs") / "pairs")


def segmentation_run(out: Path, folder: Path, classes: int) -> Path:
    """A 2D segmentation run: foreground (sigmoid) for 1 class, 3-class (softmax) else."""
    pairs = data.load(folder, normalize_target=False)
    pairs = data.foreground(pairs) if classes == 1 else data.three_class(pairs)
    net = models.build("unet", 2, out_channels=classes, **TINY)
    return fit(out, pairs, tasks.Supervised(net, loss="dice_ce"), (32, 32))
