"""An MMV_Im2Im network entry (``module_name``/``func_name``/``params``, or a GAN generator's
``type``/``params``) as the arguments of :func:`im2im_helpers.models.build` that make the very
same network, or the reason why none do.

MMV_Im2Im builds ``getattr(module, func_name)(**params)``: parameters it does not give take the
class's defaults. For MONAI's networks the mapping therefore resolves every parameter against
the class's signature, hands those our builder takes on to it (explicitly, since our defaults
differ, e.g. ``num_res_units``) and requires every other one to be MONAI's default, which is
what our builder uses. MMV_Im2Im's copies of pytorch_fnet's FNet (``fnet_nn_2d.Net``,
``fnet_nn_3d.Net``) map onto ``models.build("fnet")`` with their ``depth`` and ``mult_chan``
(:data:`FNET_MODULES`). Anything else is an
:class:`~im2im_helpers.pretrained.errors.UnmappableError` that says which parameter or
architecture is the obstacle.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field

from monai.networks import nets
from torch import nn

from im2im_helpers import models
from im2im_helpers.pretrained.errors import ConfigError, UnmappableError

MONAI_NETS = "monai.networks.nets"
#: The channel and size arguments every mapped network has.
SHAPE = ("spatial_dims", "in_channels", "out_channels")

#: MONAI classes with a builder in :data:`im2im_helpers.models.BUILDERS`, and the parameters
#: that builder passes on (under the same names) to the class.
PASSED_ON: dict[type, tuple[str, tuple[str, ...]]] = {
    nets.UNet: ("unet", ("channels", "strides", "num_res_units", "norm", "dropout")),
    nets.AttentionUnet: ("attention_unet", ("channels", "strides", "dropout")),
    nets.BasicUNet: ("basic_unet", ("features", "norm", "dropout")),
}

#: GAN generator ``type`` values of MMV_Im2Im (``mmv_im2im.models.nets.gans``) that are plain
#: MONAI networks.
GENERATOR_TYPES = {"predefined_unet": "UNet"}

#: MMV_Im2Im's modules holding pytorch_fnet's U-Net as ``Net`` (built by
#: ``models.build("fnet")``): the spatial dimensions, and the parameters ``Net`` takes with
#: their defaults. The 2D ``Net`` always has one input and one output channel;
#: ``fnet_nn_3d_params`` is the 3D module's earlier name (the same network).
FNET_MODULES: dict[str, tuple[int, dict[str, int]]] = {
    "mmv_im2im.models.nets.fnet_nn_2d": (2, {"depth": 4, "mult_chan": 32}),
    "mmv_im2im.models.nets.fnet_nn_3d": (3, {"depth": 4, "mult_chan": 32, "in_channels": 1,
                                             "out_channels": 1}),
    "mmv_im2im.models.nets.fnet_nn_3d_params": (3, {"depth": 4, "mult_chan": 32,
                                                    "in_channels": 1, "out_channels": 1}),
}
#: The FNet modules' network class.
FNET_CLASS = "Net"

#: What the networks we do not have are, by the start of their ``module.function`` name.
FOREIGN = {
    "mmv_im2im.models.nets.BranchedERFNet": "ERFNet with two decoder branches (EmbedSeg's "
                                            "network)",
    "aicsmlsegment.": "aicsmlsegment's anisotropic 3D U-Net",
    "predefined_resnet": "MMV_Im2Im's ResNet generator (CycleGAN's)",
    "generic_encoder_decoder": "MMV_Im2Im's configurable encoder-decoder generator",
    "mmv_im2im.models.nets": "a network of MMV_Im2Im",
}


@dataclass(frozen=True)
class NetworkMapping:
    """The :func:`im2im_helpers.models.build` call that makes an MMV_Im2Im network.

    Attributes
    ----------
    source : str
        What the configuration names, e.g. ``"monai.networks.nets.UNet"``.
    name : str
        Our builder's name (``"unet"``, ``"attention_unet"``, ...).
    dims, in_channels, out_channels : int
        As for :func:`~im2im_helpers.models.build`.
    options : dict
        The builder's options.
    """

    source: str
    name: str
    dims: int
    in_channels: int
    out_channels: int
    options: dict = field(default_factory=dict)

    def build(self) -> nn.Module:
        """The network (fresh weights), with its ``im2im_spec``."""
        return models.build(self.name, self.dims, self.in_channels, self.out_channels,
                            **self.options)

    def __str__(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return (f"models.build({self.name!r}, dims={self.dims}, in_channels={self.in_channels}, "
                f"out_channels={self.out_channels}{options})")


def plain(value):
    """``value`` with enums as their values and tuples as lists, recursively (how YAML and
    ``im2im_spec`` hold it)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _same(a, b) -> bool:
    """Equal as configuration values: layer names compare without case (MONAI looks them up
    in upper case), numbers by value."""
    a, b = plain(a), plain(b)
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def describe(entry: Mapping) -> str:
    """``module.function`` (or the generator ``type``) an MMV_Im2Im network entry names."""
    if "type" in entry:
        return str(entry["type"])
    return f"{entry.get('module_name', '?')}.{entry.get('func_name', '?')}"


def map_network(entry: Mapping) -> NetworkMapping:
    """The :func:`~im2im_helpers.models.build` arguments that make the network of ``entry``.

    Parameters
    ----------
    entry : dict
        An MMV_Im2Im network entry: ``model.net`` of a configuration, or its ``generator``.

    Returns
    -------
    NetworkMapping

    Raises
    ------
    UnmappableError
        If the architecture is not one of our builder's, or it is but with a parameter our
        builder does not take (the message names them).
    ConfigError
        If an FNet's ``depth``, ``mult_chan`` or channels are not whole numbers in range.
    """
    source = describe(entry)
    if "type" in entry and entry["type"] in GENERATOR_TYPES:
        module, func = MONAI_NETS, GENERATOR_TYPES[entry["type"]]
    else:
        module, func = entry.get("module_name"), entry.get("func_name")
    if module in FNET_MODULES:
        return _map_fnet(source, module, func, dict(entry.get("params") or {}))
    cls = getattr(nets, func, None) if module == MONAI_NETS and isinstance(func, str) else None
    if cls is not None and cls is nets.DynUNet:
        return _map_dynunet(source, dict(entry.get("params") or {}))
    if cls is None or cls not in PASSED_ON:
        raise UnmappableError(f"its network {source} is {_what(source, cls)}, not one of "
                              f"models.build's ({_ours()})")
    name, passed = PASSED_ON[cls]
    defaults, resolved = _resolve(cls, dict(entry.get("params") or {}), source)
    fixed = [k for k in resolved if k not in (*SHAPE, *passed)]
    different = [f"{k}={plain(resolved[k])!r} (ours keeps MONAI's default "
                 f"{plain(defaults[k])!r})" for k in fixed if not _same(resolved[k], defaults[k])]
    if different:
        raise UnmappableError(f"its network {source} sets {', '.join(different)}, which "
                              f"models.build({name!r}) cannot")
    return NetworkMapping(source, name, int(resolved["spatial_dims"]),
                          int(resolved["in_channels"]), int(resolved["out_channels"]),
                          {k: plain(resolved[k]) for k in passed})


def _ours() -> str:
    names = {cls: name for cls, (name, _) in PASSED_ON.items()} | {nets.DynUNet: "dyn_unet"}
    return ", ".join([*(f"{n} = MONAI {c.__name__}" for c, n in names.items()),
                      "fnet = MMV_Im2Im's fnet_nn_2d/3d.Net (pytorch_fnet)"])


def _what(source: str, cls: type | None) -> str:
    if cls is not None:
        return f"MONAI's {cls.__name__}"
    for prefix, what in FOREIGN.items():
        if source.startswith(prefix):
            return what
    return "a network we do not know"


def _resolve(cls: type, params: dict, source: str) -> tuple[dict, dict]:
    """MONAI's defaults of ``cls`` and the parameters ``cls(**params)`` ends up with."""
    if "dimensions" in params and "spatial_dims" not in params:  # MONAI < 1.3 spelling
        params["spatial_dims"] = params.pop("dimensions")
    params.pop("task", None)  # MMV_Im2Im >= 0.6 reads (and removes) it before building
    signature = inspect.signature(cls)
    unknown = sorted(set(params) - set(signature.parameters))
    if unknown:
        raise UnmappableError(f"its network {source} has parameters {unknown} that MONAI "
                              f"{cls.__name__} does not take")
    defaults = {k: p.default for k, p in signature.parameters.items()
                if p.default is not inspect.Parameter.empty}
    missing = [k for k in signature.parameters if k not in params and k not in defaults]
    if missing:
        raise UnmappableError(f"its network {source} does not give {missing}")
    return defaults, {**defaults, **params}


def _isotropic(value, dims: int) -> int | None:
    """The one size of a per-axis value (``2`` or ``[2, 2, 2]``), or ``None`` if it varies."""
    sizes = list(value) if isinstance(value, (list, tuple)) else [value] * dims
    return int(sizes[0]) if len(set(sizes)) == 1 and len(sizes) == dims else None


def _map_dynunet(source: str, params: dict) -> NetworkMapping:
    """DynUNet: our builder takes isotropic kernels, a first level at full resolution and
    halving ones below (nnU-Net's layout), ``filters``, ``norm`` and ``res_block``."""
    defaults, resolved = _resolve(nets.DynUNet, params, source)
    dims = int(resolved["spatial_dims"])
    strides = [_isotropic(s, dims) for s in resolved["strides"]]
    kernels = {_isotropic(k, dims) for k in resolved["kernel_size"]}
    reasons = []
    if strides != [1] + [2] * (len(strides) - 1):
        reasons.append(f"strides={plain(resolved['strides'])!r} (ours: 1, then 2 per level)")
    if len(kernels) != 1 or None in kernels:
        reasons.append(f"kernel_size={plain(resolved['kernel_size'])!r} (ours: one size for "
                       "all levels and axes)")
    up = [_isotropic(u, dims) for u in resolved["upsample_kernel_size"]]
    if up != [2] * (len(strides) - 1):
        reasons.append(f"upsample_kernel_size={plain(resolved['upsample_kernel_size'])!r} "
                       "(ours: the strides below the first level)")
    for key in ("dropout", "act_name", "deep_supervision", "deep_supr_num", "trans_bias"):
        if not _same(resolved[key], defaults[key]):
            reasons.append(f"{key}={plain(resolved[key])!r} (ours keeps MONAI's default "
                           f"{plain(defaults[key])!r})")
    if reasons:
        raise UnmappableError(f"its network {source} sets {', '.join(reasons)}, which "
                              "models.build('dyn_unet') cannot")
    filters = resolved["filters"] or [min(2 ** (5 + i), 320 if dims == 3 else 512)
                                      for i in range(len(strides))]  # MONAI's default
    return NetworkMapping(source, "dyn_unet", dims, int(resolved["in_channels"]),
                          int(resolved["out_channels"]),
                          {"filters": plain(filters), "kernel_size": kernels.pop(),
                           "norm": plain(resolved["norm_name"]),
                           "res_block": bool(resolved["res_block"])})


def _map_fnet(source: str, module: str, func, params: dict) -> NetworkMapping:
    """MMV_Im2Im's copy of pytorch_fnet's U-Net: ``models.build("fnet")`` with the same
    ``depth``, ``mult_chan`` and channels (the class's defaults where not given)."""
    dims, defaults = FNET_MODULES[module]
    if func != FNET_CLASS:
        raise UnmappableError(f"its network {source} is not {module}.{FNET_CLASS}, the only "
                              "network of that module")
    params.pop("task", None)  # MMV_Im2Im >= 0.6 reads (and removes) it before building
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise UnmappableError(f"its network {source} has parameters {unknown} that "
                              f"{module}.{FNET_CLASS} does not take (it takes {sorted(defaults)})")
    resolved = {**defaults, **params}
    wrong = [f"{k}={v!r}" for k, v in resolved.items()
             if isinstance(v, bool) or not isinstance(v, int) or v < (0 if k == "depth" else 1)]
    if wrong:
        raise ConfigError(f"its network {source} sets {', '.join(wrong)}; expected whole "
                          "numbers (depth >= 0, the others >= 1)")
    return NetworkMapping(source, "fnet", dims, resolved.get("in_channels", 1),
                          resolved.get("out_channels", 1),
                          {"depth": resolved["depth"], "mult_chan": resolved["mult_chan"]})
