"""``fit``: train a task in a run folder (config, CSV log, checkpoints) and resume it later."""

from __future__ import annotations

import contextlib
import csv
import datetime
import functools
import logging
import os
import random
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from lightning.pytorch.loggers import CSVLogger

from im2im_helpers import config as run_config
from im2im_helpers import io, system
from im2im_helpers.config import TrainConfig
from im2im_helpers.data.patches import epoch_seed
from im2im_helpers.schema import with_overrides
from im2im_helpers.tasks import hyperparameters

CHECKPOINTS = "checkpoints"
LOGS = "logs"
CONFIG = "config.yaml"
#: Everything :func:`fit` writes into a run folder (``samples``: a GAN's images per epoch).
RUN_ENTRIES = frozenset({CONFIG, CHECKPOINTS, LOGS, "samples"})


class RunExistsError(FileExistsError):
    """The run folder already holds a run and neither resuming nor overwriting was asked for."""


class RunFolderError(RuntimeError):
    """A folder cannot be used as a run folder as asked (see the message)."""


class NotARunError(RunFolderError):
    """The folder is not empty and holds something other than a run: it is left untouched."""


@dataclass
class Run:
    """A training run on disk, with the trained model in memory.

    Attributes
    ----------
    path : pathlib.Path
        The run folder: ``config.yaml``, ``logs/attempt-N/metrics.csv``, ``checkpoints/``.
    model : lightning.LightningModule
        The trained task (best validation weights when a validation set exists).
    resumed_from : pathlib.Path or None
        The checkpoint this run continued from.
    """

    path: Path
    model: L.LightningModule
    resumed_from: Path | None = None
    trainer: L.Trainer | None = field(default=None, repr=False)

    @property
    def last_checkpoint(self) -> Path | None:
        """The checkpoint written at the end of the latest epoch, if any."""
        return last_checkpoint(self.path)

    @property
    def best_checkpoint(self) -> Path | None:
        """The checkpoint with the lowest validation loss, if any."""
        best = sorted((self.path / CHECKPOINTS).glob("best-*.ckpt"))
        return best[-1] if best else None

    def history(self) -> dict[str, list[tuple[int, int, float]]]:
        """Logged values over every attempt: ``{name: [(epoch, step, value), ...]}``."""
        return read_history(self.path)


def last_checkpoint(path: str | os.PathLike) -> Path | None:
    """The ``last.ckpt`` of the run folder ``path``, or ``None``."""
    ckpt = Path(path) / CHECKPOINTS / "last.ckpt"
    return ckpt if ckpt.is_file() else None


def read_history(path: str | os.PathLike) -> dict[str, list[tuple[int, int, float]]]:
    """Read all ``logs/attempt-*/metrics.csv`` of a run into ``{name: [(epoch, step, value)]}``.

    A resumed run has one attempt per start; a value logged twice for the same step (an epoch
    repeated after an interruption) keeps its latest record.
    """
    values: dict[str, dict[int, tuple[int, int, float]]] = {}
    attempts = sorted(Path(path, LOGS).glob("attempt-*/metrics.csv"),
                      key=lambda p: int(p.parent.name.split("-")[1]))
    for csv_file in attempts:
        with open(csv_file, newline="") as f:
            for row in csv.DictReader(f):
                epoch, step = int(float(row.get("epoch") or 0)), int(float(row["step"]))
                for name, value in row.items():
                    if name not in ("epoch", "step") and value not in ("", None):
                        values.setdefault(name, {})[step] = (epoch, step, float(value))
    return {k: [v[s] for s in sorted(v)] for k, v in values.items()}


def _prepare_folder(out: Path, resume: bool, overwrite: bool) -> Path | None:
    """Decide what happens to an existing folder; return the checkpoint to resume from.

    Only an empty folder or a run folder (see :func:`is_run`) is ever written into, and only a
    run's own entries are ever deleted."""
    if resume and overwrite:
        raise ValueError("Pass resume=True or overwrite=True, not both.")
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: is a file, not a folder. Choose a folder for the run.")
    if not out.is_dir() or not any(out.iterdir()):
        return None
    others = foreign_entries(out)
    if others or not is_run(out):
        what = f"it holds {others[:5]}" if others else f"it has no {CONFIG} written by a run"
        raise NotARunError(
            f"{out}: not a run folder ({what}); nothing was changed. train.fit writes only into "
            "a new or empty folder, or a run folder it made (config.yaml, checkpoints/, logs/), "
            "and deletes nothing else. Choose another output folder.")
    ckpt = last_checkpoint(out)
    if resume:  # a run that never finished an epoch has nothing to resume: it starts again
        if ckpt is not None:
            check_recorded_paths(ckpt, out)
        return ckpt
    if overwrite:
        for entry in out.iterdir():  # foreign_entries() is empty: each one is the run's own
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        return None
    raise RunExistsError(
        f"{out}: already holds a run and was left untouched. Pass resume=True to continue it "
        "from its last checkpoint, overwrite=True to delete it and start again, or choose "
        "another output folder."
    )


def is_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a run written by :func:`fit`: its ``config.yaml`` starts with the
    header :func:`im2im_helpers.config.save` writes."""
    cfg = Path(path) / CONFIG
    if not cfg.is_file():
        return False
    with open(cfg, errors="replace") as f:
        return f.readline().startswith(run_config.HEADER.strip())


def foreign_entries(path: str | os.PathLike) -> list[str]:
    """Names in the folder ``path`` that a run does not write (sorted)."""
    return sorted(e.name for e in Path(path).iterdir() if e.name not in RUN_ENTRIES)


#: Keys of a ``ModelCheckpoint``'s saved state that hold file paths.
_PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")


def _model_checkpoint_states(ckpt: Path) -> list[dict]:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    return [v for k, v in state.get("callbacks", {}).items()
            if k.startswith("ModelCheckpoint") and isinstance(v, dict)]


def check_recorded_paths(ckpt: Path, out: Path) -> None:
    """Refuse a checkpoint whose saved callback state names files outside ``out``'s
    checkpoints folder: on resume Lightning would load them as the best weights, or delete
    them as outdated checkpoints."""
    inside = (out / CHECKPOINTS).resolve()
    for state in _model_checkpoint_states(ckpt):
        paths = [state.get(k) for k in _PATH_KEYS] + list(state.get("best_k_models") or {})
        for recorded in filter(None, paths):
            if Path(recorded).resolve().parent != inside:
                raise RunFolderError(
                    f"{ckpt}: records the checkpoint {recorded}, outside this run's "
                    f"{inside}. The run was moved, or the file edited; nothing was loaded. "
                    "Resume it from its original folder, or start a new run.")


def recorded_score(ckpt: Path, monitor: str = "val_loss") -> float:
    """The ``monitor`` score a best checkpoint was saved with (``inf`` when it has none)."""
    for state in _model_checkpoint_states(ckpt):
        if state.get("monitor") == monitor and state.get("current_score") is not None:
            return float(state["current_score"])
    return float("inf")


def keep_best(out: Path) -> Path | None:
    """The best checkpoint of the run folder ``out`` by its recorded validation loss; the
    other ``best-*`` files (left by an interrupted or resumed run) are deleted."""
    bests = sorted((out / CHECKPOINTS).glob("best-*.ckpt"))
    if not bests:
        return None
    scores = {p: recorded_score(p) for p in bests}
    keep = min(bests, key=scores.get)
    for p in bests:
        if p != keep:
            p.unlink()
    return keep


class EpochSeeds(L.Callback):
    """Seed every training epoch from ``(seed, epoch, rank)`` alone: torch's, NumPy's and
    Python's global random states (dropout, masks, noise) and the datamodule's patches (its
    ``set_epoch``). A run resumed at epoch ``e`` then trains as an uninterrupted one would."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch, rank = trainer.current_epoch, trainer.global_rank
        seed = epoch_seed(self.seed, epoch, GLOBAL_STREAM + rank)
        random.seed(seed)
        np.random.seed(seed)  # noqa: NPY002 - the legacy global state is what libraries draw on
        torch.manual_seed(seed)
        datamodule = trainer.datamodule
        if datamodule is not None and hasattr(datamodule, "set_epoch"):
            datamodule.set_epoch(epoch, rank)


#: The seed stream of the global random states in :func:`~im2im_helpers.data.patches.epoch_seed`
#: (the datamodule's patches use streams 0 and ``1 + rank``).
GLOBAL_STREAM = 1_000_000


def fit(
    task: L.LightningModule,
    datamodule: L.LightningDataModule,
    out: str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    restore_best: bool = True,
    callbacks: list | None = None,
    **overrides,
) -> Run:
    """Train ``task`` on ``datamodule`` into the run folder ``out``.

    The folder gets ``config.yaml`` (the run as a YAML file that ``python -m im2im_helpers
    train`` re-runs), a CSV log per attempt and checkpoints (``last.ckpt`` every epoch, the best
    by validation loss).

    Parameters
    ----------
    task, datamodule : LightningModule, LightningDataModule
        What to train, on what (see :mod:`im2im_helpers.tasks`, :func:`im2im_helpers.data.patches`).
    out : path-like
        Run folder. An existing run is never overwritten unless ``overwrite=True``.
    config : TrainConfig, optional
        How long and where to train (the ``train`` section of ``config.yaml``; its defaults
        when not given).
    resume : bool
        Continue from ``out/checkpoints/last.ckpt`` until ``max_epochs``.
    overwrite : bool
        Delete an existing run in ``out`` first.
    progress : bool
        Show a progress bar and Lightning's model summary.
    restore_best : bool
        Load the weights with the best validation loss into ``Run.model`` at the end.
    callbacks : list, optional
        Extra Lightning callbacks.
    **overrides
        Fields of :class:`~im2im_helpers.config.TrainConfig` to change: ``max_epochs``,
        ``max_steps``, ``max_time_s``, ``seed``, ``accelerator``, ``devices``, ``strategy``,
        ``num_nodes``, ``precision``, ``log_every_n_steps``.

    Returns
    -------
    Run
    """
    settings = with_overrides(TrainConfig, config, overrides, "train.fit")
    out = Path(out)
    main = system.is_main_process()
    if main:
        resume_from = _prepare_folder(out, resume, overwrite)
        out.mkdir(parents=True, exist_ok=True)
        run_config.save(run_config.from_objects(task, datamodule, settings), out / CONFIG,
                        overwrite=True)
    else:  # a process that Lightning's launcher started again: process 0 owns the folder
        resume_from = last_checkpoint(out) if resume else None

    L.seed_everything(settings.seed, workers=True, verbose=False)
    attempt = len(list((out / LOGS).glob("attempt-*")))
    has_val = bool(datamodule.val_dataloader())
    # Two checkpoints: "last" after every epoch (what resume needs), "best" by validation loss.
    last = ModelCheckpoint(dirpath=out / CHECKPOINTS, filename="last", monitor=None,
                           save_top_k=1, enable_version_counter=False)
    best = ModelCheckpoint(dirpath=out / CHECKPOINTS, filename="best-{epoch:03d}",
                           monitor="val_loss", save_top_k=1) if has_val else None
    # "best" saves before "last" at the end of an epoch, so last.ckpt records the best file
    # that exists (saved the other way round, it names the previous best, already deleted)
    s = settings
    with quiet_lightning():  # no banners, tips or library deprecations on a tutorial's page
        trainer = L.Trainer(
            default_root_dir=out,
            max_epochs=s.max_epochs,
            max_steps=s.max_steps,
            max_time=datetime.timedelta(seconds=s.max_time_s) if s.max_time_s else None,
            accelerator=s.accelerator,
            devices=s.devices,
            strategy=s.strategy,
            num_nodes=s.num_nodes,
            precision=s.precision,
            logger=CSVLogger(out, name=LOGS, version=f"attempt-{attempt}"),
            callbacks=[EpochSeeds(s.seed), *([best] if best else []), last,
                       *([TrainingBar()] if progress else []), *(callbacks or [])],
            enable_progress_bar=progress,
            enable_model_summary=False,  # the tutorials print the parameter count
            log_every_n_steps=s.log_every_n_steps,
            num_sanity_val_steps=0,
        )
        task.train()  # a task returned by an earlier fit is in eval mode; Lightning keeps modes
        with _threads_for(trainer):
            trainer.fit(task, datamodule=datamodule, ckpt_path=resume_from)
    if not (main and trainer.is_global_zero):  # the other processes leave the files alone
        return Run(out, task.eval(), resume_from, trainer)
    best_file = keep_best(out) if best is not None else None
    if restore_best and best_file is not None:
        state = torch.load(best_file, map_location="cpu", weights_only=True)
        task.load_state_dict(state["state_dict"])
    task.eval()
    attach_run(task, out)
    return Run(out, task, resume_from, trainer)


class TrainingBar(TQDMProgressBar):
    """One progress bar for the whole training (epoch, step, losses): a widget in JupyterLab,
    one final line on a built page. Validation runs without a bar of its own (Lightning draws
    a new one after every epoch)."""

    def __init__(self, refresh_rate: int = 10):
        # redraws every 10 steps: per-step redraws cost ~2 % of a small model's step
        super().__init__(refresh_rate=refresh_rate)

    def get_metrics(self, trainer, pl_module):
        shown = super().get_metrics(trainer, pl_module)
        shown.pop("v_num", None)  # the logger's version ("attempt-0") says nothing here
        return shown

    def init_validation_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)


#: Lightning's messages a tutorial page should not carry: banners ("GPU available", "Tip: ..."),
#: advice that does not apply to small runs, and deprecations inside the libraries.
QUIET_WARNINGS = (
    r".*smaller than the logging interval.*",
    r".*does not have many workers.*",
    r"Checkpoint directory .* exists and is not empty.*",
    r".*isinstance\(treespec, LeafSpec\).*",
    r".*GPU available but not used.*",
)


@contextlib.contextmanager
def quiet_lightning():
    """Within the block, Lightning's information banners and the warnings of
    :data:`QUIET_WARNINGS` are not shown (the logging level and warning filters are restored
    afterwards); warnings about the user's own run still are."""
    with system.logger_level("lightning.pytorch", logging.WARNING), warnings.catch_warnings():
        for pattern in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        yield


@contextlib.contextmanager
def _threads_for(trainer: L.Trainer):
    """Torch threads per process while training on several CPU processes, so that processes x
    threads do not exceed the cores (:func:`~im2im_helpers.system.threads_per_process`); the
    caller's setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, system.threads_per_process(trainer.num_devices)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def attach_run(task: L.LightningModule, path: str | os.PathLike) -> None:
    """Let ``task`` write hyperparameters it tunes after training (for example the clustering
    thresholds of :meth:`~im2im_helpers.tasks.InstanceEmbedding.tune_clustering`) into the run
    folder ``path`` (see :func:`save_hparams`)."""
    if hasattr(task, "persist_hparams"):
        task.persist_hparams = functools.partial(save_hparams, path)


def save_hparams(path: str | os.PathLike, task: L.LightningModule) -> None:
    """Write ``task``'s current hyperparameters into the run folder ``path``: into every
    checkpoint (so :func:`load_run_model` rebuilds the task with them) and into
    ``config.yaml``'s ``task.hparams`` (so the file, the checkpoints and the object agree).
    Each file is replaced atomically."""
    path = Path(path)
    values = dict(task.hparams)
    for ckpt in sorted((path / CHECKPOINTS).glob("*.ckpt")):
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        state["hyper_parameters"] = {**state.get("hyper_parameters", {}), **values}
        io.write_bytes(ckpt, lambda f, s=state: torch.save(s, f))
    if (path / CONFIG).is_file():
        cfg = run_config.load(path / CONFIG)
        cfg.task.hparams = hyperparameters(task)
        run_config.save(cfg, path / CONFIG, overwrite=True)


def load_run_model(path: str | os.PathLike, task_class: type[L.LightningModule],
                   which: str = "best") -> L.LightningModule:
    """Load a trained task from a run folder: its ``"best"`` checkpoint (falling back to the
    last) or its ``"last"``."""
    path = Path(path)
    best = sorted((path / CHECKPOINTS).glob("best-*.ckpt"))
    ckpt = best[-1] if which == "best" and best else last_checkpoint(path)
    if ckpt is None:
        raise FileNotFoundError(f"{path}: no checkpoint in {path / CHECKPOINTS}; train first.")
    model = task_class.load_from_checkpoint(ckpt, map_location="cpu")
    attach_run(model, path)
    return model.eval()
