"""The annotation store: every mask a person (or the simulated annotator, or a baseline) gives a
crop, kept on disk as a new version that never replaces an earlier one.

Layout inside the store's folder::

    <crop-id>/v0001.ome.tiff     the first mask of the crop (label image, 0 = background)
    <crop-id>/v0002.ome.tiff     a correction of it
    index.json                   every version: file, source, round, pixels, SHA-256, time

Files are written atomically (:mod:`im2im_helpers.io`) and an existing version is never written
over; the index is written after its file, so a version in the index always has its file.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from im2im_helpers import io
from im2im_helpers.active.pool import safe_name

#: The index file inside a store's folder.
INDEX = "index.json"


class MaskShapeError(ValueError):
    """A mask does not have the shape of the crop it annotates."""


@dataclass(frozen=True)
class Version:
    """One saved mask of one crop.

    Attributes
    ----------
    crop : str
        The crop id.
    version : int
        1 for the first mask, then 2, 3, ...
    file : str
        The OME-TIFF, relative to the store's folder.
    source : str
        Who made it: ``"person"``, ``"simulated"``, ``"pseudo:<baseline>"``, ...
    round : int or None
        The loop round it belongs to: the first round that trains on it.
    foreground : int
        Number of foreground pixels.
    objects : int
        Number of distinct labels other than 0.
    sha256 : str
        Of the mask's pixels (uint32, C order).
    time : str
        When it was saved (UTC, ISO 8601).
    """

    crop: str
    version: int
    file: str
    source: str
    round: int | None
    foreground: int
    objects: int
    sha256: str
    time: str


def mask_digest(labels: np.ndarray) -> str:
    """SHA-256 of a label image as uint32 pixels (what the store records)."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.uint32).tobytes()).hexdigest()


def as_labels(mask: np.ndarray, crop: str) -> np.ndarray:
    """``mask`` as a 2D uint32 label image (a leading axis of size 1 is dropped; booleans and
    0/1 floats become labels 0/1).

    Raises
    ------
    ValueError
        If it is not 2D, or holds negative, non-whole or non-finite values.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise MaskShapeError(f"crop {crop}: a mask of shape {mask.shape}; give one 2D (Y, X) "
                             "label image (0 = background).")
    if mask.dtype == bool:
        return mask.astype(np.uint32)
    if not np.all(np.isfinite(mask)) or np.any(mask < 0) or np.any(mask != np.round(mask)):
        raise ValueError(f"crop {crop}: the mask holds negative, fractional or non-finite "
                         "values; give labels 0, 1, 2, ... (0 = background), e.g. "
                         "(probability > 0.5).astype(np.uint8).")
    return mask.astype(np.uint32)


class AnnotationStore:
    """Versioned masks of crops in a folder (see the module's description).

    Parameters
    ----------
    root : path-like
        The folder (created when the first mask is saved).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @property
    def index_path(self) -> Path:
        """The JSON index of every version."""
        return self.root / INDEX

    def index(self) -> dict[str, list[Version]]:
        """Every crop's versions, oldest first (empty when nothing was saved yet)."""
        if not self.index_path.is_file():
            return {}
        try:
            record = json.loads(self.index_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.index_path}: not valid JSON ({err}). Every mask file is "
                             "still in its crop's folder; restore the index from a backup or "
                             "move the folder aside and start a new store.") from err
        return {crop: [Version(**v) for v in versions] for crop, versions in record.items()}

    def crops(self, source: str | None = None) -> list[str]:
        """Crop ids with at least one version (with ``source``: whose latest version has a
        source starting with it, e.g. ``"pseudo"``)."""
        return [c for c, vs in self.index().items()
                if source is None or vs[-1].source.startswith(source)]

    def versions(self, crop: str) -> list[Version]:
        """The versions of ``crop``, oldest first (empty if it has none)."""
        return self.index().get(crop, [])

    def latest(self, crop: str) -> Version:
        """The newest version of ``crop``.

        Raises
        ------
        KeyError
            If the crop has no annotation.
        """
        versions = self.versions(crop)
        if not versions:
            raise KeyError(f"crop {crop}: has no annotation in {self.root}; save one first.")
        return versions[-1]

    def read(self, crop: str, version: int | None = None) -> np.ndarray:
        """The ``(Y, X)`` uint32 label image of ``crop``'s ``version`` (default the newest)."""
        versions = self.versions(crop)
        chosen = versions[-1] if version is None and versions else next(
            (v for v in versions if v.version == version), None)
        if chosen is None:
            raise KeyError(f"crop {crop}: no version {version} in {self.root} (it has "
                           f"{[v.version for v in versions]}).")
        return io.read(self.root / chosen.file).data[0, 0, 0].astype(np.uint32)

    def save(self, crop: str, mask: np.ndarray, shape: tuple[int, ...] | None = None,
             source: str = "person", round: int | None = None) -> Version:
        """Save ``mask`` as the next version of ``crop``; earlier versions stay untouched.

        Parameters
        ----------
        crop : str
            The crop id.
        mask : numpy.ndarray
            ``(Y, X)`` (or ``(1, Y, X)``) label image, 0 = background; booleans allowed.
        shape : tuple of int, optional
            The crop's image shape (``(C, Y, X)`` or ``(Y, X)``): the mask must have its
            ``(Y, X)``.
        source : str
            Who made the mask (``"person"``, ``"simulated"``, ``"pseudo:otsu"``, ...).
        round : int, optional
            The loop round.

        Returns
        -------
        Version

        Raises
        ------
        MaskShapeError
            If the mask's shape differs from the image's.
        FileExistsError
            If the next version's file exists without being in the index (left by another
            writer): nothing is written over.
        """
        labels = as_labels(mask, crop)
        if shape is not None and tuple(shape[-2:]) != labels.shape:
            raise MaskShapeError(
                f"crop {crop}: the mask is {labels.shape} (Y, X) but its image is "
                f"{tuple(shape[-2:])}; nothing was saved. Draw the mask on this crop's image (or "
                "crop/pad it to the image's Y and X) and save it again.")
        index = self.index()
        versions = index.get(crop, [])
        number = versions[-1].version + 1 if versions else 1
        relative = f"{safe_name(crop)}/v{number:04d}.ome.tiff"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        io.write_ome_tiff(target, labels, "YX", overwrite=False)
        version = Version(
            crop=crop, version=number, file=relative, source=str(source),
            round=None if round is None else int(round),
            foreground=int(np.count_nonzero(labels)),
            objects=int(len(np.unique(labels[labels > 0]))), sha256=mask_digest(labels),
            time=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        index[crop] = [*versions, version]
        io.write_text(self.index_path, json.dumps(
            {c: [asdict(v) for v in vs] for c, vs in index.items()}, indent=1) + "\n")
        return version
