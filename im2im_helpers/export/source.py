"""What an export takes from a run folder: its configuration, trained task and checkpoint,
the held-out image that becomes the package's test input, and the tutorial's figures."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import lightning as L
import numpy as np

from im2im_helpers import config, data, io, train
from im2im_helpers.config import RunConfig
from im2im_helpers.export.errors import ExportError
from im2im_helpers.tasks import TASKS

#: Transforms that replace a pair's input by something that was never percentile-normalised
#: (``masks_to_images``: a 0/1 mask made from the labels).
RAW_INPUT_TRANSFORMS = frozenset({"masks_to_images"})

#: Split file a tutorial writes beside its run folder (``OUT_DIR/split.json``).
TUTORIAL_SPLIT = "split.json"
#: Figures folder a tutorial writes beside its run folder (``OUT_DIR/figures``).
TUTORIAL_FIGURES = "figures"


@dataclass
class RunSource:
    """A trained run, ready to be exported.

    Attributes
    ----------
    path : pathlib.Path
        The run folder.
    config : RunConfig
        Its ``config.yaml``.
    task : lightning.LightningModule
        The trained task in eval mode (weights of ``checkpoint``).
    checkpoint : pathlib.Path
        The checkpoint loaded: the best by validation loss, else ``last.ckpt``.
    """

    path: Path
    config: RunConfig
    task: L.LightningModule
    checkpoint: Path

    @property
    def dims(self) -> int:
        """Spatial dimensions of the network (2 or 3)."""
        return int(self.config.model["dims"])

    @property
    def in_channels(self) -> int:
        """Input channels of the network."""
        return int(self.config.model.get("in_channels", 1))

    @property
    def patch(self) -> list[int]:
        """The training patch size (the window size predictions use)."""
        return [int(p) for p in self.config.data.patches.patch]


def open_run(path: str | os.PathLike) -> RunSource:
    """Read the run folder ``path`` and load its trained task.

    Raises
    ------
    ExportError
        If ``path`` is missing, is not a run folder written by :func:`im2im_helpers.train.fit`
        or holds no checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: no such run folder. Pass the folder that train.fit (or "
                          "`python -m im2im_helpers train --out`) made.")
    if not path.is_dir():
        raise ExportError(f"{path}: is a file, not a run folder. Pass the folder that "
                          "train.fit made (it holds config.yaml and checkpoints/).")
    if not train.is_run(path):
        raise ExportError(f"{path}: not a run folder (no {train.CONFIG} written by "
                          "im2im_helpers' train.fit). Pass the folder that train.fit or "
                          "`python -m im2im_helpers train --out` made.")
    best = sorted((path / train.CHECKPOINTS).glob("best-*.ckpt"))
    ckpt = best[-1] if best else train.last_checkpoint(path)
    if ckpt is None:
        raise ExportError(f"{path}: the run has no checkpoint in {path / train.CHECKPOINTS} "
                          "(best-*.ckpt or last.ckpt): it never finished an epoch. Train it "
                          "(or resume it) first, then export.")
    cfg = config.load(path / train.CONFIG)
    task = train.load_run_model(path, TASKS[cfg.task.kind])
    return RunSource(path, cfg, task.eval(), ckpt)


def input_percentiles(cfg: RunConfig) -> tuple[float, float] | None:
    """The percentile normalisation the network's inputs had in training, ``(low, high)``, or
    ``None`` when they kept their raw values (no normalisation, or a transform such as
    ``masks_to_images`` replaced the inputs after normalising)."""
    if cfg.data.load.normalize_percentiles is None:
        return None
    if any(step.get("kind") in RAW_INPUT_TRANSFORMS for step in cfg.data.transforms):
        return None
    low, high = cfg.data.load.normalize_percentiles
    return float(low), float(high)


def read_test_image(path: str | os.PathLike, dims: int, channels: int) -> np.ndarray:
    """The first time point of the image file ``path`` as ``(channels, *spatial)`` float32
    with its first ``channels`` channels, raw values.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ExportError
        If it has fewer channels than the network takes, or the wrong dimensionality.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such test image file.")
    img = io.read(path)
    _t, c, z, _y, _x = img.data.shape
    if c < channels:
        raise ExportError(f"{path}: has {c} channel(s) but the network takes {channels}; "
                          "pass an image with the run's input channels.")
    if dims == 2 and z != 1:
        raise ExportError(f"{path}: is 3D (Z={z}) but the network is 2D; pass a single plane.")
    if dims == 3 and z == 1:
        raise ExportError(f"{path}: is 2D (one Z plane) but the network is 3D; pass a stack.")
    x = img.data[0, :channels]
    return np.asarray(x[:, 0] if dims == 2 else x, dtype=np.float32)


def split_file(run: RunSource) -> Path | None:
    """The split file of the run: the one its ``config.yaml`` names, else ``split.json``
    beside the run folder (where a tutorial writes it); ``None`` if neither exists."""
    named = run.config.data.split.path
    for candidate in ([Path(named)] if named else []) + [run.path.parent / TUTORIAL_SPLIT]:
        if candidate.is_file():
            return candidate
    return None


def held_out_input(run: RunSource) -> tuple[np.ndarray, str]:
    """The raw input of the first test pair of the run's split, and a description of it.

    The pairs are loaded from the run's ``data.source`` without normalisation and with its
    recorded transforms, so the array is what the package's preprocessing will receive (a
    registry dataset that is not in the cache is fetched first).

    Raises
    ------
    ExportError
        If no split file is found, it names no test pair, or the data cannot be loaded; the
        message asks for ``test_image=`` (``--test-image FILE``).
    """
    ask = "Pass a held-out image file with test_image= (--test-image FILE)."
    split = split_file(run)
    if split is None:
        named = run.config.data.split.path
        raise ExportError(f"{run.path}: cannot find the run's split file (config.yaml names "
                          f"{named!r}; none at {run.path.parent / TUTORIAL_SPLIT}), so no "
                          f"held-out test image is known. {ask}")
    try:
        names = json.loads(split.read_text())["names"]["test"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ExportError(f"{split}: not a split file with test names ({err}). {ask}") from err
    if not names:
        raise ExportError(f"{split}: the split holds no test pair. {ask}")
    cfg = run.config
    try:
        pairs = data.apply_transforms(
            data.load(cfg.data.source, replace(cfg.data.load, normalize_percentiles=None)),
            cfg.data.transforms)
    except (OSError, ValueError, RuntimeError) as err:
        raise ExportError(f"{run.path}: cannot load the test pair {names[0]!r} from the run's "
                          f"data source {cfg.data.source!r} ({err}). {ask}") from err
    found = {p.name: p for p in pairs}
    if names[0] not in found:
        raise ExportError(f"{split}: its test pair {names[0]!r} is not among the pairs of "
                          f"{cfg.data.source!r} (the data changed). {ask}")
    pair = found[names[0]]
    return np.asarray(pair.input, dtype=np.float32), f"test pair {names[0]!r} of {split.name}"


def figures(run: RunSource, limit: int = 2) -> list[Path]:
    """Up to ``limit`` PNG figures of the tutorial that made the run (``figures/`` beside the
    run folder), sorted by name; empty if there are none."""
    folder = run.path.parent / TUTORIAL_FIGURES
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.png") if p.is_file())[:limit]
