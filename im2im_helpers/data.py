"""What a tutorial imports to get data: ``load`` pairs, ``split`` them, sample ``patches``.

The work is done in :mod:`~im2im_helpers.pairs`, :mod:`~im2im_helpers.splits`,
:mod:`~im2im_helpers.patches` and :mod:`~im2im_helpers.samples`; this module ties them together
so that a run's data can be described by (and rebuilt from) a small dictionary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from im2im_helpers.pairs import Pair, PairError, Pairs, load_folder, normalize, percentile_normalize
from im2im_helpers.patches import PatchDataModule
from im2im_helpers.samples import SAMPLES
from im2im_helpers.splits import Split, SplitError, make_split

__all__ = [
    "Pair", "PairError", "Pairs", "PatchDataModule", "Split", "SplitError", "cache_dir", "load",
    "patches", "percentile_normalize", "split",
]


def cache_dir() -> Path:
    """Folder for downloaded data and default split files: ``$IM2IM_DATA`` or the OS cache."""
    env = os.environ.get("IM2IM_DATA")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("im2im"))


def load(
    source: str | os.PathLike,
    normalize_percentiles: Sequence[float] | None = (1.0, 99.8),
    normalize_target: bool = True,
    dims: int | None = None,
) -> Pairs:
    """Load input/ground-truth pairs by sample name or from a folder.

    Parameters
    ----------
    source : str or path-like
        An offline sample name (``"ndev-labelfree"``) or a folder of ``X_IM``/``X_GT`` files
        (or ``IM/``, ``GT/`` sub-folders).
    normalize_percentiles : (low, high) or None
        Percentile normalisation per image and channel; ``None`` keeps raw values.
    normalize_target : bool
        Normalise targets too (regression); set ``False`` for label images.
    dims : int, optional
        2 or 3; by default from the first image.
    """
    if str(source) in SAMPLES:
        pairs = SAMPLES[str(source)]()
    elif Path(source).is_dir():
        pairs = load_folder(source, dims)
    else:
        raise FileNotFoundError(
            f"{source}: neither a folder of pairs nor a known sample set. Known samples: "
            f"{sorted(SAMPLES)}."
        )
    if dims is not None and any(p.dims != dims for p in pairs):
        raise PairError(f"{source}: expected {dims}D pairs, found {pairs[0].dims}D.")
    if normalize_percentiles is not None:
        low, high = normalize_percentiles
        pairs = normalize(pairs, low, high, target=normalize_target)
    return pairs


def default_split_path(pairs: Pairs, seed: int) -> Path:
    """Where a split is written when no path is given: beside a folder, else in the cache."""
    source = pairs.config.get("source", {})
    if "folder" in source:
        return Path(source["folder"]) / f"split-seed{seed}.json"
    return cache_dir() / "splits" / f"{source.get('sample', 'pairs')}-seed{seed}.json"


def split(
    pairs: Pairs,
    test: float = 0.2,
    val: float = 0.1,
    seed: int = 0,
    shuffle: bool = True,
    path: str | os.PathLike | None = None,
) -> Split:
    """Seeded train/val/test split, written to ``path`` and reused from it (see
    :func:`im2im_helpers.splits.make_split`)."""
    return make_split(pairs, path or default_split_path(pairs, seed), test, val, seed, shuffle)


def patches(
    split: Split,
    patch: Sequence[int] = (128, 128),
    batch: int = 8,
    samples_per_image: int = 16,
    augment: str = "flips",
    num_workers: int = 0,
    seed: int = 0,
) -> PatchDataModule:
    """A Lightning DataModule of random training patches (see :class:`PatchDataModule`)."""
    return PatchDataModule(split, patch, batch, samples_per_image, augment, num_workers, seed)
