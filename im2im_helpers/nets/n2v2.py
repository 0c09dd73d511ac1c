"""N2V2's U-Net (Höck et al., "N2V2 - Fixing Noise2Void checkerboard artifacts with modified
sampling strategies and a tweaked network architecture", ECCV workshops 2022), 2D and 3D.

Noise2Void's predictions often carry a faint checkerboard: a pattern of period two pixels. N2V2
traces it to two parts of the usual U-Net besides the sampling of the blind spot
(:func:`im2im_helpers.tasks.noise2void.blind_spot`, ``replacement="median"``):

- the full-resolution skip connection hands the input's pixel-level texture straight to the
  output layers, which learn to produce high-frequency patterns from it; N2V2 removes this one
  skip connection (the deeper ones stay), so the full-resolution output is made from features
  that went through at least one pooling and back;
- max pooling with stride 2 aliases (which of two neighbours wins depends on the pixel grid):
  N2V2 replaces it with *max-blur pooling* (Zhang, "Making convolutional networks
  shift-invariant again", ICML 2019): a max over 2-pixel windows with stride 1, then a blur
  with a small binomial kernel, then keeping every second pixel.

The network upsamples by linear interpolation (no transposed convolutions, whose uneven overlap is
another known source of checkerboards, Odena et al., Distill 2016). Built by name with
``im2im_helpers.models.build("n2v2_unet", dims, ...)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Normalisations a :class:`N2V2UNet` can use after each convolution (case-insensitive).
NORMS = ("batch", "instance", None)

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_NORM = {("batch", 2): nn.BatchNorm2d, ("batch", 3): nn.BatchNorm3d,
         ("instance", 2): nn.InstanceNorm2d, ("instance", 3): nn.InstanceNorm3d}


def _check_dims(who: str, dims) -> int:
    if dims not in _CONV:
        raise ValueError(f"{who}: dims={dims!r}; only 2D and 3D (dims=2 or 3) exist.")
    return int(dims)


def binomial_kernel(dims: int, size: int = 3) -> torch.Tensor:
    """A blur kernel of binomial weights (row ``1 2 1`` for ``size=3``), ``size`` pixels per axis,
    summing to 1: the outer product of the normalised row of Pascal's triangle with itself.

    Parameters
    ----------
    dims : {2, 3}
        Spatial dimensions.
    size : int
        Pixels per axis, odd (1 means no blur).

    Returns
    -------
    torch.Tensor
        Shape ``(size,) * dims``, float32.
    """
    dims = _check_dims("binomial_kernel", dims)
    if not (isinstance(size, numbers.Integral) and size >= 1 and size % 2 == 1):
        raise ValueError(f"binomial_kernel: size={size!r}; expected an odd whole number >= 1 "
                         "(3 is N2V2's).")
    row = torch.tensor([math.comb(size - 1, i) for i in range(size)], dtype=torch.float32)
    kernel = row
    for _ in range(dims - 1):
        kernel = kernel[..., None] * row
    return kernel / kernel.sum()


class MaxBlurPool(nn.Module):
    """Max-blur pooling: halve the size as 2-pixel max pooling does, with less aliasing.

    A max over every 2-pixel window with stride 1, then a blur with :func:`binomial_kernel`
    (borders padded by repeating the edge pixels), keeping every second pixel. The output has
    the size of ``MaxPool(2)``'s, ``floor(n / 2)`` per axis. Unlike max pooling, whose output
    jumps by a whole pixel every second pixel an input moves, the blurred output follows the
    input's position: the centre of mass of the pooled image of a point moves by exactly half a
    pixel for each pixel the point moves (away from the borders). The blur kernel is fixed, not
    learned, and is not part of the state dict.

    Parameters
    ----------
    dims : {2, 3}
        Spatial dimensions.
    blur : int
        Side of the binomial blur kernel, odd (N2V2: 3).
    """

    def __init__(self, dims: int, blur: int = 3):
        super().__init__()
        self.dims = _check_dims("MaxBlurPool", dims)
        self.register_buffer("kernel", binomial_kernel(self.dims, blur), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != self.dims + 2:
            raise ValueError(f"MaxBlurPool: input of shape {tuple(x.shape)}; a {self.dims}D "
                             f"pooling takes (B, C, {'Z, ' if self.dims == 3 else ''}Y, X).")
        pool = F.max_pool2d if self.dims == 2 else F.max_pool3d
        conv = F.conv2d if self.dims == 2 else F.conv3d
        x = pool(x, kernel_size=2, stride=1)
        pad = self.kernel.shape[-1] // 2
        if pad:
            x = F.pad(x, [pad] * (2 * self.dims), mode="replicate")
        channels = x.shape[1]
        weight = self.kernel.to(x.dtype).expand(channels, 1, *self.kernel.shape).contiguous()
        return conv(x, weight, stride=2, groups=channels)


class ConvBlock(nn.Sequential):
    """Two 3-pixel convolutions (padding 1), each followed by the normalisation and ReLU."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, norm: str | None):
        layers: list[nn.Module] = []
        for cin in (in_channels, out_channels):
            layers.append(_CONV[dims](cin, out_channels, kernel_size=3, padding=1))
            if norm == "instance":
                layers.append(_NORM[norm, dims](out_channels, affine=True))
            elif norm is not None:
                layers.append(_NORM[norm, dims](out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def _check_channels(channels) -> tuple[int, ...]:
    if (isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence)
            or len(channels) < 2
            or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 1
                       for c in channels)):
        raise ValueError(f"N2V2UNet: channels={channels!r}; expected a list of at least two whole "
                         "numbers >= 1, the features per level from the top, e.g. [32, 64, 128].")
    return tuple(int(c) for c in channels)


def _check_norm(norm) -> str | None:
    key = norm.lower() if isinstance(norm, str) else norm
    if key not in NORMS:
        raise ValueError(f"N2V2UNet: norm={norm!r}; choose one of {NORMS} (any letter case).")
    return key


class N2V2UNet(nn.Module):
    """The U-Net of N2V2: no skip connection at full resolution, max-blur pooling, 2D or 3D.

    ``len(channels)`` levels: at each of the upper ``len(channels) - 1`` a :class:`ConvBlock`
    (two 3-pixel convolutions, normalisation, ReLU) and a pooling that halves the size; at the
    bottom a :class:`ConvBlock`; back up, at each level a linear upsampling to the level's size,
    the concatenation with that level's encoder features (the skip connection; at the top level
    only if ``top_skip``), and a :class:`ConvBlock`; finally a 1-pixel convolution to
    ``out_channels``. Every spatial size should be a multiple of ``2 ** (len(channels) - 1)``
    (:func:`im2im_helpers.models.size_divisor` says so for a network built by name); other
    sizes work but their last row is pooled unevenly.

    Parameters
    ----------
    dims : {2, 3}
        Spatial dimensions.
    in_channels, out_channels : int
        Channels of input and output.
    channels : sequence of int
        Features per level, from full resolution down (at least two levels).
    norm : {"batch", "instance", None}
        Normalisation after every convolution but the last (case-insensitive; N2V2: batch).
    top_skip : bool
        Keep the full-resolution skip connection (``True``: the usual U-Net; for ablations).
    blur_pool : bool
        Max-blur pooling (:class:`MaxBlurPool`); ``False``: plain 2-pixel max pooling.
    """

    def __init__(self, dims: int, in_channels: int = 1, out_channels: int = 1,
                 channels: Sequence[int] = (32, 64, 128), norm: str | None = "batch",
                 top_skip: bool = False, blur_pool: bool = True):
        super().__init__()
        self.dims = _check_dims("N2V2UNet", dims)
        c = _check_channels(channels)
        norm = _check_norm(norm)
        self.channels, self.top_skip, self.blur_pool = c, bool(top_skip), bool(blur_pool)
        self.mode = "bilinear" if self.dims == 2 else "trilinear"
        upper = range(len(c) - 1)
        self.encoders = nn.ModuleList(
            ConvBlock(self.dims, in_channels if i == 0 else c[i - 1], c[i], norm) for i in upper)
        max_pool = nn.MaxPool2d if self.dims == 2 else nn.MaxPool3d
        self.pools = nn.ModuleList(
            MaxBlurPool(self.dims) if self.blur_pool else max_pool(2) for _ in upper)
        self.bottom = ConvBlock(self.dims, c[-2], c[-1], norm)
        # decoders[i] works at level i (0: full resolution) on the upsampled level i + 1
        self.decoders = nn.ModuleList(
            ConvBlock(self.dims, c[i + 1] + (c[i] if i > 0 or self.top_skip else 0), c[i], norm)
            for i in upper)
        self.head = _CONV[self.dims](c[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != self.dims + 2:
            raise ValueError(f"N2V2UNet: input of shape {tuple(x.shape)}; a {self.dims}D network "
                             f"takes (B, C, {'Z, ' if self.dims == 3 else ''}Y, X).")
        features = []
        for encode, pool in zip(self.encoders, self.pools):
            x = encode(x)
            features.append(x)
            x = pool(x)
        x = self.bottom(x)
        for level in range(len(self.decoders) - 1, -1, -1):
            skip = features[level]
            x = F.interpolate(x, size=skip.shape[2:], mode=self.mode, align_corners=False)
            if level > 0 or self.top_skip:
                x = torch.cat((skip, x), dim=1)
            x = self.decoders[level](x)
        return self.head(x)
