"""A U-Net with convolutional recurrent (ConvGRU) skip connections: time-lapse context.

The paper computes every time step on its own and names the convolutional recurrent network as
the way to bring in temporal context (Shi et al., "Convolutional LSTM network", NeurIPS 2015;
the gated recurrent unit of Cho et al. 2014 in its convolutional form, Ballas et al., ICLR
2016). :class:`RecurrentUNet` reads a clip of frames ``t - k … t`` (stacked as channels, oldest
first: :func:`im2im_helpers.data.timelapse.clips`), encodes every frame with one shared encoder,
lets a :class:`ConvGRUCell` at each level carry what it saw from frame to frame, and decodes
the last frame's states into frame ``t``'s prediction. With one frame per clip it is a plain
U-Net whose skips pass through a gate.

Built by name with ``im2im_helpers.models.build("recurrent_unet", dims, in_channels=frames *
C, out_channels, frames=...)``; sliding-window prediction and every tool that takes a network
work unchanged, since a clip is an image with more channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_NORM = {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
_POOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}


def conv_block(dims: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3-pixel convolutions, each with instance normalisation and a leaky ReLU."""
    conv, norm = _CONV[dims], _NORM[dims]
    return nn.Sequential(
        conv(in_channels, out_channels, 3, padding=1), norm(out_channels, affine=True),
        nn.LeakyReLU(0.1, inplace=True),
        conv(out_channels, out_channels, 3, padding=1), norm(out_channels, affine=True),
        nn.LeakyReLU(0.1, inplace=True))


class ConvGRUCell(nn.Module):
    """A convolutional gated recurrent unit: the new state mixes the old one with a candidate
    made from the input and the (reset-gated) old state, pixel by pixel.

    Parameters
    ----------
    dims : {2, 3}
        Spatial dimensions.
    channels : int
        Channels of the input and of the state.
    kernel : int
        Side of the convolutions (odd).
    """

    def __init__(self, dims: int, channels: int, kernel: int = 3):
        super().__init__()
        conv = _CONV[dims]
        self.gates = conv(2 * channels, 2 * channels, kernel, padding=kernel // 2)
        self.candidate = conv(2 * channels, channels, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        if state is None:
            state = torch.zeros_like(x)
        update, reset = torch.sigmoid(self.gates(torch.cat([x, state], 1))).chunk(2, 1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * state], 1)))
        return (1 - update) * state + update * candidate


class RecurrentUNet(nn.Module):
    """U-Net over a clip of frames with a ConvGRU at every level.

    Parameters
    ----------
    dims : {2, 3}
        Spatial dimensions.
    in_channels : int
        Channels of a clip: ``frames`` times the channels of one frame.
    out_channels : int
        Channels of the prediction (of the clip's last frame).
    frames : int
        Frames per clip.
    channels : tuple of int
        Features per level (a size divisor of ``2 ** (len(channels) - 1)``).
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, frames: int = 3,
                 channels: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims={dims}: only 2D and 3D networks exist.")
        if frames < 1 or in_channels % frames:
            raise ValueError(f"in_channels={in_channels} is not a whole number of frames "
                             f"({frames}): a clip holds frames x channels per frame; give "
                             "in_channels = frames * channels of one frame.")
        if len(channels) < 2:
            raise ValueError(f"channels={tuple(channels)}: give at least two levels.")
        self.dims, self.frames = dims, int(frames)
        per_frame = in_channels // frames
        widths = [per_frame, *channels]
        self.encoders = nn.ModuleList(conv_block(dims, a, b) for a, b in zip(widths, channels))
        self.cells = nn.ModuleList(ConvGRUCell(dims, c) for c in channels)
        self.pool = _POOL[dims](2)
        self.ups = nn.ModuleList(_CONV[dims](channels[i + 1], channels[i], 1)
                                 for i in range(len(channels) - 1))
        self.decoders = nn.ModuleList(conv_block(dims, 2 * channels[i], channels[i])
                                      for i in range(len(channels) - 1))
        self.head = _CONV[dims](channels[0], out_channels, 1)

    def encode(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Features of every level for a batch of single frames ``(N, C, *spatial)``."""
        features, x = [], frames
        for level, encoder in enumerate(self.encoders):
            x = encoder(self.pool(x) if level else x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, spatial = x.shape[0], x.shape[2:]
        clip = x.reshape(batch * self.frames, x.shape[1] // self.frames, *spatial)
        states: list[torch.Tensor | None] = [None] * len(self.cells)
        for level, features in enumerate(self.encode(clip)):  # all frames in one pass
            sequence = features.reshape(batch, self.frames, *features.shape[1:])
            for t in range(self.frames):
                states[level] = self.cells[level](sequence[:, t], states[level])
        y = states[-1]
        for level in reversed(range(len(self.decoders))):
            skip = states[level]
            y = F.interpolate(y, size=skip.shape[2:], mode="nearest")
            y = self.decoders[level](torch.cat([self.ups[level](y), skip], 1))
        return self.head(y)
