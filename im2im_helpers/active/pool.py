"""The pool of crops an active-learning loop chooses from: square windows on a grid over the
unlabelled images, each with a stable id, written to ``pool.json`` so a loop is reproducible and
resumable (the crops are definitions: image name and position; the pixels stay in the images)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from im2im_helpers import io

#: The file name of a pool's definition inside a loop folder.
POOL_FILE = "pool.json"


class PoolError(ValueError):
    """A pool definition does not fit the images it is used with (see the message)."""


@dataclass(frozen=True)
class Crop:
    """One square window of one pool image.

    Attributes
    ----------
    id : str
        Stable identifier, ``<image>-y<Y>-x<X>`` (safe as a folder name).
    image : str
        Name of the image it is cut from (a pair name).
    y, x : int
        Top-left corner in pixels.
    size : int
        Side length in pixels.
    """

    id: str
    image: str
    y: int
    x: int
    size: int

    @property
    def window(self) -> tuple[slice, slice]:
        """The ``(Y, X)`` slices of the crop in its image."""
        return slice(self.y, self.y + self.size), slice(self.x, self.x + self.size)

    def cut(self, array: np.ndarray) -> np.ndarray:
        """The crop of ``array`` (``(..., Y, X)``: any leading axes are kept)."""
        array = np.asarray(array)
        out = array[(..., *self.window)]
        if out.shape[-2:] != (self.size, self.size):
            raise PoolError(f"crop {self.id}: reaches outside an image of shape "
                            f"{array.shape[-2:]} (Y, X); build the pool from these images.")
        return out


def safe_name(name: str) -> str:
    """``name`` with every character other than letters, digits, ``.``, ``_`` and ``-``
    replaced by ``_`` (pair names such as ``train/img1`` become folder names)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name))


def starts(length: int, size: int, stride: int) -> list[int]:
    """Corner positions of windows of ``size`` every ``stride`` pixels along an axis of
    ``length``; the last window is moved to end at the edge so the axis is covered."""
    if size > length:
        return []
    found = list(range(0, length - size + 1, stride))
    if found[-1] != length - size:
        found.append(length - size)
    return found


def grid_crops(shapes: Mapping[str, tuple[int, ...]], size: int,
               stride: int | None = None) -> list[Crop]:
    """Crops of ``size`` x ``size`` on a grid over every image.

    Parameters
    ----------
    shapes : mapping
        Image name -> its shape (the last two axes are Y and X).
    size : int
        Side of a crop in pixels.
    stride : int, optional
        Distance between crop corners (default ``size``: crops that touch without overlap).

    Returns
    -------
    list of Crop
        In image order, row by row. An image smaller than ``size`` contributes none.

    Raises
    ------
    PoolError
        If no crop fits any image, or two image names become the same safe name.
    """
    size, stride = int(size), int(stride or size)
    if size < 1 or stride < 1:
        raise PoolError(f"size={size}, stride={stride}: both must be at least 1 pixel.")
    seen: dict[str, str] = {}
    crops = []
    for name, shape in shapes.items():
        safe = safe_name(name)
        if seen.setdefault(safe, name) != name:
            raise PoolError(f"images {seen[safe]!r} and {name!r} both become {safe!r} as crop "
                            "ids; rename one of them.")
        height, width = shape[-2:]
        for y in starts(height, size, stride):
            for x in starts(width, size, stride):
                crops.append(Crop(f"{safe}-y{y:05d}-x{x:05d}", str(name), y, x, size))
    if not crops:
        raise PoolError(f"no {size} x {size} crop fits the images {dict(shapes)}; choose a "
                        "smaller crop size.")
    return crops


def digest(array: np.ndarray) -> str:
    """A short SHA-256 of an array's shape, type and pixels (to recognise the same image)."""
    array = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{array.shape}{array.dtype}".encode())
    h.update(array.tobytes())
    return h.hexdigest()[:16]


@dataclass
class Pool:
    """The images of a loop and the crops cut from them.

    Attributes
    ----------
    images : dict
        Image name -> ``(C, Y, X)`` float32 input (normalised as for training).
    crops : list of Crop
        Every crop the loop may choose.
    """

    images: dict[str, np.ndarray]
    crops: list[Crop]

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.crops}
        if len(self.by_id) != len(self.crops):
            raise PoolError("crop ids repeat; every crop needs its own id.")
        for crop in self.crops:
            if crop.image not in self.images:
                raise PoolError(f"crop {crop.id} belongs to image {crop.image!r}, which is not "
                                f"among the images {sorted(self.images)}.")
            crop.cut(self.images[crop.image])

    @classmethod
    def from_images(cls, images: Mapping[str, np.ndarray], size: int,
                    stride: int | None = None) -> Pool:
        """A pool of :func:`grid_crops` over ``images`` (name -> ``(C, Y, X)``)."""
        images = {str(k): np.asarray(v, dtype=np.float32) for k, v in images.items()}
        if not images:
            raise PoolError("no images given: a pool needs at least one 2D image as (C, Y, X) "
                            "(a mapping name -> array); load them first, e.g. "
                            "{p.name: p.input for p in data.load(folder)}.")
        channels: dict[int, str] = {}
        for name, x in images.items():
            if x.ndim != 3:
                raise PoolError(f"image {name!r} has shape {x.shape}; a pool takes 2D images "
                                "as (C, Y, X).")
            if not np.isfinite(x).all():
                raise PoolError(f"image {name!r}: holds NaN or infinite values; replace them "
                                "(e.g. numpy.nan_to_num) before making a pool.")
            channels.setdefault(x.shape[0], name)
            if len(channels) > 1:
                first = next(c for c in channels if c != x.shape[0])
                raise PoolError(f"image {channels[first]!r} has {first} channel(s) but {name!r} "
                                f"has {x.shape[0]}: every image of a pool needs the same "
                                "channels. Select or add channels so they match (e.g. x[:1]).")
        return cls(images, grid_crops({k: v.shape for k, v in images.items()}, size, stride))

    @property
    def ids(self) -> list[str]:
        """Every crop id, in pool order."""
        return [c.id for c in self.crops]

    def input(self, crop_id: str) -> np.ndarray:
        """The ``(C, size, size)`` input of a crop."""
        crop = self.crop(crop_id)
        return crop.cut(self.images[crop.image])

    def crop(self, crop_id: str) -> Crop:
        """The crop called ``crop_id``."""
        try:
            return self.by_id[crop_id]
        except KeyError:
            raise PoolError(f"no crop {crop_id!r} in this pool of {len(self.crops)} crops "
                            f"(e.g. {self.ids[:3]}).") from None

    def to_dict(self) -> dict:
        """The pool as JSON-ready values: crops and a digest per image."""
        return {"images": {k: {"shape": list(v.shape), "digest": digest(v)}
                           for k, v in self.images.items()},
                "crops": [asdict(c) for c in self.crops]}

    def write(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON, atomically."""
        return io.write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def read(cls, path: str | os.PathLike, images: Mapping[str, np.ndarray]) -> Pool:
        """The pool written at ``path``, over ``images`` (which must be the same images).

        Raises
        ------
        PoolError
            If an image is missing or differs (shape or pixels) from the one the pool was made
            of.
        """
        path = Path(path)
        record = json.loads(path.read_text(encoding="utf-8"))
        images = {str(k): np.asarray(v, dtype=np.float32) for k, v in images.items()}
        for name, saved in record["images"].items():
            if name not in images:
                raise PoolError(f"{path}: the pool was made with image {name!r}, which is not "
                                "among the images given; pass the same images.")
            if [*images[name].shape] != saved["shape"] or digest(images[name]) != saved["digest"]:
                raise PoolError(
                    f"{path}: image {name!r} differs from the one the pool was made of (shape "
                    f"{tuple(saved['shape'])} then, {images[name].shape} now, or other pixels). "
                    "Pass the same images (normalised the same way), or start a new loop folder.")
        return cls({k: images[k] for k in record["images"]},
                   [Crop(**c) for c in record["crops"]])


def overlap(a: Crop, b: Crop) -> float:
    """The fraction of ``a``'s pixels that ``b`` covers too (0 for crops of different
    images)."""
    if a.image != b.image:
        return 0.0
    dy = max(0, min(a.y + a.size, b.y + b.size) - max(a.y, b.y))
    dx = max(0, min(a.x + a.size, b.x + b.size) - max(a.x, b.x))
    return dy * dx / float(a.size * a.size)


def unannotated(pool: Pool, annotated: Iterable[str]) -> list[str]:
    """The pool's crop ids not in ``annotated``, in pool order."""
    done = set(annotated)
    return [i for i in pool.ids if i not in done]
