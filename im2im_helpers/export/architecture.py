"""The network of an exported BioImage.IO package, rebuilt from MONAI and torch alone.

This file is copied into every package as its ``pytorch_state_dict`` architecture, so that a
consumer (bioimageio.core, napari, a notebook) can rebuild the network without installing
``im2im_helpers``: it imports nothing but ``torch`` and ``monai``. It builds the same modules as
:func:`im2im_helpers.models.build` (same MONAI classes and arguments, same parameter names), so
the trained weights load into it strictly; ``tests/export/test_architecture_file.py`` checks
that for every network :func:`~im2im_helpers.models.build` knows.
"""

from __future__ import annotations

import torch
from monai.networks import nets
from torch import nn


def _unet(dims, in_channels, out_channels, channels=(32, 64, 128, 256), strides=None,
          num_res_units=2, norm="INSTANCE", dropout=0.0, head_channels=None):
    body = nets.UNet(dims, in_channels, head_channels or out_channels, channels=tuple(channels),
                     strides=tuple(strides or [2] * (len(channels) - 1)),
                     num_res_units=num_res_units, norm=norm, dropout=dropout)
    if not head_channels:
        return body
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    return nn.Sequential(body, conv(head_channels, out_channels, kernel_size=1))


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
    depth = len(filters)
    strides = [1] + [2] * (depth - 1)
    return nets.DynUNet(dims, in_channels, out_channels, kernel_size=[kernel_size] * depth,
                        strides=strides, upsample_kernel_size=strides[1:],
                        filters=list(filters), norm_name=norm, res_block=res_block)


#: The networks this file can rebuild, by the names of ``im2im_helpers.models.BUILDERS``.
NETWORKS = {"unet": _unet, "basic_unet": _basic_unet, "attention_unet": _attention_unet,
            "dyn_unet": _dyn_unet}

#: Output activations, as ``models.build(activation=...)`` appends them.
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class EmbeddingHead(nn.Module):
    """Raw outputs of an instance-embedding network turned into embeddings, as
    ``InstanceEmbedding.postprocess`` does: ``dims`` offsets through ``tanh``, the sigma
    channels as ``exp(sigma) * sigma_scale`` and the seediness through a sigmoid."""

    def __init__(self, dims: int, n_sigma: int, sigma_scale: float):
        super().__init__()
        self.dims, self.n_sigma, self.sigma_scale = int(dims), int(n_sigma), float(sigma_scale)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        d, s = self.dims, self.n_sigma
        return torch.cat([torch.tanh(y[:, :d]), torch.exp(y[:, d:d + s]) * self.sigma_scale,
                          torch.sigmoid(y[:, d + s:])], dim=1)


class ExportedNetwork(nn.Module):
    """The trained network (``net``, parameter names as in the run's checkpoint without the
    task's prefix) followed by an optional fixed ``head`` without parameters."""

    def __init__(self, net: nn.Module, head: nn.Module | None = None):
        super().__init__()
        self.net = net
        self.head = head if head is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x))


def build_network(name: str, dims: int, in_channels: int = 1, out_channels: int = 1,
                  options: dict | None = None, head: dict | None = None) -> nn.Module:
    """Build the untrained network of a package (the ``pytorch_state_dict`` architecture).

    Parameters
    ----------
    name : {"unet", "basic_unet", "attention_unet", "dyn_unet"}
        Which MONAI network.
    dims : {2, 3}
        Spatial dimensions.
    in_channels, out_channels : int
        Channels of input and output.
    options : dict, optional
        The network's options (``channels``, ``features``, ``filters``, ``norm``, ...) and
        ``activation`` (``None``, ``"sigmoid"`` or ``"tanh"``), as in the run's ``config.yaml``.
    head : dict, optional
        ``{"kind": "embedding", "n_sigma": int, "sigma_scale": float}`` for an instance
        embedding network (see :class:`EmbeddingHead`); ``None`` for none.

    Returns
    -------
    torch.nn.Module
        An :class:`ExportedNetwork` in training mode; load the package's weights into it.
    """
    options = dict(options or {})
    activation = options.pop("activation", None)
    if name not in NETWORKS:
        raise ValueError(f"Unknown network {name!r}; this architecture file builds "
                         f"{sorted(NETWORKS)}.")
    net = NETWORKS[name](dims, in_channels, out_channels, **options)
    if activation is not None:
        net = nn.Sequential(net, ACTIVATIONS[activation]())
    if head is None:
        return ExportedNetwork(net)
    if head.get("kind") != "embedding":
        raise ValueError(f"Unknown head {head!r}; the only head is kind 'embedding'.")
    return ExportedNetwork(net, EmbeddingHead(dims, head["n_sigma"], head["sigma_scale"]))
