"""Uncertainty maps on disk: OME-TIFF files next to the predictions they belong to
(``NAME.ome.tiff`` -> ``NAME_uncertainty.ome.tiff``), written atomically by
:func:`im2im_helpers.io.write_ome_tiff`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from im2im_helpers import io
from im2im_helpers.uncertainty.maps import UncertaintyMap

#: What :func:`beside` appends to a prediction's name.
SUFFIX = "_uncertainty"

_IMAGE_ENDINGS = (".ome.tiff", ".ome.tif", ".tiff", ".tif")


def beside(prediction: str | os.PathLike, suffix: str = SUFFIX) -> Path:
    """The uncertainty file that belongs to a prediction file: same folder, ``suffix`` added to
    the name, always ending in ``.ome.tiff``.

    Parameters
    ----------
    prediction : path-like
        The prediction file (``.ome.tiff``, ``.ome.tif``, ``.tiff`` or ``.tif``).
    suffix : str
        Appended to the name without its extension.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> beside("predictions/t08_denoised.ome.tiff").as_posix()
    'predictions/t08_denoised_uncertainty.ome.tiff'
    """
    prediction = Path(prediction)
    name = prediction.name
    for ending in _IMAGE_ENDINGS:
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    return prediction.with_name(f"{name}{suffix}.ome.tiff")


def save(
    result: UncertaintyMap | Sequence[UncertaintyMap],
    path: str | os.PathLike,
    pixel_sizes: tuple[float | None, float | None, float | None] = (None, None, None),
    overwrite: bool = False,
    channel_names: list[str] | None = None,
) -> Path:
    """Write the per-pixel uncertainty (``std``) of one image, or of several as time points,
    as OME-TIFF.

    Parameters
    ----------
    result : UncertaintyMap or sequence of UncertaintyMap
        One map (axes CYX or CZYX), or one per time point/frame of equal shape (stacked
        along T, like a prediction file of several test frames).
    path : path-like
        The file to write, normally ``beside(prediction_file)``.
    pixel_sizes : tuple
        Physical pixel sizes ``(Z, Y, X)`` in micrometres, those of the input image.
    overwrite : bool
        Replace an existing file; by default an existing file is an error.
    channel_names : list of str, optional
        One name per channel; by default ``"uncertainty (METHOD std)"``, numbered when there are
        several channels.

    Returns
    -------
    pathlib.Path
        The written file; :func:`im2im_helpers.io.read` reads it back as TCZYX.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    ValueError
        If the maps of a sequence differ in shape or method, or the sequence is empty.
    """
    path = Path(path)
    maps = [result] if isinstance(result, UncertaintyMap) else list(result)
    if not maps:
        raise ValueError(f"{path}: no uncertainty maps to save.")
    first = maps[0]
    for i, m in enumerate(maps[1:], 1):
        if m.std.shape != first.std.shape or m.method != first.method:
            raise ValueError(
                f"{path}: map {i} is {m.method} {m.std.shape}, map 0 is {first.method} "
                f"{first.std.shape}; frames saved in one file need one method and one shape.")
    channels = first.std.shape[0]
    if channel_names is None:
        label = f"uncertainty ({first.method} std)"
        channel_names = [label] if channels == 1 else [f"{label} {c}" for c in range(channels)]
    data = np.stack([m.std for m in maps]).astype(np.float32, copy=False)
    return io.write_ome_tiff(path, data, "T" + first.dims, pixel_sizes,
                             channel_names=channel_names, overwrite=overwrite)
