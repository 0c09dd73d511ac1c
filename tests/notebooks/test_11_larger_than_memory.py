"""Tutorial 11 (larger than memory): smoke-level run; the mosaic and its streamed prediction are
pyramidal OME-Zarr images, the interrupted and resumed prediction equals the in-memory one, the
folder of fields of view is predicted on Dask (and skipped the second time), and the exercises'
solutions ran."""

import json

import numpy as np
import pytest
import zarr

from im2im_helpers import io
from im2im_helpers.stream import omezarr, open_lazy
from tests.notebooks.helpers import held_out, smoke_record

NOTEBOOK = "11_larger_than_memory"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def pyramid(path) -> list:
    """The levels of an OME-Zarr image, full resolution first, as its metadata lists them."""
    group = zarr.open_group(str(path), mode="r")
    attrs = dict(group.attrs)
    multiscales = (attrs.get("ome") or attrs)["multiscales"][0]
    return [group[d["path"]] for d in multiscales["datasets"]]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    held_out(folder, record["test_images"])
    assert record["headline"] is None and record["simulated"] is True
    assert set(record["methods"]) == {"noisy", "unet"}

    # the mosaic and its prediction: OME-Zarr pyramids of the same size, nothing half-written
    streaming = record["streaming"]
    mosaic, prediction = folder / "mosaic.ome.zarr", folder / "predictions" / "mosaic_pred.ome.zarr"
    assert omezarr.is_ome_zarr(mosaic) and omezarr.is_ome_zarr(prediction)
    levels = pyramid(prediction)
    assert len(levels) == streaming["pyramid_levels"] >= 2
    assert levels[0].shape == open_lazy(mosaic).shape and levels[0].dtype == np.float32
    assert [a.shape[-1] for a in levels] == [a.shape[-1] for a in pyramid(mosaic)]
    assert all(b.shape[-1] == a.shape[-1] // 2 for a, b in zip(levels, levels[1:]))
    assert levels[0].nchunks == streaming["chunks"] > 1
    assert open_lazy(prediction).pixel_sizes[1:] == open_lazy(mosaic).pixel_sizes[1:]
    assert not list(folder.rglob("*.partial"))
    assert streaming["in_memory_mib"] > streaming["budget_mib"]  # the budget is set below it
    assert streaming["seconds"] > 0 and streaming["added_mib"] >= 0

    # stopped halfway, resumed, and equal to the in-memory prediction
    check = record["resume_check"]
    assert 0 < check["chunks_before_resume"] < check["blocks"]
    assert check["max_difference"] < 1e-5

    # the folder of fields of view on Dask, then skipped
    dask = record["dask"]
    fields = sorted((folder / "fields").glob("*.ome.tiff"))
    predictions = sorted((folder / "fields_pred").glob("*_pred.ome.tiff"))
    assert dask["files"] == dask["written"] == len(fields) == len(predictions) >= 2
    assert dask["failed"] == 0 and dask["skipped_second_call"] == dask["files"]
    assert dask["workers"] >= 1 and dask["dashboard"].startswith("http")
    assert io.read(predictions[0]).data.shape[-2:] == io.read(fields[0]).data.shape[-2:]

    # the exercises' solutions ran and wrote what they say
    for name in ("small_chunks_256", "small_chunks_1024", "small_small_window"):
        assert omezarr.is_ome_zarr(folder / "exercises" / f"{name}.ome.zarr"), name
    executed = json.loads((folder / f"{NOTEBOOK}.ipynb").read_text())["cells"]
    solutions = [c for c in executed if "".join(c["source"]).startswith("# Solution")]
    assert len(solutions) == 3 and all(c["outputs"] for c in solutions)
