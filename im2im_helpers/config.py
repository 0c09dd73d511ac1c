"""A run as a YAML file: validated on load (unknown keys are errors), saved into the run folder.

``from_objects`` describes what a notebook built; ``build`` rebuilds the same objects from the
description, so ``python -m im2im_helpers train config.yaml`` repeats a notebook's run.

Each section is the dataclass that the code it configures takes, so a default is written once:
``data.load`` is :class:`~im2im_helpers.data.LoadConfig` (:func:`im2im_helpers.data.load`),
``data.split`` :class:`~im2im_helpers.data.splits.SplitConfig`, ``data.patches``
:class:`~im2im_helpers.data.patches.PatchConfig`, ``train`` :class:`TrainConfig`
(:func:`im2im_helpers.train.fit`); ``task.hparams`` are the task's own hyperparameters.
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from im2im_helpers import data, io, models, tasks
from im2im_helpers.data import LoadConfig, PatchConfig, SplitConfig
from im2im_helpers.data.patches import check_patch_config
from im2im_helpers.schema import SchemaError
from im2im_helpers.schema import from_dict as schema_from_dict

#: A configuration file is malformed: unknown key, wrong type or missing value.
ConfigError = SchemaError
#: First line of every saved configuration (a run folder is recognised by it).
HEADER = "# im2im run configuration: python -m im2im_helpers train <this file> --out <folder>\n"


@dataclass
class DataConfig:
    """Which pairs, read how, transformed how, divided how, sampled into which patches."""

    source: str = ""
    load: LoadConfig = field(default_factory=LoadConfig)
    transforms: list = field(default_factory=list)  # e.g. [{"kind": "foreground"}], in order
    split: SplitConfig = field(default_factory=SplitConfig)
    patches: PatchConfig = field(default_factory=PatchConfig)


@dataclass
class TaskConfig:
    """What is learned: the task's ``kind`` (a name of :data:`im2im_helpers.tasks.TASKS`) and
    its hyperparameters (arguments of its class; the class's defaults for those left out)."""

    kind: str = "supervised"
    hparams: dict = field(default_factory=dict)


@dataclass
class TrainConfig:
    """How long and where training runs: the settings of :func:`im2im_helpers.train.fit`.

    Attributes
    ----------
    max_epochs, max_steps : int
        Stop after this many epochs or optimizer steps (``-1``: no step limit).
    max_time_s : float or None
        Stop after this many seconds of training, whatever the epoch.
    seed : int
        Seed of everything else (weights, dropout, torch/numpy/Python, workers); the patches
        drawn are decided by ``data.patches.seed``.
    accelerator, devices, strategy, num_nodes, precision
        Passed to :class:`lightning.Trainer` (``"gpu"``, ``devices=4``, ``strategy="ddp"``,
        ``num_nodes=2``, ``precision="16-mixed"``, ...).
    log_every_n_steps : int
        How often step losses go into the CSV log.
    """

    max_epochs: int = 10
    max_steps: int = -1
    max_time_s: float | None = None
    seed: int = 0
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: Any = "32-true"
    log_every_n_steps: int = 10


@dataclass
class RunConfig:
    """A whole run: data, model (arguments of :func:`im2im_helpers.models.build`), task, train."""

    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=dict)
    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """Plain nested dictionaries (what is written to YAML)."""
        return tasks.plain(asdict(self))


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` (no dot) as text; a configuration means the number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def read_yaml(text: str):
    """Parse YAML as a configuration does (``1e-3`` is a number)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _check_values(cfg: RunConfig, origin: str) -> None:
    """Check the values that would otherwise fail only once training starts."""
    try:
        data.check_load_config(cfg.data.load)
        data.check_split_config(cfg.data.split)
        check_patch_config(cfg.data.patches)
    except ValueError as err:
        raise ConfigError(f"{origin}: {err}") from err
    dims = cfg.model.get("dims")
    if len(cfg.data.patches.patch) != dims:
        raise ConfigError(f"{origin}: data.patches.patch={cfg.data.patches.patch} has "
                          f"{len(cfg.data.patches.patch)} sizes but model.dims is {dims}: give "
                          "one size per spatial axis of the network.")
    if cfg.data.load.dims not in (None, dims):
        raise ConfigError(f"{origin}: data.load.dims={cfg.data.load.dims} but model.dims="
                          f"{dims}; make them agree.")
    devices = cfg.train.devices
    if not (devices == "auto" or (isinstance(devices, int) and not isinstance(devices, bool)
                                  and devices >= -1)
            or (isinstance(devices, list) and all(isinstance(d, int) for d in devices))):
        raise ConfigError(f"{origin}: train.devices={devices!r}: use auto, a count (1, 2, -1 "
                          "for all) or a list of device indices ([0, 1]).")
    try:
        models.build(**cfg.model)
    except Exception as err:  # MONAI's networks raise many unrelated types for bad arguments
        raise ConfigError(f"{origin}: model: cannot build {cfg.model!r} "
                          f"({type(err).__name__}: {err}).") from err


def from_dict(values: dict, origin: str = "<config>") -> RunConfig:
    """Validate nested dictionaries into a :class:`RunConfig` (``origin`` names them in errors).

    Besides keys and types, the values that could only fail later are checked here, before any
    data is read: patch sizes, the network's dimensionality against the patches, devices, and
    whether the network can be built from ``model``."""
    cfg = schema_from_dict(RunConfig, values, origin)
    for where, mapping in (("model", cfg.model), ("task.hparams", cfg.task.hparams),
                           ("data.load.options", cfg.data.load.options),
                           *((f"data.transforms[{i}]", step)
                             for i, step in enumerate(cfg.data.transforms)
                             if isinstance(step, dict))):
        if isinstance(mapping, dict) and not all(isinstance(k, str) for k in mapping):
            key = next(k for k in mapping if not isinstance(k, str))
            raise ConfigError(f"{origin}: {where}: the key {key!r} is not a name; the keys here "
                              "are names of arguments (text).")
    if not cfg.data.source:
        raise ConfigError(f"{origin}: 'data.source' is required (a sample name or a folder).")
    if not cfg.model or "name" not in cfg.model or "dims" not in cfg.model:
        raise ConfigError(
            f"{origin}: 'model' needs at least 'name' and 'dims' (arguments of models.build)."
        )
    options = {k: v for k, v in cfg.model.items()
               if k not in ("name", "dims", "in_channels", "out_channels", "seed")}
    for key, value in options.items():  # tuple({0: 2}) is (0,): a mapping is never meant here
        if isinstance(value, dict):
            raise ConfigError(f"{origin}: model.{key}={value!r}: a network option is a number, a "
                              "text or a list (e.g. strides: [2, 2]), not a mapping.")
    if not isinstance(options.get("activation"), (str, type(None))):
        raise ConfigError(f"{origin}: model.activation={options['activation']!r}: choose null or "
                          f"one of {sorted(models.ACTIVATIONS)}.")
    try:
        models.check_options(str(cfg.model["name"]), options)
    except ValueError as err:
        raise ConfigError(f"{origin}: model: {err}") from err
    for i, step in enumerate(cfg.data.transforms):
        if not isinstance(step, dict) or not isinstance(step.get("kind"), str):
            raise ConfigError(f"{origin}: data.transforms[{i}]={step!r}: each step is a mapping "
                              f"with a 'kind' (one of {sorted(data.transforms.TRANSFORMS)}) and "
                              "its options, e.g. {kind: foreground}.")
        try:
            data.check_transform(step)
        except ValueError as err:
            raise ConfigError(f"{origin}: {err}") from err
    if cfg.task.kind not in tasks.TASKS:
        raise ConfigError(f"{origin}: task.kind={cfg.task.kind!r}; choose one of "
                          f"{sorted(tasks.TASKS)}.")
    allowed = set(inspect.signature(tasks.TASKS[cfg.task.kind].__init__).parameters) - {
        "self", tasks.MODEL_KEY}
    unknown = set(cfg.task.hparams) - allowed
    if unknown:
        raise ConfigError(f"{origin}: task.hparams: {cfg.task.kind!r} has no hyperparameter "
                          f"{sorted(unknown)}; its hyperparameters are {sorted(allowed)}.")
    _check_values(cfg, origin)
    return cfg


def load(path: str | os.PathLike) -> RunConfig:
    """Read and validate a run configuration from YAML."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such configuration file.")
    try:
        values = read_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a text file in UTF-8 ({err}); a configuration is YAML "
                          "text. Check that this is the right file.") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err}).") from err
    return from_dict(values or {}, str(path))


def save(cfg: RunConfig, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``cfg`` as YAML, atomically; an existing file is kept unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists; pass overwrite=True to replace it.")
    text = HEADER + yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    return io.write_text(path, text)


def from_objects(task, datamodule, train: TrainConfig) -> RunConfig:
    """Describe the objects a notebook built (task, datamodule, ``fit``'s settings)."""
    pairs_cfg = datamodule.split.train.config
    source = pairs_cfg.get("source", {})
    norm = pairs_cfg.get("normalize")
    load_cfg = LoadConfig(
        normalize_percentiles=[norm["low"], norm["high"]] if norm else None,
        normalize_target=bool(norm["target"]) if norm else True,
        dims=len(datamodule.patch),
        options=dict(source.get("options") or {}),
    )
    split_cfg = SplitConfig(**{k: v for k, v in datamodule.split.config.items()})
    data_cfg = DataConfig(
        source=str(source.get("sample") or source.get("registry") or source.get("folder") or ""),
        load=load_cfg,
        transforms=list(pairs_cfg.get("transforms", [])),
        split=split_cfg,
        patches=datamodule.settings,
    )
    return RunConfig(data_cfg, dict(task.hparams.get(tasks.MODEL_KEY) or {}),
                     TaskConfig(task.KIND, tasks.hyperparameters(task)), train)


def build(cfg: RunConfig):
    """Rebuild ``(task, datamodule)`` from a configuration."""
    d = cfg.data
    pairs = data.apply_transforms(data.load(d.source, d.load), d.transforms)
    first = pairs[0]
    # a registration network takes two images (moving, fixed) of the pairs' channels; a
    # diffusion network the noisy target's channels too
    task_class = tasks.TASKS[cfg.task.kind]
    per_input = getattr(task_class, "IMAGES_PER_INPUT", 1)
    extra = cfg.model.get("out_channels", 1) if getattr(task_class, "TARGET_IN_INPUT",
                                                         False) else 0
    if (first.dims != cfg.model["dims"]
            or first.input.shape[0] * per_input + extra != cfg.model.get("in_channels", 1)):
        raise ConfigError(
            f"model: dims={cfg.model['dims']}, in_channels={cfg.model.get('in_channels', 1)} but "
            f"{d.source} holds {first.dims}D images with {first.input.shape[0]} input "
            f"channel(s) ({first.name}); set model.dims and model.in_channels to match.")
    split = data.split(pairs, d.split)
    dm = data.patches(split, d.patches)
    return build_task(cfg), dm


def build_task(cfg: RunConfig):
    """The task of a configuration, untrained: ``task.kind`` with ``task.hparams`` and the
    network of ``model``."""
    return tasks.TASKS[cfg.task.kind](cfg.model, **cfg.task.hparams)
