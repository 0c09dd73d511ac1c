"""What a tutorial imports to get data: ``load`` pairs, ``split`` them, sample ``patches``.

The work is done in :mod:`~im2im_helpers.pairs`, :mod:`~im2im_helpers.splits`,
:mod:`~im2im_helpers.patches` and :mod:`~im2im_helpers.samples`; this module ties them together
so that a run's data can be described by (and rebuilt from) a small dictionary.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from im2im_helpers import registry
from im2im_helpers.pairs import (
    Pair,
    PairError,
    Pairs,
    halves,
    load_folder,
    normalize,
    percentile_normalize,
    with_transform,
    write_folder,
)
from im2im_helpers.patches import PatchDataModule
from im2im_helpers.registry import cache_dir
from im2im_helpers.samples import SAMPLES
from im2im_helpers.splits import Split, SplitError, make_split

__all__ = [
    "Pair", "PairError", "Pairs", "PatchDataModule", "Split", "SplitError", "apply_transforms",
    "cache_dir", "foreground", "halves", "load", "masks_to_images", "patches",
    "percentile_normalize", "split", "synthetic_images", "three_class", "write_folder",
]


def load(
    source: str | os.PathLike,
    normalize_percentiles: Sequence[float] | None = (1.0, 99.8),
    normalize_target: bool = True,
    dims: int | None = None,
    options: dict | None = None,
) -> Pairs:
    """Load input/ground-truth pairs by sample name, registry name or from a folder.

    Parameters
    ----------
    source : str or path-like
        An offline sample name (``"ndev-labelfree"``), a registry dataset
        (``"labelfree-2d-timelapse"``: downloaded and organised on first use) or a folder of
        ``X_IM``/``X_GT`` files (or ``IM/``, ``GT/`` sub-folders).
    normalize_percentiles : (low, high) or None
        Percentile normalisation per image and channel; ``None`` keeps raw values.
    normalize_target : bool
        Normalise targets too (regression); set ``False`` for label images.
    dims : int, optional
        2 or 3; by default from the first image.
    options : dict, optional
        Organiser options of a registry dataset (e.g. ``{"target": "dapi"}`` for DeepLIIF).
    """
    if str(source) in SAMPLES:
        pairs = SAMPLES[str(source)]()
    elif Path(source).is_dir():
        pairs = load_folder(source, dims)
    elif (registry.registry_dir() / f"{source}.yaml").is_file():
        pairs = load_registered(str(source), dims, **(options or {}))
    else:
        raise FileNotFoundError(
            f"{source}: neither a folder of pairs, a known sample set ({sorted(SAMPLES)}) nor "
            f"a registry dataset (see `python -m im2im_helpers data list`)."
        )
    if dims is not None and any(p.dims != dims for p in pairs):
        raise PairError(f"{source}: expected {dims}D pairs, found {pairs[0].dims}D.")
    if normalize_percentiles is not None:
        low, high = normalize_percentiles
        pairs = normalize(pairs, low, high, target=normalize_target)
    return pairs


def load_registered(name: str, dims: int | None = None, **options) -> Pairs:
    """Pairs of a registry dataset (fetched and organised on first use). With the source's own
    split, names are ``train/...`` and ``test/...``."""
    entry = registry.get(name)
    folder = registry.prepare(entry, **options)
    parts = [p for p in ("train", "test") if (folder / p).is_dir()]
    pairs = Pairs(config={"source": {"registry": name, "options": options},
                          "split_policy": asdict(entry.split)})
    for part in parts or [""]:
        for pair in load_folder(folder / part, dims or entry.dims):
            pairs.append(replace(pair, name=f"{part}/{pair.name}" if part else pair.name))
    return pairs


def default_split_path(pairs: Pairs, seed: int) -> Path:
    """Where a split is written when no path is given: beside a folder, else in the cache."""
    source = pairs.config.get("source", {})
    if "folder" in source:
        return Path(source["folder"]) / f"split-seed{seed}.json"
    name = source.get("sample") or source.get("registry") or "pairs"
    return cache_dir() / "splits" / f"{name}-seed{seed}.json"


def split(
    pairs: Pairs,
    test: float | list[str] | None = None,
    val: float | list[str] | None = None,
    seed: int = 0,
    shuffle: bool = True,
    path: str | os.PathLike | None = None,
) -> Split:
    """Seeded train/val/test split, written to ``path`` and reused from it (see
    :func:`im2im_helpers.splits.make_split`).

    ``test``/``val`` are fractions, counts or lists of pair names; they default to a registry
    dataset's split policy (the paper's), else 0.2/0.1.
    A dataset with its own split (names ``test/...``) keeps it: ``test`` is then ignored.
    """
    policy = pairs.config.get("split_policy", {})
    val = val if val is not None else policy.get("val", 0.1)
    path = path or default_split_path(pairs, seed)
    if policy.get("keep_source_split"):
        fixed = [n for n in pairs.names if n.startswith("test/")]
        return make_split(pairs, path, len(fixed), val, seed, shuffle, fixed_test=fixed)
    test = test if test is not None else policy.get("test", 0.2)
    return make_split(pairs, path, test, val, seed, shuffle)


def patches(
    split: Split,
    patch: Sequence[int] = (128, 128),
    batch: int = 8,
    samples_per_image: int = 16,
    augment: str = "flips",
    num_workers: int = 0,
    seed: int = 0,
    unpaired: bool = False,
) -> PatchDataModule:
    """A Lightning DataModule of random training patches (see :class:`PatchDataModule`);
    ``unpaired=True`` draws inputs and targets independently (for CycleGAN)."""
    return PatchDataModule(split, patch, batch, samples_per_image, augment, num_workers, seed,
                           unpaired)


def _with_targets(pairs: Pairs, make, what: dict) -> Pairs:
    """``pairs`` with every target replaced by ``make(target)`` (float32), noted in the config."""
    return Pairs([replace(p, target=np.asarray(make(p.target), dtype=np.float32)) for p in pairs],
                 with_transform({**pairs.config, "targets": what}, what), pairs.simulated)


def foreground(pairs: Pairs) -> Pairs:
    """Semantic-segmentation pairs from instance pairs: every target becomes ``label > 0``
    (1 = object, 0 = background), so the objects of a label image become one class."""
    return _with_targets(pairs, lambda y: y > 0, {"kind": "foreground"})


def masks_to_images(pairs: Pairs) -> Pairs:
    """Pairs for synthesising images from masks: the foreground of each label image
    (``label > 0``, 1 = object) becomes the input and the image the target (as normalised when
    loaded: load with ``normalize_target=False`` so the labels stay integers)."""
    items = [replace(p, input=(p.target > 0).astype(np.float32),
                     target=np.asarray(p.input, np.float32)) for p in pairs]
    return Pairs(items, with_transform(pairs.config, {"kind": "masks_to_images"}),
                 pairs.simulated)


def synthetic_images(pairs: Pairs, generate: Callable[[np.ndarray], np.ndarray],
                     how: Mapping) -> Pairs:
    """Segmentation pairs with *synthetic* images: for every ``mask -> image`` pair (as made by
    :func:`masks_to_images`) the input becomes ``generate(mask)`` and the target the mask, to
    train a segmentation model on generated images. Marked ``simulated``, with ``how`` (which
    generator) recorded; write them with :func:`write_folder` so that a run can be repeated."""
    items = [replace(p, input=np.asarray(generate(p.input), np.float32),
                     target=np.asarray(p.input, np.float32)) for p in pairs]
    return Pairs(items, {"source": {"simulated": {"kind": "synthetic_images", **how}}},
                 simulated=True)


def check_transform(step: Mapping) -> None:
    """Raise ``ValueError`` unless ``step`` is a known pair transform with options it takes."""
    kind = step.get("kind") if isinstance(step, Mapping) else None
    if kind not in TRANSFORMS:
        raise ValueError(f"data.transforms: unknown transform {step!r}; known kinds are "
                         f"{sorted(TRANSFORMS)}.")
    allowed = set(list(inspect.signature(TRANSFORMS[kind]).parameters)[1:])
    unknown = set(step) - {"kind"} - allowed
    if unknown:
        raise ValueError(f"data.transforms: {kind!r} has no option {sorted(unknown)}; its options "
                         f"are {sorted(allowed)}.")


def apply_transforms(pairs: Pairs, steps: Sequence[Mapping]) -> Pairs:
    """Redo recorded pair transforms (``pairs.config["transforms"]``, saved in a run's
    ``config.yaml`` as ``data.transforms``): ``{"kind": "halves"}``, ``{"kind": "foreground"}``,
    ``{"kind": "three_class", "boundary_width": 1}``, ``{"kind": "masks_to_images"}``, in order."""
    for step in steps:
        check_transform(step)
        pairs = TRANSFORMS[step["kind"]](pairs, **{k: v for k, v in step.items() if k != "kind"})
    return pairs


def three_class(pairs: Pairs, boundary_width: int = 1) -> Pairs:
    """Targets of a 3-class network (0 background, 1 interior, 2 boundary) from label images
    (see :func:`im2im_helpers.watershed.three_class_targets`)."""
    from im2im_helpers.watershed import three_class_targets

    return _with_targets(pairs, lambda y: three_class_targets(y, boundary_width),
                         {"kind": "three_class", "boundary_width": boundary_width})


#: Pair transforms that :func:`apply_transforms` can redo, by the ``kind`` they record.
TRANSFORMS = {"halves": halves, "foreground": foreground, "three_class": three_class,
              "masks_to_images": masks_to_images}
