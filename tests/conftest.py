"""Shared fixtures: small image folders in the layouts users have (written with our own io)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from im2im_helpers import io


def write(path: Path, arr: np.ndarray, dims: str = "YX", pixel_sizes=(1.0, 0.5, 0.5)) -> Path:
    """Write ``arr`` as OME-TIFF at ``path`` and return the path."""
    return io.write_ome_tiff(path, arr, dims, pixel_sizes)


def smooth_pair(rng: np.random.Generator, shape=(48, 64)) -> tuple[np.ndarray, np.ndarray]:
    """An input and a target that is a simple function of it (learnable in a few steps)."""
    x = rng.normal(size=shape).astype(np.float32)
    from scipy import ndimage as ndi

    x = ndi.gaussian_filter(x, 2) * 10
    return x.astype(np.float32), (2 * x + 1).astype(np.float32)


@pytest.fixture
def pair_folder(tmp_path: Path) -> Path:
    """Five 2D ``X_IM``/``X_GT`` pairs (48 x 64) with a learnable relation."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "pairs"
    folder.mkdir()
    for i in range(5):
        x, y = smooth_pair(rng)
        write(folder / f"img{i}_IM.ome.tiff", x)
        write(folder / f"img{i}_GT.ome.tiff", y)
    return folder
