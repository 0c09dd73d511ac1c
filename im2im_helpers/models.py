"""Network factory over MONAI's nets and the FNet U-Net, 2D and 3D, described by a plain
dictionary."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch
from monai.networks import nets
from torch import nn

from im2im_helpers.nets.n2v2 import N2V2UNet
from im2im_helpers.nets.recurrent import RecurrentUNet


def _unet(dims, in_channels, out_channels, channels=(32, 64, 128, 256), strides=None,
          num_res_units=2, norm="INSTANCE", dropout=0.0, head_channels=None):
    # MONAI's UNet ends in out_channels maps through normalisation, activation and an identity
    # shortcut: too narrow for outputs of different kinds (offsets, bandwidths and seediness of
    # spatial embeddings stall there for some seeds). head_channels: end in that many maps, then
    # a 1x1 convolution to the outputs.
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
    # nnU-Net style: the first level keeps the resolution, each further level halves it.
    depth = len(filters)
    strides = [1] + [2] * (depth - 1)
    return nets.DynUNet(dims, in_channels, out_channels, kernel_size=[kernel_size] * depth,
                        strides=strides, upsample_kernel_size=strides[1:],
                        filters=list(filters), norm_name=norm, res_block=res_block)


#: Convolution, transposed convolution and batch norm classes of FNet, by spatial dimensions.
_FNET_LAYERS: dict[int, tuple[type[nn.Module], type[nn.Module], type[nn.Module]]] = {
    2: (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d),
    3: (nn.Conv3d, nn.ConvTranspose3d, nn.BatchNorm3d),
}


class FNetDoubleConv(nn.Module):
    """Two 3-pixel convolutions (padding 1, with bias), each followed by batch norm and ReLU:
    pytorch_fnet's ``SubNet2Conv``, with its attribute (state-dict) names ``conv1``, ``bn1``,
    ``conv2``, ``bn2``."""

    def __init__(self, dims: int, in_channels: int, out_channels: int):
        super().__init__()
        conv, _, norm = _FNET_LAYERS[dims]
        self.conv1 = conv(in_channels, out_channels, kernel_size=3, padding=1)
        self.bn1 = norm(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = conv(out_channels, out_channels, kernel_size=3, padding=1)
        self.bn2 = norm(out_channels)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(x)))


class FNetLevel(nn.Module):
    """One level of FNet's U and, below it, the rest of the U (pytorch_fnet's ``_Net_recurse``,
    same attribute names).

    ``sub_2conv_more`` takes ``in_channels`` to ``width`` channels. Unless this is the bottom
    (``depth == 0``): ``conv_down`` (kernel 2, stride 2) + ``bn0`` + ReLU halve the size,
    ``sub_u`` (the level below, ``2 * width`` channels) runs, ``convt`` (transposed, kernel 2,
    stride 2) + ``bn1`` + ReLU double the size back to ``width`` channels, which are
    concatenated after the skip connection and reduced to ``width`` by ``sub_2conv_less``.
    """

    def __init__(self, dims: int, in_channels: int, width: int, depth: int):
        super().__init__()
        conv, transposed, norm = _FNET_LAYERS[dims]
        self.depth = depth
        self.sub_2conv_more = FNetDoubleConv(dims, in_channels, width)
        if depth > 0:
            self.sub_2conv_less = FNetDoubleConv(dims, 2 * width, width)
            self.conv_down = conv(width, width, kernel_size=2, stride=2)
            self.bn0 = norm(width)
            self.relu0 = nn.ReLU()
            self.convt = transposed(2 * width, width, kernel_size=2, stride=2)
            self.bn1 = norm(width)
            self.relu1 = nn.ReLU()
            self.sub_u = FNetLevel(dims, width, 2 * width, depth - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.sub_2conv_more(x)
        if self.depth == 0:
            return skip
        below = self.sub_u(self.relu0(self.bn0(self.conv_down(skip))))
        up = self.relu1(self.bn1(self.convt(below)))
        return self.sub_2conv_less(torch.cat((skip, up), dim=1))


class FNet(nn.Module):
    """The U-Net of pytorch_fnet (Ounkomol et al., Nature Methods 2018), MMV_Im2Im's label-free
    network (``mmv_im2im.models.nets.fnet_nn_2d`` / ``fnet_nn_3d``), 2D or 3D.

    ``depth`` halvings of the size, each by a stride-2 convolution (not pooling) and undone by a
    stride-2 transposed convolution; ``mult_chan`` channels at full resolution, doubled at each
    level below; two 3-pixel convolutions with batch norm and ReLU per level and side; a
    3-pixel convolution to ``out_channels`` at the end. Modules and parameter names are
    pytorch_fnet's (``net_recurse.sub_2conv_more.conv1.weight``, ..., ``conv_out.bias``), so its
    and MMV_Im2Im's weights load strictly. The full-resolution level has ``mult_chan`` channels
    whatever ``in_channels`` is, as in the 3D source (the 2D source takes one input channel, for
    which the two agree). Initial weights are PyTorch's defaults. Every spatial size must be a
    multiple of ``2**depth``.

    Parameters
    ----------
    dims : {2, 3}
        Spatial dimensions.
    in_channels, out_channels : int
        Channels of input and output.
    depth : int
        Levels below full resolution (pytorch_fnet: 4).
    mult_chan : int
        Channels at full resolution (pytorch_fnet: 32).
    """

    def __init__(self, dims: int, in_channels: int = 1, out_channels: int = 1, depth: int = 4,
                 mult_chan: int = 32):
        super().__init__()
        if dims not in _FNET_LAYERS:
            raise ValueError(f"FNet: dims={dims}; only 2D and 3D FNets exist.")
        if not _whole(depth, 0):
            raise ValueError(f"FNet: depth={depth!r}; expected a whole number >= 0 (4 in the "
                             "paper).")
        if not _whole(mult_chan, 1):
            raise ValueError(f"FNet: mult_chan={mult_chan!r}; expected a whole number >= 1 (32 "
                             "in the paper).")
        self.dims, self.depth, self.mult_chan = dims, int(depth), int(mult_chan)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.net_recurse = FNetLevel(dims, in_channels, self.mult_chan, self.depth)
        self.conv_out = _FNET_LAYERS[dims][0](self.mult_chan, out_channels, kernel_size=3,
                                              padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.net_recurse(x))


def _whole(value, least: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least


#: FNet's default ``depth`` (pytorch_fnet's and the MMV_Im2Im paper's).
FNET_DEPTH = 4


def _fnet(dims, in_channels, out_channels, depth=FNET_DEPTH, mult_chan=32):
    return FNet(dims, in_channels, out_channels, depth=depth, mult_chan=mult_chan)


# Registration networks (moving and fixed in, a displacement field out; see
# im2im_helpers.tasks.registration): MONAI's LocalNet, GlobalNet and VoxelMorphUNet.
def _localnet(dims: int, in_channels: int, out_channels: int, num_channel_initial: int = 16,
              depth: int = 3) -> nn.Module:
    return nets.LocalNet(spatial_dims=dims, in_channels=in_channels, out_channels=out_channels,
                         num_channel_initial=num_channel_initial,
                         extract_levels=tuple(range(depth + 1)))


def _globalnet(dims: int, in_channels: int, out_channels: int, image_size=(64, 64),
               num_channel_initial: int = 16, depth: int = 3) -> nn.Module:
    if len(image_size) != dims:
        raise ValueError(f"image_size={tuple(image_size)}: give {dims} sizes for a {dims}D "
                         "GlobalNet (the patch size it is trained on).")
    return nets.GlobalNet(image_size=list(image_size), spatial_dims=dims, in_channels=in_channels,
                          num_channel_initial=num_channel_initial, depth=depth)


def _voxelmorph(dims: int, in_channels: int, out_channels: int,
                channels=(16, 32, 32, 32, 32, 32), final_conv_channels=(16, 16)) -> nn.Module:
    return nets.VoxelMorphUNet(spatial_dims=dims, in_channels=in_channels, unet_out_channels=32,
                               channels=tuple(channels),
                               final_conv_channels=tuple(final_conv_channels))


def _diffusion_unet(dims: int, in_channels: int, out_channels: int, channels=(32, 64, 64),
                    num_res_blocks: int = 1, attention_levels=None, norm_num_groups: int = 8,
                    num_head_channels: int = 8) -> nn.Module:
    # no attention by default: on a CPU its cost grows with the square of the pixels per level
    attention = tuple(attention_levels) if attention_levels else (False,) * len(channels)
    return nets.DiffusionModelUNet(spatial_dims=dims, in_channels=in_channels,
                                   out_channels=out_channels, channels=tuple(channels),
                                   num_res_blocks=num_res_blocks, attention_levels=attention,
                                   norm_num_groups=norm_num_groups,
                                   num_head_channels=num_head_channels)


#: Network names accepted by :func:`build`, each mapped to a function of
#: ``(dims, in_channels, out_channels, **options)``.
BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "unet": _unet,
    "basic_unet": _basic_unet,
    "attention_unet": _attention_unet,
    "dyn_unet": _dyn_unet,
    "fnet": _fnet,
    "localnet": _localnet,
    "globalnet": _globalnet,
    "voxelmorph": _voxelmorph,
    "n2v2_unet": N2V2UNet,
    "diffusion_unet": _diffusion_unet,
    "recurrent_unet": RecurrentUNet,
}


def build(name: str, dims: int, in_channels: int = 1, out_channels: int = 1, seed: int = 0,
          **options) -> nn.Module:
    """Build a MONAI network, or pytorch_fnet's FNet, for 2D or 3D images.

    Parameters
    ----------
    name : str
        One of :data:`BUILDERS`: ``"unet"``, ``"basic_unet"``, ``"attention_unet"``,
        ``"dyn_unet"``, ``"fnet"``, ``"localnet"``, ``"globalnet"``, ``"voxelmorph"``,
        ``"n2v2_unet"``, ``"diffusion_unet"``, ``"recurrent_unet"``.
        Which network (``"fnet"``: :class:`FNet`; ``"localnet"``, ``"globalnet"`` and
        ``"voxelmorph"`` are registration networks, used through
        :func:`im2im_helpers.tasks.registration.network`; ``"diffusion_unet"`` is MONAI's
        ``DiffusionModelUNet``, used through :func:`im2im_helpers.tasks.diffusion.network`;
        ``"recurrent_unet"`` reads a clip of frames: :class:`~im2im_helpers.nets.recurrent.
        RecurrentUNet`, ``frames=...``).
    dims : {2, 3}
        Spatial dimensions.
    in_channels, out_channels : int
        Channels of input and output.
    seed : int
        Seed of the initial weights (the global random state is left as it was).
    **options
        Network options such as ``channels=(32, 64, 128, 256)`` (UNet, AttentionUnet),
        ``head_channels=16`` (UNet: end in 16 feature maps and a 1x1 convolution to the outputs
        instead of MONAI's narrow last block; for outputs of different kinds, such as spatial
        embeddings),
        ``features`` (BasicUNet), ``filters`` (DynUNet) or ``depth=4, mult_chan=32``
        (FNet); and, for every network,
        ``activation``: ``None`` (raw outputs, default), ``"sigmoid"`` (outputs in (0, 1), e.g. a
        generator of masks) or ``"tanh"`` (in (-1, 1)).

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
    network_options = {k: v for k, v in options.items() if k != "activation"}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = BUILDERS[key](dims, in_channels, out_channels, **network_options)
    if options.get("activation") is not None:
        net = nn.Sequential(net, ACTIVATIONS[options["activation"]]())
    net.im2im_spec = {"name": key, "dims": dims, "in_channels": in_channels,
                      "out_channels": out_channels, "seed": seed, **_plain(options)}
    return net


#: Output activations :func:`build` can append (``activation=...``).
ACTIVATIONS: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def check_options(name: str, options: dict) -> None:
    """Raise ``ValueError`` if ``options`` holds a key that network ``name`` does not take."""
    if name not in BUILDERS:
        raise ValueError(f"Unknown network {name!r}; choose one of {sorted(BUILDERS)}.")
    activation = options.get("activation")
    if activation is not None and activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r}: choose None or one of {sorted(ACTIVATIONS)}.")
    allowed = set(inspect.signature(BUILDERS[name]).parameters) - {"dims", "in_channels",
                                                                    "out_channels"}
    allowed.add("activation")
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(
            f"Network {name!r} has no option {sorted(unknown)}; its options are {sorted(allowed)}."
        )


def _plain(options: dict) -> dict:
    return {k: list(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
            for k, v in options.items()}


#: Size divisor assumed for a network that :func:`build` did not make (a safe over-estimate
#: for U-Nets of up to five levels).
DEFAULT_SIZE_DIVISOR = 32


def size_divisor(spec: dict | None) -> int:
    """Factor every spatial size must be divisible by for a full-image pass of this network:
    the product of its strides (2 per level of a U-Net; 16 for MONAI's BasicUNet; ``2**depth``
    for FNet), from the ``im2im_spec`` of :func:`build`; :data:`DEFAULT_SIZE_DIVISOR` when
    ``spec`` is ``None``."""
    if not spec:
        return DEFAULT_SIZE_DIVISOR
    if spec["name"] == "basic_unet":
        return 16
    if spec["name"] == "fnet":
        return 2 ** int(spec.get("depth", FNET_DEPTH))
    if spec["name"] in ("localnet", "globalnet"):
        return 2 ** int(spec.get("depth", 3))
    if spec["name"] == "voxelmorph":
        return 2 ** (len(spec.get("channels", (0,) * 6)) // 2)
    if spec.get("strides"):
        return int(np.prod([int(np.max(s)) for s in spec["strides"]]))
    levels = len(spec.get("channels", spec.get("filters", (0, 0, 0, 0)))) - 1
    return 2**levels


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


class PatchDiscriminator(nets.PatchDiscriminator):
    """MONAI's PatchGAN discriminator returning only its final map of per-patch scores.

    MONAI's ``forward`` returns the output of every layer (for feature-matching losses); the GAN
    tasks need the last one only.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x


def patch_discriminator(dims: int, in_channels: int, features: int = 64, n_layers: int = 3,
                        norm: str | None = "INSTANCE", seed: int = 0) -> nn.Module:
    """A PatchGAN discriminator (pix2pix, Isola et al. 2017), 2D or 3D.

    It classifies every overlapping patch of its input as real or fake: the output is a map of
    raw scores (logits), one per patch of :func:`receptive_field` pixels per axis. Built on
    :class:`monai.networks.nets.PatchDiscriminator`, which has the pix2pix layout: convolutions of
    kernel 4 and padding 1 with ``features, 2 features, 4 features, ...`` channels, the first
    ``n_layers`` with stride 2 and the next one with stride 1, each followed by normalisation
    (not the first) and LeakyReLU 0.2, then a stride-1 convolution to one channel. Weights start
    from N(0, 0.02) as in the paper. ``n_layers=3`` is the paper's 70 x 70 PatchGAN.

    Parameters
    ----------
    dims : {2, 3}
        Spatial dimensions.
    in_channels : int
        Channels of what it judges (input and output concatenated for a conditional GAN).
    features : int
        Channels of the first convolution, doubled by each further one.
    n_layers : int
        Stride-2 convolutions (at least 1); sets the patch size, see :func:`receptive_field`.
        Each spatial size of the input must be at least ``3 * 2**n_layers`` pixels.
    norm : {"INSTANCE", "BATCH", None}
        Normalisation after every convolution but the first and the last (MONAI names; instance
        norm without learned scale, as in CycleGAN).
    seed : int
        Seed of the initial weights (the global random state is left as it was).

    Returns
    -------
    torch.nn.Module
        The discriminator; its ``im2im_spec`` attribute holds the arguments that rebuild it with
        ``patch_discriminator(**spec)``.
    """
    if dims not in (2, 3):
        raise ValueError(f"dims={dims}: only 2D and 3D discriminators exist.")
    if n_layers < 1:
        raise ValueError(f"n_layers={n_layers}: a PatchGAN needs at least one stride-2 layer.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = PatchDiscriminator(dims, features, in_channels, out_channels=1,
                                 num_layers_d=n_layers, kernel_size=4, norm=norm,
                                 bias=norm is None)
    net.im2im_spec = {"dims": dims, "in_channels": in_channels, "features": features,
                      "n_layers": n_layers, "norm": norm, "seed": seed}
    return net


def receptive_field(n_layers: int = 3) -> int:
    """Side, in pixels, of the input patch that one output score of
    :func:`patch_discriminator` sees: ``9 * 2**n_layers - 2`` (16, 34, 70, 142 for 1-4 layers).

    Counted backwards from one output pixel through the kernel-4 convolutions: the two stride-1
    ones widen it to 7, each stride-2 one maps ``r`` to ``2 r + 2``.
    """
    if n_layers < 1:
        raise ValueError(f"n_layers={n_layers}: a PatchGAN needs at least one stride-2 layer.")
    side = 1
    for stride in reversed([2] * n_layers + [1, 1]):  # strides from input to output, reversed
        side = (side - 1) * stride + 4
    return side


def spec_of(model: nn.Module) -> dict | None:
    """The network description ``{name, dims, in_channels, out_channels, ...}`` a task, a
    BioImage.IO package or a network built by :func:`build` carries, or ``None``."""
    hparams = getattr(model, "hparams", None)
    spec = hparams.get("model") if hparams is not None and hasattr(hparams, "get") else None
    return spec or getattr(getattr(model, "net", model), "im2im_spec", None)


def dims_of(model: nn.Module) -> int | None:
    """2 or 3 for a model that says which images it takes, else ``None``."""
    spec = spec_of(model)
    return spec.get("dims") if spec else None


def in_channels_of(model: nn.Module) -> int | None:
    """The number of input channels of a model that says it, else ``None``."""
    spec = spec_of(model)
    return int(spec["in_channels"]) if spec and spec.get("in_channels") else None


def device_of(model: nn.Module) -> torch.device:
    """Where a model's weights are (the CPU for a model without weights)."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def window_multiple(model: nn.Module) -> int:
    """Every window size is rounded up to a multiple of this: the model's own
    ``size_divisor`` (a BioImage.IO package's size step), else :func:`size_divisor` of its
    network."""
    return int(getattr(model, "size_divisor", None) or size_divisor(spec_of(model)))


def valid_window(roi: Sequence[int], multiple: int) -> tuple[int, ...]:
    """``roi`` with every size rounded up to a multiple of ``multiple`` (see
    :func:`size_divisor`)."""
    return tuple(int(-(-int(r) // multiple) * multiple) for r in roi)
