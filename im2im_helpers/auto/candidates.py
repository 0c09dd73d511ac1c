"""Candidate run configurations derived from the data profile: network depth and width,
normalisation, patch size, loss, augmentation, learning rate and schedule, batch size — each a
validated :class:`~im2im_helpers.config.RunConfig` with the reasons for its values."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from im2im_helpers import config, models
from im2im_helpers.auto.kinds import AutoTask
from im2im_helpers.auto.profile import DataProfile, DeviceProfile
from im2im_helpers.config import DataConfig, RunConfig, TaskConfig, TrainConfig
from im2im_helpers.data import LoadConfig, PatchConfig

#: Smallest training patch side (2D, and Y/X in 3D): enough context around small objects.
MIN_PATCH = {2: 64, 3: 32}
#: Largest patch side considered (larger patches cost time without a gain on objects this size).
MAX_PATCH = {2: 256, 3: 96}
#: Patch side when objects cannot be measured.
DEFAULT_PATCH = {2: 128, 3: 64}
#: Largest batch proposed; the memory may allow less.
MAX_BATCH = 8
#: Fraction of the free memory a training batch may use (activations are kept for backward).
MEMORY_FRACTION = 0.5
#: Training keeps every activation for the backward pass and gradients of the same size:
#: about this many times a forward pass's memory per pixel.
TRAIN_MEMORY_FACTOR = 3.0
#: Patches per training epoch aimed at (spread over the training pairs).
PATCHES_PER_EPOCH = 256
#: Upper bound on epochs of a proposed candidate (the time budget decides below it).
MAX_EPOCHS = 300


@dataclass
class Candidate:
    """One run configuration to try, with why each value was chosen.

    Attributes
    ----------
    name : str
        Short unique name (a key in the study and the report).
    config : RunConfig
        The run (its ``data.split`` is set for each fold and for the final run; its
        ``train.max_epochs``/``max_time_s`` by the time budget).
    reasons : list of str
        Human-readable reasons for the values.
    step_seconds : float or None
        Measured seconds of one training step (forward, backward, update) on this machine.
    """

    name: str
    config: RunConfig
    reasons: list[str] = field(default_factory=list)
    step_seconds: float | None = None

    def to_dict(self) -> dict:
        """Plain values (for the study and JSON)."""
        return {"name": self.name, "config": self.config.to_dict(), "reasons": list(self.reasons),
                "step_seconds": self.step_seconds}

    @classmethod
    def from_dict(cls, values: dict) -> Candidate:
        """The candidate :meth:`to_dict` described (its configuration validated again)."""
        return cls(values["name"], config.from_dict(values["config"], f"candidate "
                                                                       f"{values['name']}"),
                   list(values.get("reasons", [])), values.get("step_seconds"))


@dataclass(frozen=True)
class Recipe:
    """The part of a candidate chosen by kind, before sizes are fitted to the data.

    ``patch`` (the side of a 2D patch), ``batch`` and ``samples_per_image``, when given, are a
    tutorial's hand-written values, used as they are instead of the ones derived from the data
    and the memory (the patch is still cut to the smallest image); ``epochs`` is the tutorial's
    schedule at its ``default`` level (the time budget sets the epochs of an automatic run; the
    hand recipe as a reference, :func:`~im2im_helpers.auto.reference.hand_recipe`, trains
    these)."""

    name: str
    channels: tuple[int, ...]
    norm: str
    loss: str
    lr: float
    scheduler: str
    augment: str
    why: str
    patch: int | None = None
    batch: int | None = None
    samples_per_image: int | None = None
    epochs: int | None = None


def recipes(task: AutoTask, profile: DataProfile) -> list[Recipe]:
    """The kinds of network and training tried for ``task`` (the first is the hand recipe of
    the matching tutorial at its ``default`` level, with the tutorial's patch, batch and
    patches per image; the others vary capacity, depth, loss and schedule)."""
    wide = (16, 32, 64) if profile.dims == 3 else (32, 64, 128)
    small = (8, 16, 32) if profile.dims == 3 else (16, 32, 64)
    deep = (16, 32, 64, 128) if profile.dims == 3 else (32, 64, 128, 256)
    if task.segmentation:
        return [
            Recipe("unet4-batchnorm", (16, 32, 64, 128), "BATCH", "dice_ce", 2e-3, "cosine",
                   "flips", "tutorial 04's default recipe: a 4-level U-Net with batch "
                   "normalisation, Dice + cross-entropy (robust to a small foreground "
                   "fraction), cosine decay, 128 px patches, batch 8, 16 patches per image",
                   patch=128, batch=8, samples_per_image=16, epochs=30),
            Recipe("unet3-small", small, "INSTANCE", "dice_ce", 5e-3, "onecycle",
                   "flips+intensity", "fewer parameters and a one-cycle schedule: more epochs "
                   "in the same time; intensity augmentation for contrast that varies between "
                   "images"),
            Recipe("unet3-wide", wide, "INSTANCE", "dice_ce", 1e-3, "cosine", "flips",
                   "a wider 3-level U-Net at a conservative learning rate"),
        ]
    first, second = task.losses[0], task.losses[-1]
    return [
        Recipe(f"unet3-wide-{first}", wide, "INSTANCE", first, 5e-3, "onecycle", "flips",
               "tutorial 01's default recipe: a 3-level U-Net, instance normalisation, a "
               "one-cycle schedule for short runs, 128 px patches, batch 8, 64 patches per "
               "image", patch=128, batch=8, samples_per_image=64, epochs=8),
        Recipe(f"unet3-small-{first}", small, "INSTANCE", first, 5e-3, "onecycle", "flips",
               "half the width: cheaper steps (more epochs in the budget) and less "
               "over-fitting when pairs are few"),
        Recipe(f"unet4-deep-{second}", deep, "INSTANCE", second, 1e-3, "cosine",
               "flips+intensity", f"one level deeper (a larger receptive field), the {second} "
               "loss and intensity augmentation: for structures larger than the 3-level "
               "network sees"),
    ]


def round_up(value: float, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple``."""
    return int(multiple * math.ceil(value / multiple))


def patch_size(profile: DataProfile, divisor: int,
               field: list[int] | None = None) -> tuple[list[int], list[str]]:
    """The training patch per axis, a multiple of ``divisor``, and why: twice the 90th
    percentile of the objects' extent and at least the network's receptive field (``field``:
    its radius per axis, measured), at least :data:`MIN_PATCH`, at most :data:`MAX_PATCH` and
    the smallest image, so that a patch holds whole objects with the context the network
    uses."""
    dims = profile.dims
    reasons = []
    if profile.objects:
        want = [max(MIN_PATCH[dims] if axis >= dims - 2 else 8, 2 * e)
                for axis, e in enumerate(profile.objects["extent_p90"])]
        reasons.append(f"twice the 90 % object extent {profile.objects['extent_p90']} px "
                       f"(at least {MIN_PATCH[dims]} px in Y/X)")
    else:
        want = [DEFAULT_PATCH[dims]] * dims
        if dims == 3:
            want[0] = min(want[0], 16)
        reasons.append(f"objects could not be measured: the default {want} px")
    if field:
        want = [max(w, 2 * r + 1) for w, r in zip(want, field)]
        reasons.append(f"at least the receptive field ({[2 * r + 1 for r in field]} px across)")
    patch = []
    for axis, (w, smallest) in enumerate(zip(want, profile.shape_min)):
        side = min(round_up(w, divisor), MAX_PATCH[dims])
        fits = max(divisor, smallest // divisor * divisor)
        if side > fits:
            reasons.append(f"axis {'ZYX'[3 - dims + axis]} cut to {fits} px: the smallest image "
                           f"is {smallest} px")
            side = fits
        patch.append(int(side))
    reasons.append(f"a multiple of {divisor}, the network's size divisor")
    return patch, reasons


def hand_patch(profile: DataProfile, divisor: int, side: int) -> tuple[list[int], list[str]]:
    """A tutorial's square 2D patch of ``side`` px, cut to the smallest image (a multiple of
    ``divisor``), and why."""
    patch, reasons = [], [f"the tutorial's {side} px"]
    for axis, smallest in zip("YX", profile.shape_min[-2:]):
        fits = max(divisor, smallest // divisor * divisor)
        if side > fits:
            reasons.append(f"axis {axis} cut to {fits} px: the smallest image is {smallest} px")
        patch.append(int(min(round_up(side, divisor), fits)))
    return patch, reasons


def receptive_field(model: dict, divisor: int) -> list[int] | None:
    """The radius per axis of what one output pixel of the network ``model`` sees, measured
    (:func:`im2im_helpers.stream.tiling.receptive_field`); ``None`` when it cannot be."""
    from im2im_helpers.stream.tiling import receptive_field as measure

    try:
        return measure(models.build(**model), model["dims"], divisor)
    except (RuntimeError, ValueError, TypeError):
        return None


def batch_size(model: dict, patch: list[int], device: DeviceProfile,
               norm: str) -> tuple[int, str]:
    """Patches per step that fit :data:`MEMORY_FRACTION` of the free memory (measured memory
    per pixel of a forward pass x :data:`TRAIN_MEMORY_FACTOR`), at most :data:`MAX_BATCH`;
    at least 2 with batch normalisation."""
    from im2im_helpers.stream.tiling import bytes_per_pixel

    net = models.build(**model)
    per_pixel = bytes_per_pixel(net, model["dims"], model.get("in_channels", 1),
                                models.size_divisor(net.im2im_spec))
    per_patch = per_pixel * TRAIN_MEMORY_FACTOR * float(np.prod(patch))
    fits = int(MEMORY_FRACTION * device.free_memory // max(per_patch, 1.0))
    batch = max(1, min(MAX_BATCH, fits))
    if norm == "BATCH":
        batch = max(2, batch)
    why = (f"batch {batch}: a patch needs about {per_patch / 2**20:.0f} MiB in training, "
           f"{fits} would fit in half of the {device.free_memory / 2**30:.1f} GiB free")
    return batch, why


def propose(profile: DataProfile, device: DeviceProfile, task: AutoTask, source: str,
            load: LoadConfig, transforms: list, n_train: int, seed: int = 0) -> list[Candidate]:
    """A small set of candidates for ``task`` on data like ``profile`` on ``device``.

    Parameters
    ----------
    profile, device : DataProfile, DeviceProfile
        What the data and the machine look like (:mod:`~im2im_helpers.auto.profile`).
    task : AutoTask
        What is learned.
    source : str
        The data as :func:`im2im_helpers.data.load` takes it (``data.source``).
    load : LoadConfig
        How the pairs are read (``data.load``).
    transforms : list
        Recorded pair transforms (``data.transforms``), e.g. ``[{"kind": "foreground"}]``.
    n_train : int
        Pairs a fold trains on (sets patches per image).
    seed : int
        Seed of weights and patches.

    Returns
    -------
    list of Candidate
        Valid run configurations (``config.from_dict`` accepts each), the tutorial's recipe
        first.
    """
    out = []
    spi = int(np.clip(round(PATCHES_PER_EPOCH / max(1, n_train)), 4, 64))
    for recipe in recipes(task, profile):
        model = {"name": "unet", "dims": profile.dims, "in_channels": profile.in_channels,
                 "out_channels": 1 if task.segmentation else profile.target_channels,
                 "channels": list(recipe.channels), "norm": recipe.norm,
                 "seed": seed}
        divisor = models.size_divisor(model)
        if recipe.patch and profile.dims == 2:
            patch, patch_why = hand_patch(profile, divisor, recipe.patch)
        else:
            patch, patch_why = patch_size(profile, divisor, receptive_field(model, divisor))
        if recipe.batch:
            batch, batch_why = recipe.batch, f"batch {recipe.batch}: the tutorial's"
        else:
            batch, batch_why = batch_size(model, patch, device, recipe.norm)
        per_image = recipe.samples_per_image or spi
        cfg = RunConfig(
            DataConfig(source=source, load=replace(load, dims=profile.dims),
                       transforms=list(transforms),
                       patches=PatchConfig(patch=patch, batch_size=batch,
                                           samples_per_image=per_image,
                                           augment=recipe.augment, seed=seed)),
            model,
            TaskConfig("supervised", {"loss": recipe.loss, "lr": recipe.lr,
                                      "scheduler": recipe.scheduler}),
            TrainConfig(max_epochs=MAX_EPOCHS, seed=seed))
        cfg = config.from_dict(cfg.to_dict(), f"candidate {recipe.name}")
        reasons = [
            recipe.why,
            f"network: U-Net, channels {list(recipe.channels)} ({len(recipe.channels)} levels, "
            f"size divisor {divisor}), {recipe.norm.lower()} normalisation",
            f"patch {patch}: " + "; ".join(patch_why),
            batch_why,
            f"loss {recipe.loss}, Adam at {recipe.lr:g} with the {recipe.scheduler} schedule, "
            f"augmentation {recipe.augment}",
            f"{per_image} patches per training pair per epoch"
            + (" (the tutorial's)" if recipe.samples_per_image else
               f" (about {PATCHES_PER_EPOCH} per epoch)")
            + "; epochs are set by the time budget",
        ]
        out.append(Candidate(recipe.name, cfg, reasons))
    return out


def measure_step(candidate: Candidate, repeats: int = 3,
                 clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds of one training step of ``candidate`` (forward, loss, backward, Adam update) on
    random data of its patch and batch size, on this machine's CPU or GPU (median of
    ``repeats`` after one warm-up step), on ``clock`` (e.g. ``time.process_time``: CPU
    seconds)."""
    import torch

    cfg = candidate.config
    task = config.build_task(cfg)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    task = task.to(device).train()
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-4)
    shape = (cfg.data.patches.batch_size, cfg.model.get("in_channels", 1),
             *cfg.data.patches.patch)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=generator).to(device)
    y = (torch.rand((shape[0], 1, *shape[2:]), generator=generator) > 0.5).float().to(device)
    times = []
    for _ in range(repeats + 1):
        start = clock()
        optimizer.zero_grad()
        loss = task.compute_loss(task(x), y)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - start)
    return float(np.median(times[1:]))
