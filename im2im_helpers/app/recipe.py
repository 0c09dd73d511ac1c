"""What the app trains: its settings, the output folder it may write into, the pairs of the
chosen source as the chosen task learns them, and the run (the tutorials' recipe:
``data.split`` with a split file, ``data.patches``, ``models.build``, ``tasks.Supervised``,
``train.fit``). No widgets here: :mod:`~im2im_helpers.app.widgets` calls these functions."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import numpy as np

from im2im_helpers import data, io, models, system, tasks, train
from im2im_helpers.auto.kinds import AUTO_TASKS, AutoError, AutoTask, get_task
from im2im_helpers.auto.profile import target_kind
from im2im_helpers.data import simulate


class AppError(ValueError):
    """The app cannot go on with what was chosen: the message names the input (dataset, folder,
    task, setting), what was expected and what to do. Nothing was written or deleted."""


#: The app's marker file in its output folder: a folder holding it is the app's to write in.
MARKER = "im2im-app.json"
#: Everything the app writes into its output folder.
APP_ENTRIES = frozenset({MARKER, "run", "split.json", "predictions", "model.zip",
                         "metrics.json"})
#: Task names shown in the app (the automatic configuration's tasks), first one the default.
TASK_NAMES = tuple(AUTO_TASKS)
#: Photons at the brightest pixel of the simulated noise a denoising task adds to clean images.
PHOTONS = 10.0


@dataclass(frozen=True)
class Level:
    """Settings a level fills in where the user left a field empty.

    Attributes
    ----------
    epochs : int
        Training epochs.
    patch : int
        Square patch size (pixels), also the prediction window.
    samples_per_image : int
        Random patches per training image and epoch.
    channels : tuple of int
        U-Net features per level, from the top down.
    lr : float
        Learning rate.
    """

    epochs: int
    patch: int
    samples_per_image: int
    channels: tuple[int, ...]
    lr: float


#: The levels the app offers: "smoke" trains in seconds (a check that everything runs),
#: "default" in minutes on two CPU cores.
LEVELS: dict[str, Level] = {
    "smoke": Level(epochs=2, patch=32, samples_per_image=4, channels=(8, 16), lr=3e-3),
    "default": Level(epochs=10, patch=64, samples_per_image=32, channels=(16, 32, 64), lr=2e-3),
}


@dataclass
class Settings:
    """What the form holds.

    Attributes
    ----------
    source : str
        An offline sample or registry dataset name, or a folder of ``X_IM``/``X_GT`` pairs.
    task : str
        A name of :data:`~im2im_helpers.auto.kinds.AUTO_TASKS` (or an alias).
    out : str
        The output folder (created; see :func:`check_out_folder`).
    level : str
        A key of :data:`LEVELS`: fills in ``epochs``, ``patch`` and ``lr`` left at ``None``.
    epochs, patch : int or None
        Training epochs and square patch size (pixels).
    lr : float or None
        Learning rate.
    replace : bool
        Replace an earlier app run in ``out`` (never files the app did not write).
    seed : int
        Seeds the split, the network and the patches.
    """

    source: str = ""
    task: str = TASK_NAMES[0]
    out: str = ""
    level: str = "smoke"
    epochs: int | None = None
    patch: int | None = None
    lr: float | None = None
    replace: bool = False
    seed: int = 0

    def resolved(self) -> Settings:
        """A copy with the level's values where a field is ``None``."""
        level = LEVELS[self.level]
        return Settings(**{**asdict(self),
                           "epochs": self.epochs if self.epochs else level.epochs,
                           "patch": self.patch if self.patch else level.patch,
                           "lr": self.lr if self.lr else level.lr})


def check_settings(settings: Settings) -> tuple[Settings, AutoTask]:
    """The settings with the level's values filled in, and the task.

    Raises
    ------
    AppError
        Naming the empty or impossible field and what to give instead.
    """
    if not str(settings.source).strip():
        raise AppError("no data selected: choose a dataset in the list or type the path of a "
                       "folder of X_IM/X_GT image pairs, then click train.")
    if not str(settings.task).strip():
        raise AppError(f"no task selected: choose one of {list(TASK_NAMES)}.")
    try:
        task = get_task(settings.task)
    except AutoError as err:
        raise AppError(str(err)) from err
    if settings.level not in LEVELS:
        raise AppError(f"level {settings.level!r}: choose one of {list(LEVELS)}.")
    if not str(settings.out).strip():
        raise AppError("no output folder: type the folder the run, predictions and model go "
                       "to (it is created; it must be empty or an earlier app output).")
    s = settings.resolved()
    if not isinstance(s.epochs, int) or s.epochs < 1:
        raise AppError(f"epochs={s.epochs!r}: give a whole number of at least 1.")
    if not isinstance(s.patch, int) or s.patch < 16:
        raise AppError(f"patch={s.patch!r}: give a patch size of at least 16 pixels.")
    if not (isinstance(s.lr, float | int) and 0 < s.lr < 1):
        raise AppError(f"learning rate={s.lr!r}: give a number between 0 and 1, e.g. 0.002.")
    return s, task


def check_out_folder(out: str | os.PathLike, replace: bool) -> Path:
    """The output folder, when the app may write a run into it: absent, empty, or an earlier
    app output (with ``replace``). Nothing is created or deleted here.

    Raises
    ------
    AppError
        If ``out`` is a file, holds files the app did not write, or holds an earlier app run
        and ``replace`` is false.
    """
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise AppError(f"{out}: is a file, not a folder; choose a folder for the outputs.")
    if not out.is_dir() or not any(out.iterdir()):
        return out
    if not (out / MARKER).is_file():
        names = sorted(e.name for e in out.iterdir())[:5]
        raise AppError(f"{out}: holds files the app did not write ({', '.join(names)}); nothing "
                       "was touched. Choose an empty or new folder for the outputs.")
    foreign = sorted(e.name for e in out.iterdir() if e.name not in APP_ENTRIES)
    if foreign:
        raise AppError(f"{out}: an app output folder, but it also holds {', '.join(foreign[:5])}; "
                       "nothing was touched. Move those files away or choose another folder.")
    if (out / "run").exists() and not replace:
        raise AppError(f"{out}: holds an earlier app run; tick 'replace my earlier run' to train "
                       "again there, or choose another output folder.")
    return out


def mark_out_folder(out: Path, settings: Settings) -> None:
    """Create ``out`` and write the app's marker (the settings of the latest run) into it."""
    out.mkdir(parents=True, exist_ok=True)
    io.write_text(out / MARKER, json.dumps({"settings": asdict(settings)}, indent=2))


#: Least share of background (0) pixels in label images: whole-numbered intensity images (raw
#: camera counts) have almost none and are not taken for labels.
MIN_BACKGROUND = 0.01


def is_segmentation_target(targets: list[np.ndarray]) -> bool:
    """Whether ``targets`` are masks or label images (see
    :func:`~im2im_helpers.auto.profile.target_kind`) with some background."""
    kind = target_kind(targets)
    if kind == "mask":
        return True
    background = float(np.mean([np.mean(t == 0) for t in targets]))
    return kind == "labels" and background >= MIN_BACKGROUND


def load_pairs(source: str, task: AutoTask, seed: int = 0) -> data.Pairs:
    """The pairs of ``source`` as ``task`` learns them: instance labels become foreground masks
    for segmentation; clean images (input equal to target) get simulated Poisson-Gaussian noise
    for denoising (the pairs are then marked simulated).

    Raises
    ------
    AppError
        For a file instead of a folder, a missing, empty or mixed folder, an unknown name, or
        targets that do not suit the task.
    """
    path = Path(str(source).strip()).expanduser()
    if path.is_file():
        raise AppError(f"{source}: is a file; the app trains on a folder of X_IM/X_GT image "
                       f"pairs. Type the folder that holds it ({path.parent}) or choose a "
                       "dataset in the list.")
    if path.is_dir():  # "~/data" and stray spaces around a typed folder
        source = str(path)
    try:
        pairs = data.load(source, normalize_target=not task.segmentation)
    except (OSError, ValueError, KeyError) as err:  # missing, empty, mixed, not downloadable
        raise AppError(f"cannot load the data: {err}") from err
    if len(pairs) < 3:
        raise AppError(f"{source}: holds {len(pairs)} pair(s); the app needs at least 3 (to "
                       "train, validate and test on different images).")
    if any(p.dims != 2 for p in pairs):
        raise AppError(f"{source}: holds {pairs[0].dims}D images; the app trains 2D networks. "
                       "Use the tutorials (09) or the command line for 3D.")
    if task.segmentation:
        targets = [p.target for p in pairs]
        if not is_segmentation_target(targets):
            raise AppError(f"{source}: the targets are images, not masks or labels; choose the "
                           "label-free or denoising task, or a folder of masks.")
        if target_kind(targets) == "labels":
            pairs = data.foreground(pairs)
    elif task.name == "denoising" and all(np.array_equal(p.input, p.target) for p in pairs):
        pairs = simulate.poisson_gaussian(data.load(source, normalize_percentiles=None),
                                          photons=PHOTONS, seed=seed)
    return pairs


@dataclass
class Prepared:
    """A run ready to train: the pairs, their split, the patches, the task and its settings."""

    settings: Settings
    task: AutoTask
    pairs: data.Pairs
    split: data.Split
    datamodule: L.LightningDataModule
    module: L.LightningModule
    out: Path
    notes: list[str] = field(default_factory=list)


def prepare(settings: Settings) -> Prepared:
    """Check ``settings``, load and split the pairs (the split file in the output folder) and
    build the network and task, writing nothing but the output folder's marker and split.

    Raises
    ------
    AppError
        See :func:`check_settings`, :func:`check_out_folder` and :func:`load_pairs`.
    """
    s, task = check_settings(settings)
    out = check_out_folder(s.out, s.replace)
    pairs = load_pairs(s.source, task, s.seed)
    smallest = min(min(p.input.shape[-2:]) for p in pairs)
    divisor = 2 ** (len(LEVELS[s.level].channels) - 1)
    patch = max(divisor, min(s.patch, smallest) // divisor * divisor)
    notes = []
    if patch != s.patch:
        notes.append(f"patch {s.patch} -> {patch} (the smallest image is {smallest} pixels)")
    if pairs.simulated:
        notes.append("SIMULATED noise added to the clean images")
    mark_out_folder(out, s)
    split_file = out / "split.json"
    if s.replace and split_file.is_file():
        split_file.unlink()  # the app's own split of an earlier run, made again below
    try:
        split = data.split(pairs, seed=s.seed, val=1, test=max(1, round(0.2 * len(pairs))),
                           path=split_file)
    except ValueError as err:
        raise AppError(f"cannot split {s.source}: {err}") from err
    dm = data.patches(split, patch=(patch, patch), batch_size=4,
                      samples_per_image=LEVELS[s.level].samples_per_image, augment="flips",
                      seed=s.seed)
    net = models.build("unet", dims=2, in_channels=pairs[0].input.shape[0],
                       out_channels=pairs[0].target.shape[0], channels=LEVELS[s.level].channels,
                       norm="BATCH", seed=s.seed)
    module = tasks.Supervised(net, loss=task.losses[0], lr=float(s.lr), scheduler="cosine")
    return Prepared(Settings(**{**asdict(s), "patch": patch}), task, pairs, split, dm, module,
                    out, notes)


def fit(prepared: Prepared, callbacks: list | None = None) -> train.Run:
    """Train ``prepared`` into its output folder's ``run/`` (replacing an earlier app run only
    when the settings say so)."""
    s = prepared.settings
    with train.quiet_lightning():
        return train.fit(prepared.module, prepared.datamodule, prepared.out / "run",
                         max_epochs=s.epochs, seed=s.seed, overwrite=s.replace, progress=False,
                         accelerator=system.accelerator(), callbacks=callbacks)
