"""The OME-Zarr image a streamed prediction writes: built in a hidden ``.NAME.partial`` folder
next to its final name, one chunk per output block (zarr writes each chunk atomically), a
record of what is being predicted so that a killed prediction resumes, and on completion a
multiscale pyramid (Dask) with OME-NGFF metadata (ome-zarr's writer), then one rename to the
final name. Nothing half-written ever carries the final name."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from im2im_helpers import io

#: The record of a prediction in progress, inside its partial folder.
MARKER = "im2im-stream.json"
#: Pyramid levels are added (each half the size in Y and X) until the image fits this side.
PYRAMID_SIDE = 512
#: At most this many pyramid levels besides the full resolution.
PYRAMID_LEVELS = 5
AXES = ("t", "c", "z", "y", "x")


def partial_path(out: str | os.PathLike) -> Path:
    """Where the prediction for ``out`` is built until it is complete."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def is_ome_zarr(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Zarr group (v2 or v3) with OME multiscales metadata."""
    path = Path(path)
    for meta in ("zarr.json", ".zattrs"):
        if (path / meta).is_file():
            text = (path / meta).read_text(errors="replace")
            return "multiscales" in text
    return False


def _check_final(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not overwrite:
        raise FileExistsError(f"{out}: already exists and was left untouched; pass "
                              "overwrite=True (--overwrite) to replace it.")
    if not is_ome_zarr(out):
        raise FileExistsError(
            f"{out}: exists and is not an OME-Zarr image; it is not replaced even with "
            "overwrite. Choose another output name or move it away.")


def open_level(out: str | os.PathLike, job: dict, shape: Sequence[int], chunks: Sequence[int],
               overwrite: bool = False):
    """The full-resolution array of the prediction ``out`` (float32, TCZYX): the one of an
    interrupted prediction of the same ``job`` (resumed: its finished chunks are kept), or a
    new one.

    Returns
    -------
    (zarr.Array, bool)
        The array in the partial folder, and whether an earlier prediction is resumed.
    """
    import zarr

    out = Path(out)
    _check_final(out, overwrite)
    partial = partial_path(out)
    record = {"job": job, "shape": [int(s) for s in shape], "chunks": [int(c) for c in chunks]}
    if partial.exists():
        marker = partial / MARKER
        if not marker.is_file():
            raise FileExistsError(
                f"{partial}: exists but is not a prediction in progress of this package (no "
                f"{MARKER}); it is left untouched. Move it away and run again.")
        if json.loads(marker.read_text()) == json.loads(json.dumps(record)):
            return zarr.open_array(str(partial / "0"), mode="r+"), True
        shutil.rmtree(partial)  # our own unfinished prediction of something else
    partial.mkdir(parents=True)
    io.write_text(partial / MARKER, json.dumps(record, indent=1))
    group = zarr.open_group(str(partial), mode="a", zarr_format=3)
    array = group.create_array(
        "0", shape=tuple(int(s) for s in shape), chunks=tuple(int(c) for c in chunks),
        dtype="float32", fill_value=0.0, dimension_names=AXES,
        config={"write_empty_chunks": True})
    return array, False


def job_record(out: str | os.PathLike) -> dict:
    """What an interrupted prediction into ``out`` was doing.

    Parameters
    ----------
    out : path-like
        The final OME-Zarr path the prediction was writing (its unfinished blocks are in
        :func:`partial_path` of it).

    Returns
    -------
    dict
        The record written when the prediction started (``job``: model, input, window,
        overlap, ...; ``shape``; ``chunks``), or ``{}`` when no prediction into ``out`` is in
        progress.
    """
    marker = partial_path(out) / MARKER
    return json.loads(marker.read_text()) if marker.is_file() else {}


def chunk_written(array, chunk_index: Sequence[int]) -> bool:
    """Whether the chunk at ``chunk_index`` of a local zarr array is on disk (zarr writes a
    chunk atomically, so a chunk on disk is complete)."""
    key = array.metadata.encode_chunk_key(tuple(int(i) for i in chunk_index))
    return (Path(array.store.root) / array.path / key).is_file()


def _pyramid(group, level0, levels: int) -> None:
    import dask.array as da

    previous = da.from_zarr(level0)
    for i in range(1, levels + 1):
        coarse = da.coarsen(np.mean, previous, {3: 2, 4: 2}, trim_excess=True).astype(
            np.float32)
        target = group.create_array(
            str(i), shape=coarse.shape, dtype="float32", fill_value=0.0,
            chunks=tuple(min(c, s) for c, s in zip(level0.chunks, coarse.shape)),
            dimension_names=AXES, overwrite=True)
        da.store(coarse.rechunk(target.chunks), target, lock=False, scheduler="synchronous")
        previous = da.from_zarr(target)


def pyramid_levels(shape: Sequence[int]) -> int:
    """How many half-size levels an image of ``shape`` (TCZYX) gets."""
    side, levels = max(shape[-2:]), 0
    while side > PYRAMID_SIDE and levels < PYRAMID_LEVELS:
        side, levels = side // 2, levels + 1
    return levels


def finish(out: str | os.PathLike, pixel_sizes: Sequence[float | None],
           overwrite: bool = False) -> Path:
    """Complete the prediction ``out``: add the pyramid and the OME-NGFF metadata (pixel
    sizes as the scale of each level, in micrometres where known), then give the partial
    folder the final name (an earlier output is replaced only with ``overwrite``)."""
    import zarr
    from ome_zarr.writer import write_multiscales_metadata

    out = Path(out)
    partial = partial_path(out)
    group = zarr.open_group(str(partial), mode="a", zarr_format=3)
    level0 = group["0"]
    levels = pyramid_levels(level0.shape)
    _pyramid(group, level0, levels)
    z, y, x = (float(s) if s else 1.0 for s in pixel_sizes)
    datasets = [{"path": str(i), "coordinateTransformations": [
        {"type": "scale", "scale": [1.0, 1.0, z, y * 2**i, x * 2**i]}]}
        for i in range(levels + 1)]
    known = all(pixel_sizes[1:])
    write_multiscales_metadata(
        group, datasets, axes=list(AXES),
        axes_units={a: "micrometer" for a in "zyx"} if known else None, name=out.name)
    _check_final(out, overwrite)
    if out.exists():  # an earlier OME-Zarr output, replaced as asked
        trash = out.parent / f".{out.name}.replaced"
        os.replace(out, trash)
        os.replace(partial, out)
        shutil.rmtree(trash)
    else:
        os.replace(partial, out)
    (out / MARKER).unlink()  # kept until here: a prediction killed while finishing resumes
    return out
