"""MMV_Im2Im checkpoints as tasks of this package: read the weights safely, build the same
network with :func:`im2im_helpers.models.build`, load the weights strictly and wrap the network
in the task of its framework, ready for :func:`im2im_helpers.predict.image`.

An MMV_Im2Im checkpoint is a PyTorch Lightning checkpoint: a dictionary whose ``state_dict``
holds the LightningModule's weights, keys prefixed by the attribute holding the network
(``net.``, ``generator.``, ...; see :mod:`~im2im_helpers.pretrained.mmv_config`). It carries no
configuration (MMV_Im2Im's modules save no hyperparameters): the network is described by the
YAML configuration it was trained with, given to :func:`load` or, for the paper's model archive,
taken from :data:`~im2im_helpers.pretrained.paper.PAPER_CONFIGS`.

Frameworks and tasks: ``FCN`` -> :class:`~im2im_helpers.tasks.Supervised` (regression, or
segmentation with softmax/sigmoid outputs when the configuration segments); ``pix2pix`` ->
:class:`~im2im_helpers.tasks.Pix2Pix` (generator loaded; its discriminator is not, prediction
does not need it); ``cyclegan`` -> :class:`~im2im_helpers.tasks.CycleGAN` (both generators
loaded, the inference direction first). ``embedseg`` is not mapped.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import nn

from im2im_helpers import predict
from im2im_helpers.data import registry
from im2im_helpers.pretrained import mmv_config, paper
from im2im_helpers.pretrained.errors import (
    CheckpointError,
    ConfigError,
    PretrainedError,
    UnmappableError,
)
from im2im_helpers.pretrained.mapping import NetworkMapping, describe, map_network
from im2im_helpers.pretrained.normalization import Normalization
from im2im_helpers.tasks import CycleGAN, Pix2Pix, Supervised

#: The registry entry of the paper's model archive.
ARCHIVE = "mmv-im2im-models"
#: File name ending of a checkpoint.
SUFFIX = ".ckpt"
#: Frameworks whose networks map onto a task of this package.
FRAMEWORKS = ("FCN", "pix2pix", "cyclegan")
#: Where the per-checkpoint documentation lives.
DOCUMENTED_IN = "data_registry/mmv-im2im-models.yaml"


@dataclass
class Pretrained:
    """An MMV_Im2Im checkpoint loaded into a task of this package.

    Attributes
    ----------
    task : lightning.LightningModule
        The task holding the loaded network(s), in evaluation mode: pass it to
        :func:`im2im_helpers.predict.image` or :func:`~im2im_helpers.predict.file`.
    normalization : Normalization
        The input normalisation of the checkpoint's configuration; :meth:`predict` applies it.
    network : NetworkMapping
        The :func:`~im2im_helpers.models.build` call that made the (first) network.
    checkpoint : pathlib.Path
        The checkpoint file.
    config : str
        Where the configuration came from.
    framework : str
        MMV_Im2Im's framework (``"FCN"``, ``"pix2pix"``, ``"cyclegan"``).
    application : str or None
        The paper's application (:data:`~im2im_helpers.pretrained.paper.PAPER_CONFIGS` key),
        when the configuration is the paper's.
    tutorial : str or None
        The tutorial of this repository for that application.
    roi : tuple of int or None
        The window MMV_Im2Im predicted with (``None``: the whole image at once).
    overlap : float
        Overlap of neighbouring windows.
    threshold : dict or None
        ``{"channel": c, "cutoff": t}`` when MMV_Im2Im turned outputs into a mask as
        ``output[c] > t``, ``t`` applied to the raw network output (before any softmax).
    """

    task: L.LightningModule
    normalization: Normalization
    network: NetworkMapping
    checkpoint: Path
    config: str
    framework: str
    application: str | None = None
    tutorial: str | None = None
    roi: tuple[int, ...] | None = None
    overlap: float = 0.25
    threshold: dict | None = None

    def predict(self, x: np.ndarray, normalize: bool = True, **options) -> np.ndarray:
        """Normalise an image as MMV_Im2Im did and predict it with sliding windows.

        Parameters
        ----------
        x : numpy.ndarray
            ``(C, Y, X)`` or ``(C, Z, Y, X)``, raw intensities.
        normalize : bool
            Apply :attr:`normalization` first (``False``: ``x`` is already normalised).
        **options
            For :func:`im2im_helpers.predict.image` (``roi``, ``overlap``, ``tta``,
            ``device``, ...); ``roi`` and ``overlap`` default to the configuration's.

        Returns
        -------
        numpy.ndarray
            The prediction (float32): regression outputs as they are, segmentation outputs as
            probabilities.
        """
        x = self.normalization(x) if normalize else np.asarray(x, dtype=np.float32)
        options = {"roi": self.roi, "overlap": self.overlap, **options}
        return predict.image(self.task, x, **options)

    def __str__(self) -> str:
        where = f"{self.application} (tutorial {self.tutorial})" if self.application else \
            self.config
        return (f"{self.checkpoint.name}: MMV_Im2Im {self.framework} -> "
                f"{type(self.task).__name__} with {self.network}; {where}; input "
                f"normalisation: {self.normalization}")


@dataclass(frozen=True)
class CatalogEntry:
    """One checkpoint of the paper's model archive and whether it maps onto our networks.

    Attributes
    ----------
    name : str
        Its path below ``models/`` without ``.ckpt`` (``"denoising/tribolium"``): the name
        :func:`paper_model` takes.
    path : pathlib.Path
        The file.
    application : str or None
        The paper's application its folder names, or ``None`` when none matches.
    tutorial : str or None
        This repository's tutorial for that application.
    network : str or None
        The network the application's configuration names.
    maps : bool
        Whether that network and framework map exactly onto ours (decided from the
        configuration; the weights are read only by :func:`load`).
    reason : str
        What it maps onto, or why it does not.
    note : str
        Anything else to know (e.g. an input normalisation that is not reproduced).
    """

    name: str
    path: Path
    application: str | None
    tutorial: str | None
    network: str | None
    maps: bool
    reason: str
    note: str = ""


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The weights of a Lightning checkpoint (``state_dict``) or of a bare state dict, loaded
    with ``torch.load(weights_only=True)`` onto the CPU.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.ckpt`` file.

    Returns
    -------
    dict
        Parameter name -> tensor, with the LightningModule's prefixes (``net.``, ...).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    CheckpointError
        If the file is not a readable checkpoint (cut short, corrupt), holds objects that are
        not unpickled for safety, or has no ``state_dict`` of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file.")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if unsafe:
            raise CheckpointError(
                f"{path}: holds an object of type {unsafe.group(1)} besides its weights; "
                "checkpoints are read with torch.load(weights_only=True), which never runs code "
                "from a file, and so refuses it. From a copy you trust, save the state_dict "
                "alone: torch.save({'state_dict': ckpt['state_dict']}, path).") from err
        raise _corrupt(path, err) from err
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise _corrupt(path, err) from err
    state = content.get("state_dict", content) if isinstance(content, Mapping) else None
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        found = sorted(content)[:8] if isinstance(content, Mapping) else type(content).__name__
        raise CheckpointError(f"{path}: expected a Lightning checkpoint with a 'state_dict' of "
                              f"tensors (MMV_Im2Im's .ckpt), found {found}.")
    return dict(state)


def _corrupt(path: Path, err: Exception) -> CheckpointError:
    first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return CheckpointError(
        f"{path}: cannot be read as a PyTorch checkpoint ({first}). It is probably cut short or "
        "damaged: delete it and fetch it again (for the paper's archive: delete the "
        f"'{ARCHIVE}' folder of the data cache and run registry.fetch('{ARCHIVE}')).")


def plan(config: mmv_config.MMVConfig) -> dict[str, NetworkMapping]:
    """Our networks for each network of an MMV_Im2Im configuration, by state-dict prefix.

    Raises
    ------
    UnmappableError
        If a network or the framework has no exact counterpart here (the message says why).
    """
    networks = {prefix: map_network(entry) for prefix, entry in config.networks.items()}
    if config.framework not in FRAMEWORKS:
        why = ("its outputs (offsets, sigmas and seeds on MMV_Im2Im's coordinate grid) are not "
               "checked to follow InstanceEmbedding's conventions"
               if config.framework == "embedseg" else "it has no counterpart among our tasks")
        raise UnmappableError(f"its framework {config.framework!r} is not mapped: {why}")
    return networks


def _task(config: mmv_config.MMVConfig, nets: dict[str, nn.Module]) -> L.LightningModule:
    if config.framework == "FCN":
        return Supervised(nets["net"], loss="dice_ce" if config.segmentation else "mse")
    if config.framework == "pix2pix":
        return Pix2Pix(nets["generator"])
    a_to_b, b_to_a = (nets[p] for p in mmv_config.PREFIXES["cyclegan"])
    if config.direction == "BtoA":
        a_to_b, b_to_a = b_to_a, a_to_b
    return CycleGAN(a_to_b, model_ba=b_to_a)


def _load_weights(net: nn.Module, state: Mapping[str, torch.Tensor], prefix: str, path: Path,
                  mapping: NetworkMapping, origin: str) -> None:
    """Load the weights under ``prefix.`` into ``net``, every key and shape matching."""
    start = prefix + "."
    weights = {k[len(start):]: v for k, v in state.items() if k.startswith(start)}
    if not weights:
        prefixes = sorted({k.split(".", 1)[0] for k in state})
        raise CheckpointError(f"{path}: has no weights under '{start}' (its weights are under "
                              f"{prefixes}); the configuration {origin} describes another "
                              "framework. Pass the configuration this checkpoint was trained "
                              "with.")
    expected = net.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    shapes = [f"{k} is {tuple(weights[k].shape)} in the file but {tuple(expected[k].shape)} in "
              "the network" for k in expected if k in weights
              and weights[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        problems = []
        if missing:
            problems.append(f"{len(missing)} weights missing (e.g. {missing[:3]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        problems += shapes[:3]
        raise CheckpointError(
            f"{path}: its '{start}' weights do not fit {mapping} (from {origin}): "
            f"{'; '.join(problems)}. The configuration does not describe this checkpoint: pass "
            "the one it was trained with.")
    net.load_state_dict(weights, strict=True)


def configuration(config: str | os.PathLike | Mapping | None,
                  checkpoint: str | os.PathLike | None = None
                  ) -> tuple[mmv_config.MMVConfig, paper.PaperConfig | None]:
    """An MMV_Im2Im configuration from a YAML file, a dictionary, the name of one of the
    paper's applications, or (``None``) the paper's application the checkpoint's path names.

    Returns
    -------
    tuple
        The parsed configuration, and the paper's application when it is one.

    Raises
    ------
    ConfigError
        If no configuration is found or it is not in MMV_Im2Im's layout.
    """
    if isinstance(config, Mapping):
        return mmv_config.parse(config, "the configuration passed in"), None
    if config is None:
        where = Path(checkpoint).as_posix() if checkpoint is not None else ""
        found = paper.match("/".join(Path(where).parts[-4:]))
        if found is None:
            raise ConfigError(
                f"{checkpoint}: no configuration given, and its path names none of the paper's "
                f"applications ({sorted(paper.PAPER_CONFIGS)}). Pass config= the MMV_Im2Im "
                "YAML it was trained with, or one of those names.")
        config = found.name
    if isinstance(config, str) and config in paper.PAPER_CONFIGS \
            and not Path(config).is_file():
        entry = paper.PAPER_CONFIGS[config]
        origin = f"the paper's {entry.name} configuration ({entry.source})"
        return mmv_config.parse(entry.config, origin), entry
    return mmv_config.parse(mmv_config.read_yaml(config), str(config)), None


def load(checkpoint: str | os.PathLike, config: str | os.PathLike | Mapping | None = None
         ) -> Pretrained:
    """Load an MMV_Im2Im checkpoint into the task of its framework.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        The ``.ckpt`` file.
    config : str, os.PathLike, dict or None
        Its MMV_Im2Im configuration: a YAML file in MMV_Im2Im's layout (an inference or a
        training configuration), the same as a dictionary, or the name of one of the paper's
        applications (:data:`~im2im_helpers.pretrained.paper.PAPER_CONFIGS`). ``None``: the
        application the checkpoint's folders name (``models/denoising/...`` ->
        ``"denoising_3d"``).

    Returns
    -------
    Pretrained
        The task (evaluation mode, on the CPU) with the checkpoint's weights, and how to
        normalise inputs for it.

    Raises
    ------
    UnmappableError
        If the network or framework has no exact counterpart here; the message names the file
        and the reason.
    CheckpointError
        If the file cannot be read, or its weights do not fit the configured network exactly
        (every key and shape must match).
    ConfigError
        If no configuration is found or it is not MMV_Im2Im's layout.
    FileNotFoundError
        If the checkpoint does not exist.

    Examples
    --------
    >>> model = pretrained.load("models/denoising/tribolium.ckpt")        # doctest: +SKIP
    >>> restored = model.predict(noisy_stack)        # (1, Z, Y, X) raw      # doctest: +SKIP
    """
    path = Path(checkpoint)
    config_used, application = configuration(config, path)
    try:
        networks = plan(config_used)
    except UnmappableError as err:
        raise UnmappableError(
            f"{path}: cannot be mapped onto im2im_helpers' networks: {err} (configuration: "
            f"{config_used.origin}). {DOCUMENTED_IN} lists which of the paper's checkpoints "
            "map.") from None
    except ConfigError as err:
        raise ConfigError(f"{config_used.origin}: {err}. Correct the configuration of "
                          f"{path}.") from None
    state = read_state_dict(path)
    nets = {}
    for prefix, mapping in networks.items():
        nets[prefix] = mapping.build()
        _load_weights(nets[prefix], state, prefix, path, mapping, config_used.origin)
    task = _task(config_used, nets).eval()
    return Pretrained(
        task=task, normalization=config_used.normalization,
        network=next(iter(networks.values())), checkpoint=path, config=config_used.origin,
        framework=config_used.framework,
        application=application.name if application else None,
        tutorial=application.tutorial if application else None, roi=config_used.roi,
        overlap=config_used.overlap if config_used.overlap is not None else 0.25,
        threshold=config_used.threshold)


def checkpoints(root: str | os.PathLike) -> list[tuple[str, Path]]:
    """``(name, path)`` of every ``.ckpt`` file below ``root`` (hidden folders skipped): the
    name is the path below the archive's ``models/`` folder (or below ``root``) without
    ``.ckpt``."""
    root = Path(root)
    found = []
    for path in sorted(root.rglob(f"*{SUFFIX}")):
        parts = path.relative_to(root).parts
        if any(p.startswith(".") for p in parts) or not path.is_file():
            continue
        if parts[0].endswith(".unpacked"):
            parts = parts[1:]
        if len(parts) > 1 and parts[0] == "models":
            parts = parts[1:]
        found.append(("/".join(parts)[: -len(SUFFIX)], path))
    return found


def _entry(name: str, path: Path) -> CatalogEntry:
    application = paper.match(f"models/{name}{SUFFIX}")
    if application is None:
        return CatalogEntry(name, path, None, None, None, False,
                            "its folders name none of the paper's applications: load it with "
                            "load(path, config=<the MMV_Im2Im YAML it was trained with>)")
    config, _ = configuration(application.name)
    network = describe(next(iter(config.networks.values())))
    try:
        networks = plan(config)
    except UnmappableError as err:
        return CatalogEntry(name, path, application.name, application.tutorial, network, False,
                            str(err))
    task = {"FCN": "Supervised (segmentation)" if config.segmentation else
            "Supervised (regression)", "pix2pix": "Pix2Pix (generator)",
            "cyclegan": "CycleGAN (both generators)"}[config.framework]
    note = (f"its input normalisation {list(config.normalization.unsupported)} is not "
            "reproduced: normalise inputs yourself" if config.normalization.unsupported else "")
    return CatalogEntry(name, path, application.name, application.tutorial, network, True,
                        f"{task} with {next(iter(networks.values()))}", note)


def catalog(root: str | os.PathLike | None = None, progress: bool = True
            ) -> list[CatalogEntry]:
    """Every checkpoint of the paper's model archive, its application and whether it maps.

    Parameters
    ----------
    root : str or os.PathLike, optional
        A folder holding the unpacked archive. By default the registry's ``mmv-im2im-models``
        entry is fetched (downloaded and hash-checked once, then read from the cache).
    progress : bool
        Show download progress.

    Returns
    -------
    list of CatalogEntry
        In path order.
    """
    folder = Path(root) if root is not None else registry.fetch(ARCHIVE, progress=progress)
    return [_entry(name, path) for name, path in checkpoints(folder)]


def paper_model(name: str, root: str | os.PathLike | None = None, progress: bool = True
                ) -> Pretrained:
    """Load one checkpoint of the paper's model archive by name.

    Parameters
    ----------
    name : str
        Its :attr:`CatalogEntry.name`, e.g. ``"denoising/tribolium"`` (a leading ``models/``
        and the ``.ckpt`` ending are accepted too).
    root, progress
        As for :func:`catalog`.

    Returns
    -------
    Pretrained

    Raises
    ------
    PretrainedError
        If the archive has no such checkpoint (the message lists those it has).
    UnmappableError
        If the checkpoint does not map (the message says why).
    """
    wanted = name.removeprefix("models/").removesuffix(SUFFIX)
    entries = catalog(root, progress)
    entry = next((e for e in entries if e.name == wanted), None)
    if entry is None:
        raise PretrainedError(f"{name!r} is not a checkpoint of the {ARCHIVE} archive; it has "
                              f"{[e.name for e in entries]}.")
    if not entry.maps:
        raise UnmappableError(f"{entry.path}: cannot be mapped onto im2im_helpers' networks: "
                              f"{entry.reason}. See {DOCUMENTED_IN}.")
    return load(entry.path, entry.application)


def table(entries: Sequence[CatalogEntry]) -> list[dict]:
    """Catalog entries as rows of plain values (for a ``pandas.DataFrame`` or printing)."""
    return [{"name": e.name, "application": e.application, "tutorial": e.tutorial,
             "network": e.network, "maps": e.maps, "reason": e.reason, "note": e.note}
            for e in entries]
