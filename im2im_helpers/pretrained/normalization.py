"""The input normalisation of an MMV_Im2Im configuration (its ``data.preprocess`` steps),
reproduced with the same MONAI transforms MMV_Im2Im applies before prediction.

Only intensity transforms of ``monai.transforms`` from an allow-list are run (no other module is
imported by name from a configuration). Steps that only change the array's type or pad it are
skipped: :func:`im2im_helpers.predict.image` pads and crops back by itself. Anything else (e.g.
MMV_Im2Im's own ``normalize_staining``) is recorded as unsupported, and applying the
normalisation then raises :class:`~im2im_helpers.pretrained.errors.UnsupportedPreprocessingError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai import transforms

from im2im_helpers.pretrained.errors import ConfigError, UnsupportedPreprocessingError

MONAI_TRANSFORMS = "monai.transforms"
#: MONAI intensity transforms that are reproduced.
INTENSITY = ("NormalizeIntensity", "ScaleIntensityRangePercentiles", "ScaleIntensityRange",
             "ScaleIntensity")
#: MONAI steps that only load, add a channel, change the type or pad: not needed before
#: ``predict.image`` (which pads to its windows and crops back).
SKIPPED = ("LoadImage", "AddChannel", "EnsureChannelFirst", "EnsureType", "CastToType",
           "ToTensor", "DivisiblePad", "SpatialPad")


@dataclass(frozen=True)
class Normalization:
    """How inputs are normalised before the network sees them.

    Calling it on a ``(C, Y, X)`` or ``(C, Z, Y, X)`` array returns the normalised array
    (float32), computed by the same MONAI transforms with the same parameters as MMV_Im2Im's
    prediction.

    Attributes
    ----------
    steps : tuple of (str, dict)
        The ``monai.transforms`` class names and their parameters, in order.
    unsupported : tuple of str
        Steps of the configuration that are not reproduced (``module.function``); calling
        raises while there are any.
    """

    steps: tuple[tuple[str, dict], ...] = ()
    unsupported: tuple[str, ...] = ()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Normalise one image, channels first.

        Parameters
        ----------
        x : numpy.ndarray
            ``(C, Y, X)`` or ``(C, Z, Y, X)``.

        Returns
        -------
        numpy.ndarray
            float32, same shape.

        Raises
        ------
        UnsupportedPreprocessingError
            If the configuration has a step this package does not reproduce.
        """
        if self.unsupported:
            raise UnsupportedPreprocessingError(
                f"The checkpoint's configuration normalises inputs with {list(self.unsupported)}, "
                "which im2im_helpers does not reproduce. Normalise the image the way that "
                "step does yourself and call predict.image(pretrained.task, x) on the result.")
        data = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
        for name, params in self.steps:
            data = getattr(transforms, name)(**params)(data)
        return np.asarray(torch.as_tensor(data).detach().cpu(), dtype=np.float32)

    @property
    def percentiles(self) -> tuple[float, float] | None:
        """``(low, high)`` when the normalisation is exactly
        :func:`im2im_helpers.data.pairs.percentile_normalize` of one channel (a single
        ``ScaleIntensityRangePercentiles`` onto [0, 1], unclipped): pass it as
        ``normalize_percentiles`` to :func:`im2im_helpers.predict.file`. Otherwise ``None``."""
        if len(self.steps) != 1 or self.steps[0][0] != "ScaleIntensityRangePercentiles":
            return None
        p = self.steps[0][1]
        plain = (p.get("b_min") == 0 and p.get("b_max") == 1 and not p.get("clip")
                 and not p.get("relative"))
        return (float(p["lower"]), float(p["upper"])) if plain else None

    def __str__(self) -> str:
        parts = [f"{name}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
                 for name, params in self.steps]
        parts += [f"{name} (not reproduced)" for name in self.unsupported]
        return " -> ".join(parts) or "none"


def from_preprocess(steps: Sequence[Mapping] | None, origin: str) -> Normalization:
    """The :class:`Normalization` of an MMV_Im2Im ``data.preprocess`` list.

    Both layouts are read: an inference configuration's array transforms
    (``NormalizeIntensity``), and a training configuration's dictionary transforms
    (``NormalizeIntensityd`` with ``keys``), of which only those applied to the input (``"IM"``)
    count. Random transforms (training augmentation) are ignored.

    Parameters
    ----------
    steps : sequence of dict or None
        Each with ``module_name``, ``func_name`` and optional ``params``.
    origin : str
        The configuration's file name or description, for error messages.

    Returns
    -------
    Normalization
    """
    kept: list[tuple[str, dict]] = []
    unsupported: list[str] = []
    for i, step in enumerate(steps or ()):
        if not isinstance(step, Mapping) or "func_name" not in step:
            raise ConfigError(f"{origin}: data.preprocess[{i}] is {step!r}; expected a mapping "
                              "with module_name, func_name and optional params.")
        module, name = step.get("module_name", ""), str(step["func_name"])
        params = dict(step.get("params") or {})
        if module == MONAI_TRANSFORMS and "keys" in params:  # a training config's dict step
            if "IM" not in list(params.pop("keys")):
                continue
            params.pop("allow_missing_keys", None)
            name = name[:-1] if name.endswith("d") else name
        if module == MONAI_TRANSFORMS and (name in SKIPPED or name.startswith("Rand")):
            continue
        if module == MONAI_TRANSFORMS and name in INTENSITY:
            kept.append((name, params))
        else:
            unsupported.append(f"{module}.{name}")
    return Normalization(tuple(kept), tuple(unsupported))
