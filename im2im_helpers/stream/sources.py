"""Images opened without reading their pixels: OME-Zarr through zarr, TIFF through a memory map
(or tifffile's Zarr view of its tiles and strips), anything else through bioio's lazy Dask array.

Every source is presented with axes ``TCZYX``; indexing it reads only the region asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from im2im_helpers import io

AXES = "TCZYX"
#: tifffile's names for axes that are not T, C, Z, Y or X, and what they become here.
_TIFF_ALIASES = {"S": "C", "Q": "Z", "I": "Z", "E": "C"}


class SourceAxesError(ValueError):
    """An image's axes are not a subset of ``TCZYX`` ending in ``YX``."""


class _AxesView:
    """An array with axes ``axes`` (a subset of TCZYX, in that order) seen as TCZYX: the
    missing axes have size 1. Indexing takes one int or slice per TCZYX axis."""

    def __init__(self, array, axes: str):
        self.array = array
        self.axes = axes
        sizes = dict(zip(axes, array.shape))
        self.shape = tuple(int(sizes.get(a, 1)) for a in AXES)
        self.dtype = np.dtype(array.dtype)
        stored = getattr(array, "chunks", None)  # zarr: how the pixels are stored
        self.chunks = (tuple(int(dict(zip(axes, stored)).get(a, 1)) for a in AXES)
                       if stored is not None and all(isinstance(c, int) for c in stored)
                       else None)

    def __getitem__(self, index: tuple) -> np.ndarray:
        index = tuple(index) + (slice(None),) * (5 - len(index))
        inner = tuple(index[AXES.index(a)] for a in self.axes)
        data = np.asarray(self.array[inner])
        kept = [a for a in self.axes if not isinstance(index[AXES.index(a)], (int, np.integer))]
        wanted = [a for a, i in zip(AXES, index) if not isinstance(i, (int, np.integer))]
        for a in wanted:  # insert the axes the array does not have, in TCZYX order
            if a not in kept:
                data = np.expand_dims(data, wanted.index(a))
                kept.insert(wanted.index(a), a)
        return data


@dataclass
class LazyImage:
    """An image whose pixels are read only where they are indexed.

    Attributes
    ----------
    data
        Array-like with axes ``TCZYX``: ``shape``, ``dtype`` and indexing by one int or
        slice per axis (each read returns a :class:`numpy.ndarray`).
    pixel_sizes : tuple of float or None
        Physical pixel sizes ``(Z, Y, X)`` in micrometres; ``None`` where unknown.
    path : pathlib.Path
        Where the image is.
    kind : str
        How it is read: ``"ome-zarr"``, ``"tiff-memmap"``, ``"tiff-zarr"`` or ``"bioio"``.
    channel_names : list of str
        One name per channel, where the file has them.
    """

    data: object
    pixel_sizes: tuple[float | None, float | None, float | None]
    path: Path
    kind: str
    channel_names: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """``(T, C, Z, Y, X)``."""
        return tuple(int(s) for s in self.data.shape)

    @property
    def nbytes(self) -> int:
        """Size of the pixels in memory, in bytes (as stored, before any conversion)."""
        return int(np.prod(self.shape)) * np.dtype(self.data.dtype).itemsize


def _check_axes(path: Path, axes: str, what: str) -> str:
    axes = axes.upper()
    unknown = [a for a in axes if a not in AXES]
    order = [AXES.index(a) for a in axes if a in AXES]
    if unknown or order != sorted(order) or len(set(axes)) != len(axes) or axes[-2:] != "YX":
        raise SourceAxesError(
            f"{path}: {what} has axes {axes!r}; expected a subset of 'TCZYX' in that order, "
            "ending with 'YX' (for example 'ZYX' or 'TCZYX'). Rewrite the image with its axes "
            "named and ordered so (for OME-Zarr, the 'axes' of its multiscales metadata).")
    return axes


def _multiscales(group, path: Path) -> dict:
    attrs = dict(group.attrs) if group is not None else {}
    found = (attrs.get("ome") or {}).get("multiscales") or attrs.get("multiscales")
    if not found:
        raise ValueError(
            f"{path}: is a Zarr store without OME-Zarr 'multiscales' metadata; expected an "
            "OME-Zarr image (written by ome-zarr, bioio, napari, bioformats2raw, ...). Wrap a "
            "plain array with ome_zarr.writer.write_image first.")
    return found[0]


def open_ome_zarr(path: str | os.PathLike) -> LazyImage:
    """Open the full-resolution level of an OME-Zarr image (NGFF 0.4 or 0.5) lazily.

    Raises
    ------
    SourceAxesError
        If the image's axes are not a subset of ``TCZYX`` in that order.
    """
    import zarr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such OME-Zarr image. Check the path.")
    group = zarr.open(str(path), mode="r")
    multiscales = _multiscales(group if isinstance(group, zarr.Group) else None, path)
    axes_meta = multiscales.get("axes") or [{"name": a} for a in "tczyx"]
    names = "".join((a["name"] if isinstance(a, dict) else str(a)) for a in axes_meta)
    axes = _check_axes(path, names, "its multiscales metadata")
    level = multiscales["datasets"][0]
    array = group[level["path"]]
    if array.ndim != len(axes):
        raise SourceAxesError(f"{path}: names {len(axes)} axes ({axes!r}) but its array "
                              f"{level['path']!r} has {array.ndim} dimensions {array.shape}.")
    scale = next((t["scale"] for t in level.get("coordinateTransformations", [])
                  if t.get("type") == "scale"), [1.0] * len(axes))
    sizes = dict(zip(axes, scale))
    pixel_sizes = tuple(float(sizes[a]) if a in sizes else None for a in "ZYX")
    return LazyImage(_AxesView(array, axes), pixel_sizes, path, "ome-zarr")


def open_tiff(path: str | os.PathLike) -> LazyImage:
    """Open a (OME-)TIFF lazily: a memory map when its pixels are stored uncompressed in one
    block, else tifffile's Zarr view of its strips or tiles. Pixel sizes come from the
    image metadata (bioio), read without the pixels."""
    import tifffile
    import zarr

    path = Path(path)
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        axes = "".join(_TIFF_ALIASES.get(a, a) for a in series.axes)
    axes = _check_axes(path, axes, "its first image series")
    try:
        array, kind = tifffile.memmap(path, series=0, mode="r"), "tiff-memmap"
    except ValueError:  # compressed, tiled or scattered strips
        array, kind = zarr.open(tifffile.imread(path, aszarr=True, series=0), mode="r"), \
            "tiff-zarr"
    meta = io.read_metadata(path)
    return LazyImage(_AxesView(array, axes), meta.pixel_sizes, path, kind, meta.channel_names)


def open_bioio(path: str | os.PathLike) -> LazyImage:
    """Open any image bioio reads, through its lazy Dask array (``dask_data``)."""
    meta = io.read_metadata(path)
    return LazyImage(_DaskView(meta.dask_data), meta.pixel_sizes, Path(path), "bioio",
                     meta.channel_names)


class _DaskView:
    """A TCZYX Dask array, computed where it is indexed."""

    def __init__(self, array):
        self.array = array
        self.shape = tuple(int(s) for s in array.shape)
        self.dtype = np.dtype(array.dtype)
        self.chunks = tuple(int(c) for c in array.chunksize)

    def __getitem__(self, index: tuple) -> np.ndarray:
        return np.asarray(self.array[index].compute(scheduler="synchronous"))


def open_lazy(path: str | os.PathLike) -> LazyImage:
    """Open an image without reading its pixels: OME-Zarr (a ``.zarr`` folder), TIFF, or any
    format bioio reads lazily.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    SourceAxesError
        If its axes are not a subset of ``TCZYX`` in that order ending in ``YX``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such image. Check the path and the file name.")
    if path.is_dir() or path.suffix.lower() == ".zarr":
        return open_ome_zarr(path)
    if path.name.lower().endswith((".tif", ".tiff")):
        try:
            return open_tiff(path)
        except SourceAxesError:
            raise
        except Exception:  # not a TIFF tifffile maps: let bioio try (and explain)
            pass
    return open_bioio(path)


#: Tile read per sample where an image does not say how it is stored (Z, Y, X).
SAMPLE_TILE = (1, 512, 512)


def sample(image: LazyImage, t: int, c: int, max_values: int) -> np.ndarray:
    """Pixels of time point ``t`` and channel ``c`` for estimating statistics: all of them
    when there are at most ``max_values``, else whole stored tiles (chunks) spread evenly
    over the image, at most ``max_values`` pixels in all (each tile read once, in full).

    Returns
    -------
    numpy.ndarray
        The pixels, flattened, as float32.
    """
    spatial = image.shape[2:]
    if int(np.prod(spatial)) <= max_values:
        return np.asarray(image.data[t, c], dtype=np.float32).ravel()
    chunks = getattr(image.data, "chunks", None)
    tile = tuple(min(int(k), int(s)) for k, s in zip(chunks[2:] if chunks else SAMPLE_TILE,
                                                      spatial))
    grid = [-(-s // k) for s, k in zip(spatial, tile)]
    wanted = max(1, max_values // int(np.prod(tile)))
    picks = np.unique(np.linspace(0, int(np.prod(grid)) - 1, min(wanted, int(np.prod(grid))))
                      .round().astype(int))
    parts = []
    for flat in picks:
        corner = np.unravel_index(int(flat), grid)
        region = tuple(slice(i * k, min((i + 1) * k, s))
                       for i, k, s in zip(corner, tile, spatial))
        parts.append(np.asarray(image.data[(t, c, *region)], dtype=np.float32).ravel())
    return np.concatenate(parts)
