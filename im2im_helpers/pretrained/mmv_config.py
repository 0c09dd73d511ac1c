"""Read an MMV_Im2Im configuration (its YAML layout) into what prediction needs: the framework,
the network(s) under their state-dict prefixes, the input normalisation, the sliding window and
how outputs become masks.

MMV_Im2Im's layout (``paper_configs/*.yaml``)::

    model:
      framework: FCN | pix2pix | cyclegan | embedseg
      net: {module_name, func_name, params}               # FCN, embedseg
      net: {generator: {...}, discriminator: {...}}        # pix2pix, cyclegan
      model_extra: {sliding_window_params: {roi_size, overlap, ...}, inference_direction: AtoB}
      criterion: {module_name, func_name, params}          # training configurations
    data:
      preprocess: [{module_name, func_name, params}, ...]
      postprocess: [{module_name, func_name, params}, ...] # inference configurations

Its LightningModules (``mmv_im2im/models/pl_<framework>.py``) hold the network as ``self.net``
(FCN, embedseg), ``self.generator`` (pix2pix) or ``self.generator_model_image_AtoB`` and
``..._BtoA`` (cyclegan), so a checkpoint's ``state_dict`` keys start with those names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from im2im_helpers.pretrained.errors import ConfigError
from im2im_helpers.pretrained.normalization import Normalization, from_preprocess

#: State-dict prefixes of the networks each MMV_Im2Im framework holds, in its order.
PREFIXES = {
    "FCN": ("net",),
    "embedseg": ("net",),
    "pix2pix": ("generator",),
    "cyclegan": ("generator_model_image_AtoB", "generator_model_image_BtoA"),
}
#: Loss names of segmentation criteria (MONAI's Dice/focal/Tversky losses, cross-entropy).
SEGMENTATION_LOSS = re.compile(r"dice|focal|tversky|crossentropy|bce", re.IGNORECASE)


@dataclass(frozen=True)
class MMVConfig:
    """What prediction needs from an MMV_Im2Im configuration.

    Attributes
    ----------
    origin : str
        The file it was read from, or a description.
    framework : str
        ``model.framework`` (``"FCN"``, ``"pix2pix"``, ``"cyclegan"``, ``"embedseg"``, ...).
    networks : dict
        State-dict prefix -> MMV_Im2Im network entry (``{"net": {...}}``; the generators of a
        GAN; the discriminators are not needed for prediction).
    normalization : Normalization
        The input normalisation of ``data.preprocess``.
    roi : tuple of int or None
        ``sliding_window_params.roi_size``: the window MMV_Im2Im predicted with.
    overlap : float or None
        ``sliding_window_params.overlap``.
    direction : str
        CycleGAN's ``inference_direction`` (``"AtoB"`` unless the configuration says
        ``"BtoA"``).
    segmentation : bool
        Whether the network segments: its criterion is a segmentation loss or its
        postprocessing extracts a segmentation.
    threshold : dict or None
        ``{"channel": c, "cutoff": t}`` of MMV_Im2Im's ``extract_segmentation``
        postprocessing: the mask is channel ``c`` of the output above ``t`` (a number, or the
        name of a ``skimage.filters`` threshold such as ``"otsu"``).
    """

    origin: str
    framework: str
    networks: dict[str, Mapping] = field(repr=False)
    normalization: Normalization = Normalization()
    roi: tuple[int, ...] | None = None
    overlap: float | None = None
    direction: str = "AtoB"
    segmentation: bool = False
    threshold: dict | None = None


def read_yaml(path: str | os.PathLike) -> dict:
    """An MMV_Im2Im YAML configuration file as a dictionary (:class:`ConfigError` naming the
    file if it is missing or not YAML)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file. Pass the MMV_Im2Im YAML the "
                          "checkpoint was trained or predicted with (its paper_configs/ folder "
                          "has one per application).")
    try:
        values = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: is not a YAML file ({err}).") from err
    return values


def parse(values: Mapping, origin: str) -> MMVConfig:
    """An MMV_Im2Im configuration (as read from its YAML) as an :class:`MMVConfig`.

    Parameters
    ----------
    values : dict
        The configuration, with at least ``model.framework`` and ``model.net``.
    origin : str
        Its file name or a description, for error messages.

    Returns
    -------
    MMVConfig

    Raises
    ------
    ConfigError
        If the layout is not MMV_Im2Im's.
    """
    model = values.get("model") if isinstance(values, Mapping) else None
    if not isinstance(model, Mapping) or "framework" not in model or "net" not in model:
        raise ConfigError(f"{origin}: expected MMV_Im2Im's layout, a 'model' section with "
                          "'framework' and 'net' (see its paper_configs/*.yaml).")
    framework = str(model["framework"])
    net = model["net"]
    if not isinstance(net, Mapping):
        raise ConfigError(f"{origin}: model.net must be a mapping.")
    gan = "generator" in net
    if gan and not isinstance(net["generator"], Mapping):
        raise ConfigError(f"{origin}: model.net.generator must be a mapping.")
    prefixes = PREFIXES.get(framework, ("generator",) if gan else ("net",))
    networks = {p: dict(net["generator"] if gan else net) for p in prefixes}
    data = values.get("data") or {}
    extra = model.get("model_extra") or {}
    window = extra.get("sliding_window_params") or {}
    threshold = _threshold(data.get("postprocess"))
    criterion = model.get("criterion") or {}
    segmentation = threshold is not None or bool(
        SEGMENTATION_LOSS.search(str(criterion.get("func_name", ""))))
    direction = str(extra.get("inference_direction", "AtoB"))
    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"{origin}: model_extra.inference_direction is {direction!r}; "
                          "expected 'AtoB' or 'BtoA'.")
    return MMVConfig(
        origin=origin, framework=framework, networks=networks,
        normalization=from_preprocess(data.get("preprocess"), origin),
        roi=tuple(int(r) for r in window["roi_size"]) if window.get("roi_size") else None,
        overlap=float(window["overlap"]) if "overlap" in window else None,
        direction=direction, segmentation=segmentation, threshold=threshold)


def _threshold(postprocess) -> dict | None:
    for step in postprocess or ():
        if isinstance(step, Mapping) and step.get("func_name") == "extract_segmentation":
            params = step.get("params") or {}
            return {"channel": int(params.get("channel", 0)), "cutoff": params.get("cutoff")}
    return None
