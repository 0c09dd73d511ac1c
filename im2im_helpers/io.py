"""Read and write microscopy images as TCZYX arrays with their pixel sizes.

bioio is the reader/writer; aicsimageio (its predecessor, same API style) is used only when
bioio is not installed. The two cannot share one environment, so exactly one of them is found.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

import numpy as np

from im2im_helpers import system

DIMS = "TCZYX"


class ImageReadError(ValueError):
    """A file could not be read as a microscopy image."""


class ImageWriteError(ValueError):
    """An image could not be written where it was asked to go."""


def _load_backend():
    try:
        from bioio import BioImage
        from bioio.writers import OmeTiffWriter
        from bioio_base.types import PhysicalPixelSizes

        return "bioio", BioImage, OmeTiffWriter, PhysicalPixelSizes
    except ImportError:
        pass
    try:
        from aicsimageio import AICSImage
        from aicsimageio.types import PhysicalPixelSizes
        from aicsimageio.writers import OmeTiffWriter

        return "aicsimageio", AICSImage, OmeTiffWriter, PhysicalPixelSizes
    except ImportError as err:
        raise ImportError(
            "Neither bioio nor aicsimageio is installed. Install the package with its "
            "dependencies (`pip install im2im-helpers`) or `pip install bioio bioio-ome-tiff`."
        ) from err


_BACKEND = None


def backend_name() -> str:
    """Return the name of the image library in use: ``"bioio"`` or ``"aicsimageio"``."""
    return _backend()[0]


def _backend():
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = _load_backend()
    return _BACKEND


@dataclass
class Image:
    """A microscopy image as a 5D array with its physical metadata.

    Attributes
    ----------
    data : numpy.ndarray
        Pixel data with axes ``TCZYX``.
    pixel_sizes : tuple of float or None
        Physical pixel sizes ``(Z, Y, X)`` in micrometres; ``None`` where unknown.
    channel_names : list of str
        One name per channel.
    path : pathlib.Path or None
        Where the image was read from.
    """

    data: np.ndarray
    pixel_sizes: tuple[float | None, float | None, float | None] = (None, None, None)
    channel_names: list[str] = field(default_factory=list)
    path: Path | None = None

    def channel(self, c: int, t: int | None = None) -> np.ndarray:
        """Return one channel as ``T,Z,Y,X`` (or ``Z,Y,X`` when ``t`` is given), squeezing Z=1."""
        arr = self.data[:, c] if t is None else self.data[t, c]
        return arr[..., 0, :, :] if arr.shape[-3] == 1 else arr


def read(path: str | os.PathLike) -> Image:
    """Read any image bioio (or aicsimageio) understands as a TCZYX :class:`Image`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ImageReadError
        If the file is not an image the installed readers understand.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file. Check the path and the file name.")
    try:
        img = _open_reader(path)
        samples = img.dims.S if "S" in img.dims.order else 1
        if samples > 1 and img.dims.C == 1:  # RGB(A) files (PNG, BMP, JPEG): samples -> channels
            data = np.asarray(img.get_image_data("TSZYX"))
        else:
            data = np.asarray(img.get_image_data(DIMS))
        pps = img.physical_pixel_sizes
        channel_names = ([f"S{i}" for i in range(samples)] if samples > 1 and img.dims.C == 1
                         else [str(c) for c in (img.channel_names or [])])
    except Exception as err:  # readers raise many unrelated types for a bad file
        single = _read_single_row_ome_tiff(path)
        if single is not None:
            return single
        raise _unreadable(path, err) from err
    return Image(data, (pps.Z, pps.Y, pps.X), channel_names, path)


@dataclass
class ImageMetadata:
    """What an image file holds, read without its pixels (see :func:`read_metadata`).

    Attributes
    ----------
    shape : tuple of int
        ``(T, C, Z, Y, X)``.
    dtype : numpy.dtype
        Pixel type.
    pixel_sizes : tuple of float or None
        Physical pixel sizes ``(Z, Y, X)`` in micrometres; ``None`` where unknown.
    channel_names : list of str
        One name per channel.
    dask_data
        The pixels as a lazy ``TCZYX`` Dask array (read only where computed).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    pixel_sizes: tuple[float | None, float | None, float | None]
    channel_names: list[str]
    dask_data: object


def read_metadata(path: str | os.PathLike) -> ImageMetadata:
    """The shape, pixel type, pixel sizes and channel names of an image file, and its pixels
    as a lazy Dask array, without reading the pixels.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ImageReadError
        If the file is not an image the installed readers understand.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such image file. Check the path and the file name.")
    try:
        img = _open_reader(path)
        lazy = img.get_image_dask_data(DIMS)
        pps = img.physical_pixel_sizes
        channel_names = [str(c) for c in (img.channel_names or [])]
    except Exception as err:  # readers raise many unrelated types for a bad file
        raise _unreadable(path, err) from err
    return ImageMetadata(tuple(int(s) for s in lazy.shape), np.dtype(lazy.dtype),
                         (pps.Z, pps.Y, pps.X), channel_names, lazy)


def _open_reader(path: Path):
    """``path`` opened by the backend's reader (pixels not read yet)."""
    reader_cls = _backend()[1]
    # bioio tries its readers in turn and logs a warning for each one that declines the file
    # ("Attempted file ... Failed to parse XML" for every plain TIFF): expected, and alarming on
    # a page; a file no reader takes still raises, and the caller explains it (_unreadable)
    with system.logger_level("bioio.bio_image", logging.ERROR):
        return reader_cls(path)


def _unreadable(path: Path, err: Exception) -> ImageReadError:
    """The error for a file the installed readers do not understand."""
    return ImageReadError(
        f"{path}: could not be read as an image by {_backend()[0]} ({type(err).__name__}: "
        f"{err}). Expected a microscopy image (OME-TIFF, TIFF, PNG, CZI, ...); check that the "
        "file is complete and that the reader plugin for its format is installed.")


def _read_single_row_ome_tiff(path: Path) -> Image | None:
    """Read an OME-TIFF of one row or column (Y or X of 1; a line scan) that bioio-ome-tiff
    cannot read (it adds an axis for every OME size of 1, including the Y or X that tifffile
    kept), with tifffile; ``None`` if ``path`` is not such a file."""
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, shape = series.get_axes(False), series.get_shape(False)
            if not tif.is_ome or set(axes) != set(DIMS + "S") or shape[axes.index("S")] != 1:
                return None
            if shape[axes.index("Y")] != 1 and shape[axes.index("X")] != 1:
                return None
            data = series.asarray(squeeze=False)
            pixels = ElementTree.fromstring(tif.ome_metadata).find(".//{*}Pixels")
    except Exception:  # not a TIFF tifffile can read: the caller reports the reader's error
        return None
    data = np.transpose(data[..., 0] if axes[-1] == "S" else np.take(data, 0, axes.index("S")),
                        [axes.replace("S", "").index(d) for d in DIMS])
    sizes = []
    for axis in "ZYX":
        value, unit = pixels.get(f"PhysicalSize{axis}"), pixels.get(f"PhysicalSize{axis}Unit")
        sizes.append(float(value) if value and unit in (None, "µm", "um") else None)
    names = [c.get("Name", "") for c in pixels.findall("{*}Channel")]
    return Image(np.ascontiguousarray(data), tuple(sizes), names, path)


def as_tczyx(data: np.ndarray, dims: str) -> np.ndarray:
    """Reorder/expand ``data`` with axes named by ``dims`` (a subset of TCZYX) to TCZYX."""
    if not isinstance(dims, str):
        raise ValueError(f"dims={dims!r}: give the axes of the array as a string of TCZYX "
                         "letters, e.g. 'YX' or 'CZYX'.")
    dims = dims.upper()
    if len(dims) != data.ndim or set(dims) - set(DIMS) or len(set(dims)) != len(dims):
        raise ValueError(
            f"dims={dims!r} does not describe an array of shape {data.shape}: give one letter of "
            "TCZYX per axis, each at most once."
        )
    order = [d for d in DIMS if d in dims]
    out = np.transpose(data, [dims.index(d) for d in order])
    for i, d in enumerate(DIMS):
        if d not in dims:
            out = np.expand_dims(out, i)
    return out


#: A temporary file of an atomic write older than this (seconds) was left by a killed write.
STALE_SECONDS = 600


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files (``.NAME.*`` beside ``path``) that atomic writes to ``path``
    left behind when they were killed, if older than :data:`STALE_SECONDS`; return them.

    Only files with the prefix these writers use for ``path`` are touched, so nothing else in
    the folder is ever removed; a write still running elsewhere (younger) keeps its file.
    """
    path = Path(path)
    now = time.time()
    removed = []
    if path.parent.is_dir():
        for tmp in path.parent.glob(f".{glob.escape(path.name)}.*"):
            try:
                if tmp.is_file() and now - tmp.stat().st_mtime > STALE_SECONDS:
                    tmp.unlink()
                    removed.append(tmp)
            except FileNotFoundError:
                continue
    return removed


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file renamed into place), creating the
    folder; a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def write_bytes(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file atomically through ``write(binary_file)`` (a temporary file renamed into
    place, removed if ``write`` fails), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _storable(data: np.ndarray, path: Path) -> np.ndarray:
    """OME-TIFF has no 64-bit integer pixel type: label images from scikit-image (int64) are
    stored as unsigned 32-bit integers when their values fit, losslessly; otherwise it is an
    error. A boolean mask is stored as uint8 0/1 and float16 as float32; other types the format
    cannot hold, and an empty array, are errors that name the file."""
    if data.size == 0:
        raise ImageWriteError(
            f"{path}: the image has no pixels (shape {data.shape} in TCZYX order); every axis "
            "needs a size of at least 1.")
    if data.dtype == bool:
        return data.astype(np.uint8)
    if data.dtype == np.float16:  # no half-float pixel type in OME; float32 holds it exactly
        return data.astype(np.float32)
    if data.dtype.kind not in "iuf":
        raise ImageWriteError(
            f"{path}: cannot store {data.dtype} pixels in OME-TIFF; convert to an integer or "
            "float type first (e.g. data.astype(np.float32)).")
    if data.dtype.kind not in "iu" or data.dtype.itemsize < 8:
        return data
    low, high = data.min(), data.max()
    if low < 0 or high > np.iinfo(np.uint32).max:
        raise ImageWriteError(
            f"{path}: {data.dtype} values from {low} to {high} do not fit the unsigned 32-bit "
            "integers 64-bit label images are stored as; relabel (e.g. "
            "skimage.segmentation.relabel_sequential), or convert signed values that fit "
            "yourself (data.astype(np.int32))."
        )
    return data.astype(np.uint32)


def _pixel_size_ok(size) -> bool:
    """``None``, or a finite number >= 0 (0: unknown, as ``None``)."""
    if size is None:
        return True
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        return False
    try:
        return math.isfinite(float(size)) and size >= 0
    except OverflowError:  # an int too large for a float
        return False


def _check_metadata(path: Path, channels: int, pixel_sizes, channel_names) -> None:
    """Refuse pixel sizes and channel names OME-XML cannot hold, naming the file."""
    if not isinstance(pixel_sizes, (tuple, list)) or len(pixel_sizes) != 3 or not all(
            _pixel_size_ok(s) for s in pixel_sizes):
        raise ImageWriteError(
            f"{path}: pixel_sizes={pixel_sizes!r}: give three sizes (Z, Y, X) in micrometres, "
            "each a positive number or None where unknown.")
    if channel_names is None:
        return
    if (not isinstance(channel_names, (list, tuple)) or len(channel_names) != channels
            or not all(isinstance(n, str) for n in channel_names)):
        raise ImageWriteError(
            f"{path}: channel_names={channel_names!r}: give one name (a string) per channel, "
            f"{channels} here, or leave it out.")
    bad = [n for n in channel_names if not all(
        " " <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd" or ch >= "\U00010000" for ch in n)]
    if bad:
        raise ImageWriteError(
            f"{path}: channel name {bad[0]!r} holds control characters (tab, new line, ...) "
            "that OME-XML cannot store as they are; remove them.")


def write_ome_tiff(
    path: str | os.PathLike,
    data: np.ndarray,
    dims: str = DIMS,
    pixel_sizes: tuple[float | None, float | None, float | None] = (None, None, None),
    channel_names: list[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``data`` as OME-TIFF, atomically (a temporary file renamed into place).

    Parameters
    ----------
    path : path-like
        Target file, normally ending in ``.ome.tif`` or ``.ome.tiff``.
    data : numpy.ndarray
        The pixels, axes named by ``dims``.
    dims : str
        Axis names of ``data``, a subset of ``TCZYX`` in any order.
    pixel_sizes : tuple
        Physical pixel sizes ``(Z, Y, X)`` in micrometres; ``None`` (or 0) where unknown.
    channel_names : list of str, optional
        One name per channel.
    overwrite : bool
        Replace an existing file. By default an existing file is an error.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    ImageWriteError
        If the folder is missing, or the pixels (empty, of a type or range OME-TIFF cannot
        hold), ``pixel_sizes`` or ``channel_names`` cannot be stored.
    ValueError
        If ``dims`` does not describe ``data``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path}: already exists and was left untouched. Choose another name or pass "
            "overwrite=True to replace it."
        )
    if not path.parent.is_dir():
        raise ImageWriteError(f"{path}: folder {path.parent} does not exist; create it first.")
    full = _storable(as_tczyx(np.asarray(data), dims), path)
    _check_metadata(path, full.shape[1], pixel_sizes, channel_names)
    _, _, writer, pps_cls = _backend()
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".ome.tiff", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # the writer refuses to write over an existing file
    try:
        writer.save(
            full,
            tmp,
            dim_order=DIMS,
            channel_names=channel_names,
            physical_pixel_sizes=pps_cls(*pixel_sizes),
        )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
