"""Random 2D/3D training patches (MONAI transforms) and a Lightning DataModule around them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import lightning as L
import numpy as np
import torch
from monai import transforms as mt
from monai.data import DataLoader, Dataset
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import RandomSampler

from im2im_helpers.data.pairs import Pair, PairError
from im2im_helpers.data.splits import Split
from im2im_helpers.schema import with_overrides

AUGMENTATIONS = ("none", "flips", "intensity")
#: Least and largest values of the whole-number settings: seeds are kept as int64 (MONAI, which
#: adds 1 for unpaired targets) and torch batches and epochs are lists, so a count past a million
#: is a mistake.
LIMITS = {"batch_size": (1, 1_000_000), "samples_per_image": (1, 1_000_000),
          "num_workers": (0, 1024), "seed": (0, 2**63 - 2)}


@dataclass
class PatchConfig:
    """How training patches are drawn (the ``data.patches`` section of a run's ``config.yaml``).

    Attributes
    ----------
    patch : list of int
        Patch size, ``(Y, X)`` or ``(Z, Y, X)``.
    batch_size : int
        Patches per training step.
    samples_per_image : int
        Random patches drawn from each training pair per epoch.
    augment : str
        ``"none"``, or augmentations joined by ``+``: ``"flips"`` (random flips along every axis
        and, for square YX patches, 90-degree rotations in YX), ``"intensity"`` (random
        contrast x(0.8-1.2) and brightness +-0.1 of the input), e.g. ``"flips+intensity"``.
    unpaired : bool
        Draw input and target patches independently, from different training pairs (see
        :class:`UnpairedPatches`): for tasks that learn without pairs (CycleGAN). Validation
        keeps the pairs' tiles.
    num_workers : int
        DataLoader worker processes (0 loads in the training process).
    seed : int
        Decides which patches are drawn, in which order: epoch ``e`` shuffles and crops with
        seeds derived from ``(seed, e)`` only (see :meth:`PatchDataModule.set_epoch`), so the same
        seed draws the same patches whatever else used torch's global random state before, and
        a run resumed at epoch ``e`` draws what an uninterrupted one draws. With
        ``num_workers > 0`` MONAI seeds each worker's transforms from the DataLoader's worker
        seed instead: reproducible from the start of a run, but not across a resume. A whole
        number from 0 to ``2**63 - 2``.
    """

    patch: list[int] = field(default_factory=lambda: [128, 128])
    batch_size: int = 8
    samples_per_image: int = 16
    augment: str = "flips"
    unpaired: bool = False
    num_workers: int = 0
    seed: int = 0


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 32-bit seed for epoch ``epoch`` of a run seeded with ``seed`` (``stream`` tells apart
    the generators of one epoch: sampler, transforms, process rank)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(1)[0])


class EpochShuffle(RandomSampler):
    """Shuffles like :class:`torch.utils.data.RandomSampler`, with a permutation decided by
    ``(seed, epoch)`` alone: Lightning calls :meth:`set_epoch` before every epoch (and replaces
    the sampler by its seeded ``DistributedSampler`` when training on several processes)."""

    def __init__(self, data_source, seed: int = 0):
        super().__init__(data_source)
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the permutation of epoch ``epoch`` next."""
        self.epoch = int(epoch)

    def __iter__(self):
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()


def check_patch_config(cfg: PatchConfig) -> None:
    """Raise ``ValueError`` naming the setting (``data.patches.*``) that cannot work."""
    patch = cfg.patch
    if not isinstance(patch, (list, tuple)) or len(patch) not in (2, 3) or not all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p > 0
            for p in patch):
        raise ValueError(f"data.patches.patch={patch!r}: give 2 (Y, X) or 3 (Z, Y, X) positive "
                         "whole numbers of pixels, e.g. [128, 128].")
    for name, (least, most) in LIMITS.items():
        value = getattr(cfg, name)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"data.patches.{name}={value!r}: must be a whole number >= {least}.")
        if value > most:
            raise ValueError(f"data.patches.{name}={value!r}: must be at most {most}.")
    if not isinstance(cfg.unpaired, (bool, np.bool_)):
        raise ValueError(f"data.patches.unpaired={cfg.unpaired!r}: must be true or false.")
    if not isinstance(cfg.augment, str):
        raise ValueError(f"data.patches.augment={cfg.augment!r}: must be a string such as 'none', "
                         f"'flips' or 'flips+intensity' (parts: {AUGMENTATIONS}).")
    parse_augment(cfg.augment)


def _item(pair: Pair, with_cost: bool) -> dict:
    item = {"input": pair.input, "target": pair.target}
    if with_cost:
        item["cost"] = pair.cost if pair.cost is not None else np.ones_like(pair.target[:1])
    return item


def parse_augment(augment: str) -> set[str]:
    """``"flips+intensity"`` -> ``{"flips", "intensity"}``; ``"none"`` -> empty set."""
    parts = {a.strip() for a in augment.split("+")}
    unknown = parts - set(AUGMENTATIONS)
    if unknown:
        raise ValueError(
            f"augment={augment!r}: unknown part {sorted(unknown)}; "
            f"combine {AUGMENTATIONS} with '+'."
        )
    return parts - {"none"}


def patch_transform(patch: Sequence[int], keys: Sequence[str], augment: str = "flips"):
    """MONAI transform: pad to at least ``patch``, random crop of ``patch``, then the
    augmentations named in ``augment`` (see :class:`PatchDataModule`)."""
    parts = parse_augment(augment)
    keys = list(keys)
    dims = len(patch)
    steps = [
        mt.SpatialPadd(keys, spatial_size=list(patch), method="symmetric"),
        mt.RandSpatialCropd(keys, roi_size=list(patch), random_size=False),
    ]
    if "flips" in parts:
        steps += [mt.RandFlipd(keys, prob=0.5, spatial_axis=a) for a in range(dims)]
        if patch[-1] == patch[-2]:  # a 90-degree turn of a non-square patch changes its shape
            steps.append(mt.RandRotate90d(keys, prob=0.5, spatial_axes=(dims - 2, dims - 1)))
    if "intensity" in parts:  # the input only: contrast and brightness drift between images
        steps += [mt.RandScaleIntensityd(["input"], factors=0.2, prob=0.5),
                  mt.RandShiftIntensityd(["input"], offsets=0.1, prob=0.5)]
    steps.append(mt.EnsureTyped(keys, data_type="tensor", track_meta=False))
    return mt.Compose(steps)


def tile_starts(size: int, patch: int) -> list[int]:
    """Start offsets of patch-sized tiles covering ``size`` (the last one flush with the end)."""
    if size <= patch:
        return [0]
    starts = list(range(0, size - patch + 1, patch))
    return starts if starts[-1] == size - patch else [*starts, size - patch]


def tiles(pair: Pair, patch: Sequence[int], with_cost: bool) -> list[dict]:
    """Cut a pair into deterministic patch-sized tiles (for validation)."""
    item = _item(pair, with_cost)
    pad = mt.SpatialPadd(list(item), spatial_size=list(patch), method="symmetric")
    item = {k: np.asarray(v) for k, v in pad(item).items()}
    shape = item["input"].shape[1:]
    out = []
    for start in itertools.product(*(tile_starts(s, p) for s, p in zip(shape, patch))):
        sl = (slice(None), *(slice(s, s + p) for s, p in zip(start, patch)))
        out.append({k: np.ascontiguousarray(v[sl]) for k, v in item.items()})
    return out


class _ReseedableDataset(Dataset):
    """MONAI's :class:`~monai.data.Dataset` whose random transforms can be reseeded."""

    def reseed(self, seed: int) -> None:
        self.transform.set_random_state(seed=seed)


class UnpairedPatches(TorchDataset):
    """Random input patches of one training pair next to random target patches of *another*
    pair, at an independent position: data without correspondence, for CycleGAN.

    Item ``k`` crops the input of pair ``i = k % n`` and the target of pair
    ``(i + 1 + (k // n) % (n - 1)) % n``: never its own target (with a single pair, only the
    positions differ), and with ``samples_per_image >= n - 1`` rounds the targets of every other
    image.
    MONAI's paired datasets crop both keys at one position, hence this small class.
    """

    def __init__(self, pairs: Sequence[Pair], samples_per_image: int, patch: Sequence[int],
                 augment: str = "flips", seed: int = 0):
        self.inputs = [{"input": p.input} for p in pairs]
        self.targets = [{"target": p.target} for p in pairs]
        self.rounds = samples_per_image
        self.crop_input = patch_transform(patch, ["input"], augment)
        self.crop_input.set_random_state(seed=seed)
        geometric = "+".join(sorted(parse_augment(augment) - {"intensity"})) or "none"
        self.crop_target = patch_transform(patch, ["target"], geometric)
        self.crop_target.set_random_state(seed=seed + 1)

    def reseed(self, seed: int) -> None:
        """Seed the input and the target crops (independently) from ``seed``."""
        self.crop_input.set_random_state(seed=epoch_seed(seed, 0, 1))
        self.crop_target.set_random_state(seed=epoch_seed(seed, 0, 2))

    def partner(self, k: int) -> int:
        """Which pair's target item ``k`` uses."""
        n = len(self.inputs)
        i = k % n
        return i if n == 1 else (i + 1 + (k // n) % (n - 1)) % n

    def __len__(self) -> int:
        return len(self.inputs) * self.rounds

    def __getitem__(self, k: int) -> dict:
        a = self.crop_input(self.inputs[k % len(self.inputs)])
        b = self.crop_target(self.targets[self.partner(k)])
        return {"input": a["input"], "target": b["target"]}


class PatchDataModule(L.LightningDataModule):
    """Training on random patches of the training pairs, validation on tiles of the val pairs.

    Parameters
    ----------
    split : Split
        The pairs, already divided (see :func:`im2im_helpers.data.split`).
    config : PatchConfig, optional
        How patches are drawn (defaults of :class:`PatchConfig`).
    **overrides
        Fields of :class:`PatchConfig` to change (``patch=(64, 64)``, ``batch_size=4``, ...).
    """

    def __init__(self, split: Split, config: PatchConfig | None = None, **overrides):
        super().__init__()
        self.split = split
        self.settings = with_overrides(PatchConfig, config, overrides, "data.patches")
        check_patch_config(self.settings)
        self.settings.patch = [int(p) for p in self.settings.patch]
        for name in ("batch_size", "samples_per_image", "num_workers", "seed"):  # numpy -> int
            setattr(self.settings, name, int(getattr(self.settings, name)))
        self.settings.unpaired = bool(self.settings.unpaired)
        self.patch = tuple(self.settings.patch)
        dims = {p.dims for p in [*split.train, *split.val, *split.test]}
        if dims != {len(self.patch)}:
            raise PairError(
                f"patch={self.patch} is {len(self.patch)}D but the pairs are {sorted(dims)}D: "
                "give one patch size per spatial axis of the images."
            )
        self.with_cost = not self.settings.unpaired and any(
            p.cost is not None for p in [*split.train, *split.val])
        keys = ["input", "target", *(["cost"] if self.with_cost else [])]
        self.transform = patch_transform(self.patch, keys, self.settings.augment)
        self.transform.set_random_state(seed=self.settings.seed)
        self._train_set: _ReseedableDataset | UnpairedPatches | None = None
        self._sampler: EpochShuffle | None = None

    @property
    def config(self) -> dict:
        """The patch-sampling settings as plain values (as saved in a run's ``config.yaml``)."""
        return asdict(self.settings)

    def set_epoch(self, epoch: int, rank: int = 0) -> None:
        """Seed the patches of training epoch ``epoch`` (on process ``rank``) from
        ``(seed, epoch, rank)``: the crops and augmentations of the training set, and its
        shuffling. :func:`im2im_helpers.train.fit` calls it before every epoch."""
        if self._train_set is not None:
            self._train_set.reseed(epoch_seed(self.settings.seed, epoch, 1 + rank))
        if self._sampler is not None:
            self._sampler.set_epoch(epoch)

    def train_dataloader(self) -> DataLoader:
        if self.settings.unpaired:
            dataset = UnpairedPatches(self.split.train, self.settings.samples_per_image, self.patch,
                                      self.settings.augment, self.settings.seed)
        else:
            items = [_item(p, self.with_cost) for p in self.split.train]
            dataset = _ReseedableDataset(items * self.settings.samples_per_image,
                                         transform=self.transform)
        self._train_set = dataset
        self._sampler = EpochShuffle(dataset, self.settings.seed)
        return DataLoader(
            dataset,
            batch_size=self.settings.batch_size,
            sampler=self._sampler,
            # its own generator: the workers' base seed never draws on torch's global state
            generator=torch.Generator().manual_seed(self.settings.seed),
            num_workers=self.settings.num_workers,
            drop_last=len(dataset) >= self.settings.batch_size,
            persistent_workers=self.settings.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        if not len(self.split.val):
            return []
        items = [t for p in self.split.val for t in tiles(p, self.patch, self.with_cost)]
        return DataLoader(
            Dataset(items, transform=mt.EnsureTyped(list(items[0]), track_meta=False)),
            batch_size=self.settings.batch_size,
            num_workers=0,
        )
