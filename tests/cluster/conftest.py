"""A tiny trained run and a few small OME-TIFF images for the Dask tests (trained once per
session: a MONAI U-Net with channels (4, 8), one epoch of a few 32 x 32 patches)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from im2im_helpers import io
from tests.helpers import one_torch_thread, tiny_regression_run

one_thread = pytest.fixture(autouse=True, scope="session", name="one_thread")(one_torch_thread)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 2D regression run folder (``config.yaml``, ``checkpoints/``), window 32 x 32."""
    return tiny_regression_run(tmp_path_factory.mktemp("cluster-run"), pairs=4)


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
