"""A tiny trained run and a few small OME-TIFF images for the Dask tests (trained once per
session: a MONAI U-Net with channels (4, 8), one epoch of a few 32 x 32 patches)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from im2im_helpers import data, io, models, tasks, train
from tests.helpers import smooth_pair, write


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Torch on one thread in the test process (two cores shared with other jobs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 2D regression run folder (``config.yaml``, ``checkpoints/``), window 32 x 32."""
    out = tmp_path_factory.mktemp("cluster-run")
    folder = out / "pairs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        x, y = smooth_pair(rng)
        write(folder / f"img{i}_IM.ome.tiff", (x * 100 + 500).astype(np.float32))
        write(folder / f"img{i}_GT.ome.tiff", y)
    split = data.split(data.load(folder), test=1, val=1, path=out / "split.json")
    dm = data.patches(split, patch=(32, 32), batch_size=4, samples_per_image=2)
    net = models.build("unet", 2, channels=(4, 8), num_res_units=0)
    return train.fit(tasks.Supervised(net), dm, out / "run", max_epochs=1, progress=False).path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, list[Path]]:
    """``good``: three OME-TIFF images of different sizes (one with 2 time points);
    ``broken``: a text file named ``.tif``; ``missing``: a path that does not exist."""
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(1)
    shapes = {"a": ((40, 56), "YX"), "b": ((48, 64), "YX"), "c": ((2, 1, 36, 70), "TCYX")}
    good = [io.write_ome_tiff(folder / f"{name}.ome.tiff",
                              rng.normal(500, 100, shape).astype(np.float32), dims)
            for name, (shape, dims) in shapes.items()]
    broken = folder / "broken.tif"
    broken.write_text("not an image\n")
    return {"good": good, "broken": [broken], "missing": [folder / "missing.tif"]}
