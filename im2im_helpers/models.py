"""Network factory over MONAI's nets, 2D and 3D, described by a plain dictionary."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import torch
from monai.networks import nets
from torch import nn


def _unet(dims, in_channels, out_channels, channels=(32, 64, 128, 256), strides=None,
          num_res_units=2, norm="INSTANCE", dropout=0.0):
    return nets.UNet(dims, in_channels, out_channels, channels=tuple(channels),
                     strides=tuple(strides or [2] * (len(channels) - 1)),
                     num_res_units=num_res_units, norm=norm, dropout=dropout)


def _basic_unet(dims, in_channels, out_channels, features=(32, 32, 64, 128, 256, 32),
                norm="instance", dropout=0.0):
    return nets.BasicUNet(dims, in_channels, out_channels, features=tuple(features),
                          norm=norm, dropout=dropout)


def _attention_unet(dims, in_channels, out_channels, channels=(32, 64, 128, 256), strides=None,
                    dropout=0.0):
    return nets.AttentionUnet(dims, in_channels, out_channels, channels=tuple(channels),
                              strides=tuple(strides or [2] * (len(channels) - 1)),
                              dropout=dropout)


def _dyn_unet(dims, in_channels, out_channels, filters=(32, 64, 128, 256), kernel_size=3,
              norm="INSTANCE", res_block=False):
    # nnU-Net style: the first level keeps the resolution, each further level halves it.
    depth = len(filters)
    strides = [1] + [2] * (depth - 1)
    return nets.DynUNet(dims, in_channels, out_channels, kernel_size=[kernel_size] * depth,
                        strides=strides, upsample_kernel_size=strides[1:],
                        filters=list(filters), norm_name=norm, res_block=res_block)


#: Network names accepted by :func:`build`, each mapped to a function of
#: ``(dims, in_channels, out_channels, **options)``.
BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "unet": _unet,
    "basic_unet": _basic_unet,
    "attention_unet": _attention_unet,
    "dyn_unet": _dyn_unet,
}


def build(name: str, dims: int, in_channels: int = 1, out_channels: int = 1, seed: int = 0,
          **options) -> nn.Module:
    """Build a MONAI network for 2D or 3D images.

    Parameters
    ----------
    name : {"unet", "basic_unet", "attention_unet", "dyn_unet"}
        Which network.
    dims : {2, 3}
        Spatial dimensions.
    in_channels, out_channels : int
        Channels of input and output.
    seed : int
        Seed of the initial weights (the global random state is left as it was).
    **options
        Network options such as ``channels=(32, 64, 128, 256)`` (UNet, AttentionUnet),
        ``features`` (BasicUNet) or ``filters`` (DynUNet).

    Returns
    -------
    torch.nn.Module
        The network; its ``im2im_spec`` attribute holds the arguments that rebuild it.
    """
    key = name.lower().replace("-", "_")
    if key not in BUILDERS:
        raise ValueError(f"Unknown network {name!r}; choose one of {sorted(BUILDERS)}.")
    if dims not in (2, 3):
        raise ValueError(f"dims={dims}: only 2D and 3D networks exist.")
    check_options(key, options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = BUILDERS[key](dims, in_channels, out_channels, **options)
    net.im2im_spec = {"name": key, "dims": dims, "in_channels": in_channels,
                      "out_channels": out_channels, "seed": seed, **_plain(options)}
    return net


def check_options(name: str, options: dict) -> None:
    """Raise ``ValueError`` if ``options`` holds a key that network ``name`` does not take."""
    if name not in BUILDERS:
        raise ValueError(f"Unknown network {name!r}; choose one of {sorted(BUILDERS)}.")
    allowed = set(inspect.signature(BUILDERS[name]).parameters) - {"dims", "in_channels",
                                                                    "out_channels"}
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(
            f"Network {name!r} has no option {sorted(unknown)}; its options are {sorted(allowed)}."
        )


def _plain(options: dict) -> dict:
    return {k: list(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
            for k, v in options.items()}


def size_divisor(spec: dict) -> int:
    """Factor every spatial size must be divisible by for a full-image pass of this network."""
    if spec["name"] == "basic_unet":
        return 16
    levels = len(spec.get("channels", spec.get("filters", (0, 0, 0, 0)))) - 1
    return 2**levels


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
