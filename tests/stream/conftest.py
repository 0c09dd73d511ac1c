"""Fixtures of the streaming tests: small networks and OME-Zarr images written by ome-zarr."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from ome_zarr.writer import write_image

from im2im_helpers import models


def write_ome_zarr(path: Path, data: np.ndarray, axes: str = "tczyx",
                   pixel_sizes=(2.0, 0.5, 0.5), chunks=None) -> Path:
    """``data`` as an OME-Zarr image by ome-zarr's own writer (one level)."""
    group = zarr.open_group(str(path), mode="w")
    scale = {"t": 1.0, "c": 1.0, "z": pixel_sizes[0], "y": pixel_sizes[1], "x": pixel_sizes[2]}
    write_image(data, group, axes=list(axes), scale_factors=[],
                scale={a: scale[a] for a in axes if a in scale},
                storage_options={"chunks": chunks or data.shape})
    return path


@pytest.fixture
def unet2d():
    """A seeded 2D U-Net, 1 -> 2 channels."""
    return models.build("unet", 2, 1, 2, channels=(8, 16), strides=(2,), seed=0)


@pytest.fixture
def unet3d():
    """A seeded 3D U-Net, 1 -> 1 channel."""
    return models.build("unet", 3, 1, 1, channels=(4, 8), strides=(2,), seed=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A 2D regression run folder trained for one epoch (window 32 x 32)."""
    from tests.helpers import tiny_regression_run

    return tiny_regression_run(tmp_path_factory.mktemp("stream-run"), pairs=3)
