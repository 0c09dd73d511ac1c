"""Data: ``load`` pairs, ``split`` them, sample ``patches`` — what a tutorial imports.

The modules of this package:

- :mod:`~im2im_helpers.data.pairs` — input/target pairs from folders, checked; normalisation;
  writing pairs as files;
- :mod:`~im2im_helpers.data.splits` — seeded train/validation/test splits on disk;
- :mod:`~im2im_helpers.data.patches` — random 2D/3D training patches, a Lightning DataModule;
- :mod:`~im2im_helpers.data.transforms` — recorded pair transforms (foreground, 3-class, ...);
- :mod:`~im2im_helpers.data.samples` — real images that install offline;
- :mod:`~im2im_helpers.data.simulate` — simulated pairs, marked as such;
- :mod:`~im2im_helpers.data.registry` — the paper's datasets by name (download, organise);
- :mod:`~im2im_helpers.data.deform` — known deformations and consecutive frames (registration);
- :mod:`~im2im_helpers.data.timelapse` — clips of consecutive frames (time-lapse context).

Each function here takes its settings as a configuration dataclass (the section of a run's
``config.yaml`` that holds them) or as keyword overrides of its defaults.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from im2im_helpers.data import deform, registry, samples, simulate, timelapse, transforms
from im2im_helpers.data.pairs import (
    Pair,
    PairError,
    Pairs,
    check_dims,
    check_percentiles,
    halves,
    load_folder,
    normalize,
    percentile_normalize,
    write_folder,
)
from im2im_helpers.data.patches import PatchConfig, PatchDataModule
from im2im_helpers.data.registry import cache_dir
from im2im_helpers.data.samples import SAMPLES
from im2im_helpers.data.splits import (
    DEFAULT_TEST,
    DEFAULT_VAL,
    Split,
    SplitConfig,
    SplitError,
    check_split_config,
    make_split,
)
from im2im_helpers.data.transforms import (
    apply_transforms,
    check_transform,
    foreground,
    masks_to_images,
    synthetic_images,
    three_class,
)
from im2im_helpers.schema import with_overrides

__all__ = [
    "LoadConfig", "Pair", "PairError", "Pairs", "PatchConfig", "PatchDataModule", "Split",
    "SplitConfig", "SplitError", "apply_transforms", "cache_dir", "check_transform",
    "deform", "foreground", "halves", "load", "masks_to_images", "patches",
    "percentile_normalize", "registry", "samples", "simulate", "split", "synthetic_images",
    "three_class", "timelapse", "transforms", "write_folder",
]


@dataclass
class LoadConfig:
    """How pairs are read (the ``data.load`` section of a run's ``config.yaml``).

    Attributes
    ----------
    normalize_percentiles : (low, high) or None
        Percentile normalisation per image and channel; ``None`` keeps raw values.
    normalize_target : bool
        Normalise targets too (regression); ``False`` for label images.
    dims : int or None
        2 or 3; by default from the first image.
    options : dict
        Organiser options of a registry dataset (e.g. ``{"target": "dapi"}`` for DeepLIIF).
    """

    normalize_percentiles: list[float] | None = field(default_factory=lambda: [1.0, 99.8])
    normalize_target: bool = True
    dims: int | None = None
    options: dict = field(default_factory=dict)


def check_load_config(cfg: LoadConfig) -> None:
    """Raise :class:`PairError` or ``ValueError`` naming the setting (``data.load.*``) that
    cannot work."""
    check_dims(cfg.dims)
    low_high = cfg.normalize_percentiles
    if low_high is not None:
        if not isinstance(low_high, (list, tuple)) or len(low_high) != 2 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in low_high):
            raise ValueError(f"data.load.normalize_percentiles={low_high!r}: give two percentiles "
                             "[low, high], e.g. [1, 99.8], or null to keep the raw values.")
        check_percentiles(*low_high)
    if cfg.options is not None and not isinstance(cfg.options, dict):  # None: no options
        raise ValueError(f"data.load.options={cfg.options!r}: give the options of a registry "
                         "dataset as a mapping, e.g. {'target': 'dapi'}.")


def load(source: str | os.PathLike, config: LoadConfig | None = None, **overrides) -> Pairs:
    """Load input/ground-truth pairs by sample name, registry name or from a folder.

    Parameters
    ----------
    source : str or path-like
        An offline sample name (``"ndev-labelfree"``), a registry dataset
        (``"labelfree-2d-timelapse"``: downloaded and organised on first use) or a folder of
        ``X_IM``/``X_GT`` files (or ``IM/``, ``GT/`` sub-folders).
    config : LoadConfig, optional
        How to read them (defaults of :class:`LoadConfig`).
    **overrides
        Fields of :class:`LoadConfig` to change: ``normalize_percentiles=None``,
        ``normalize_target=False``, ``dims=3``, ``options={"target": "dapi"}``.
    """
    cfg = with_overrides(LoadConfig, config, overrides, "data.load")
    check_load_config(cfg)
    if str(source) in SAMPLES:
        pairs = SAMPLES[str(source)]()
    elif Path(source).is_dir():
        pairs = load_folder(source, cfg.dims)
    elif (registry.registry_dir() / f"{source}.yaml").is_file():
        pairs = load_registered(str(source), cfg.dims, **(cfg.options or {}))
    else:
        raise FileNotFoundError(
            f"{source}: neither a folder of pairs, a known sample set ({sorted(SAMPLES)}) nor "
            f"a registry dataset (see `python -m im2im_helpers data list`)."
        )
    if cfg.dims is not None and any(p.dims != cfg.dims for p in pairs):
        raise PairError(f"{source}: expected {cfg.dims}D pairs, found {pairs[0].dims}D.")
    if cfg.normalize_percentiles is not None:
        low, high = cfg.normalize_percentiles
        pairs = normalize(pairs, low, high, target=cfg.normalize_target)
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
    """Where a split is written when no path is given: beside a folder of pairs you can write
    to, else in the cache (a shared, read-only dataset stays untouched)."""
    source = pairs.config.get("source", {})
    if "folder" in source and os.access(source["folder"], os.W_OK | os.X_OK):
        return Path(source["folder"]) / f"split-seed{seed}.json"
    name = source.get("sample") or source.get("registry") or "pairs"
    if "folder" in source:  # one name per folder: its name and a short hash of its path
        digest = hashlib.sha256(source["folder"].encode()).hexdigest()[:8]
        name = f"{Path(source['folder']).name}-{digest}"
    return cache_dir() / "splits" / f"{name}-seed{seed}.json"


def split(pairs: Pairs, config: SplitConfig | None = None, **overrides) -> Split:
    """Seeded train/val/test split, written to a file and reused from it (see
    :func:`im2im_helpers.data.splits.make_split`).

    Parameters
    ----------
    pairs : Pairs
        What to divide.
    config : SplitConfig, optional
        How (defaults of :class:`SplitConfig`).
    **overrides
        Fields of :class:`SplitConfig` to change: ``test`` and ``val`` (fractions, counts or
        lists of pair names; by default a registry dataset's split policy, the paper's, else
        0.2/0.1), ``seed``, ``shuffle``, ``path`` (the split file).

    A dataset with its own split (names ``test/...``) keeps it: ``test`` is then ignored.
    """
    cfg = with_overrides(SplitConfig, config, overrides, "data.split")
    check_split_config(cfg)
    policy = pairs.config.get("split_policy", {})
    val = cfg.val if cfg.val is not None else policy.get("val", DEFAULT_VAL)
    path = cfg.path or default_split_path(pairs, cfg.seed)
    if policy.get("keep_source_split"):
        fixed = [n for n in pairs.names if n.startswith("test/")]
        return make_split(pairs, path, len(fixed), val, cfg.seed, cfg.shuffle, fixed_test=fixed)
    test = cfg.test if cfg.test is not None else policy.get("test", DEFAULT_TEST)
    return make_split(pairs, path, test, val, cfg.seed, cfg.shuffle)


def patches(split: Split, config: PatchConfig | None = None, **overrides) -> PatchDataModule:
    """A Lightning DataModule of random training patches (see :class:`PatchDataModule`).

    ``config`` is a :class:`PatchConfig` (its defaults when not given); keyword ``overrides``
    change its fields: ``patch=(64, 64)``, ``batch_size=4``, ``samples_per_image``,
    ``augment="flips+intensity"``, ``unpaired=True`` (inputs and targets drawn independently,
    for CycleGAN), ``num_workers``, ``seed`` (decides which patches are drawn).
    """
    return PatchDataModule(split, config, **overrides)
