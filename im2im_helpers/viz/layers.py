"""Our image outputs as napari layers.

napari opens a file through reader plugins that return "layer data tuples" —
``(data, keyword arguments, layer type)`` — and ``viewer.add_image``/``viewer.add_labels`` take
the same keyword arguments. :func:`napari_layers` turns an OME-TIFF written by a tutorial or by
``python -m im2im_helpers predict`` into such tuples: one per channel, with the physical pixel
size as the layer's ``scale`` (so images of different resolution overlay correctly and
measurements are in µm), the channel's name, and the right layer kind (integer masks and label
images as ``labels``, intensities and uncertainty maps as ``image``). napari itself is not needed
to make them; in a session with napari::

    import napari
    from im2im_helpers import viz

    viewer = napari.Viewer()
    for data, kwargs, kind in viz.napari_layers("runs/04_semantic_segmentation/predictions/"
                                                "stardist-right_mask.ome.tiff"):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from im2im_helpers import io

#: Layer kinds :func:`napari_layers` returns.
KINDS = ("image", "labels")


def layer_kind(data: np.ndarray) -> str:
    """``"labels"`` for integer or boolean pixels (masks, label images), else ``"image"``."""
    return "labels" if data.dtype == bool or np.issubdtype(data.dtype, np.integer) else "image"


def napari_layers(path: str | os.PathLike,
                  name: str | None = None) -> list[tuple[np.ndarray, dict, str]]:
    """napari layer data tuples ``(data, kwargs, kind)`` for the image file ``path``.

    Parameters
    ----------
    path : path-like
        An image file :func:`im2im_helpers.io.read` understands (our outputs are OME-TIFF).
    name : str, optional
        Layer name (default: the file name without ``.ome.tiff``); with several channels each
        layer is ``"NAME [CHANNEL]"``.

    Returns
    -------
    list of tuple
        One ``(data, kwargs, kind)`` per channel: ``data`` as ``(T, Z, Y, X)`` with the axes of
        size 1 left out (``(Y, X)`` for a 2D image), ``kwargs`` with ``name``, ``scale`` (µm per
        pixel of each axis of ``data``; 1 where the file has no size, and for time) and
        ``metadata`` (the source ``path`` and channel), ``kind`` ``"image"`` or ``"labels"``
        (:func:`layer_kind`).

    Raises
    ------
    FileNotFoundError, im2im_helpers.io.ImageReadError
        When ``path`` is missing or not an image (the message names the file).
    """
    path = Path(path)
    image = io.read(path)
    stem = name or path.name.removesuffix(".ome.tiff").removesuffix(".ome.tif")
    sizes = [1.0] + [float(s) if s else 1.0 for s in image.pixel_sizes]  # T, Z, Y, X
    data = image.data  # T C Z Y X
    keep = [axis for axis, n in zip("TZYX", (data.shape[0], *data.shape[2:]))
            if n > 1 or axis in "YX"]
    scale = tuple(sizes["TZYX".index(axis)] for axis in keep)
    names = list(image.channel_names)
    if len(names) != data.shape[1]:
        names = [f"C{c}" for c in range(data.shape[1])]
    layers = []
    for c in range(data.shape[1]):
        channel = data[:, c]  # T Z Y X
        channel = channel.reshape([n for axis, n in zip("TZYX", channel.shape) if axis in keep])
        title = stem if data.shape[1] == 1 else f"{stem} [{names[c]}]"
        kwargs = {"name": title, "scale": scale,
                  "metadata": {"path": str(path), "channel": names[c], "axes": "".join(keep)}}
        kind = layer_kind(channel)
        if kind == "image" and data.shape[1] > 1:
            kwargs["blending"] = "additive"
        layers.append((channel, kwargs, kind))
    return layers
