"""``Noise2Void``: self-supervised denoising from noisy images alone (Krull et al., CVPR 2019),
and its N2V2 variant (Höck et al., ECCV workshops 2022).

A few pixels of every training patch are hidden behind a *blind spot*: each is replaced by a
value taken from its neighbourhood, and the network is asked to predict the hidden original value
from its surroundings. Pixel noise that is independent from pixel to pixel cannot be predicted
from the neighbours, the signal can, so the network learns the signal. The loss is computed on
the hidden pixels only.

How a hidden pixel is filled is the ``replacement``: ``"neighbour"`` (Noise2Void: the value of
one random visible neighbour) or ``"median"`` (N2V2: the median of its visible neighbours, the
pixel itself left out). Copying single neighbours teaches the network that a hidden pixel looks
exactly like one of the pixels next to it, one of the causes of the checkerboard patterns in
Noise2Void's predictions; the median is a smooth summary of the neighbourhood instead. N2V2's
other half is its network, :class:`im2im_helpers.nets.N2V2UNet` (``models.build("n2v2_unet",
...)``).

Written here rather than taken from ``n2v``/``careamics``: those bring their own training loops
and data pipelines, while the masking itself is a few lines on top of :class:`Supervised`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import torch
from torch import nn

from im2im_helpers.tasks.supervised import Supervised

#: How a hidden pixel is filled (``replacement`` of :func:`blind_spot` and :class:`Noise2Void`).
REPLACEMENTS = ("neighbour", "median")


def _offsets(radius: int, dims: int) -> torch.Tensor:
    """Every non-zero offset in a ``(2 radius + 1)^dims`` window, shape ``(n, dims)``."""
    window = range(-radius, radius + 1)
    return torch.tensor([o for o in itertools.product(window, repeat=dims) if any(o)])


def check_replacement(replacement: str) -> str:
    """``replacement`` if it is one of :data:`REPLACEMENTS`, else a ``ValueError`` naming them."""
    if replacement not in REPLACEMENTS:
        raise ValueError(f"replacement={replacement!r}: choose 'neighbour' (Noise2Void: a random "
                         "visible neighbour's value) or 'median' (N2V2: the median of the visible "
                         "neighbours).")
    return replacement


def blind_spot(
    x: torch.Tensor,
    fraction: float = 0.01,
    radius: int = 2,
    generator: torch.Generator | None = None,
    replacement: str = "neighbour",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide a random ``fraction`` of the pixels of each image behind a blind spot.

    Every hidden pixel gets a value computed from the pixels within ``radius`` (per spatial
    axis) that are *not* hidden themselves, taken from the original image; so the original
    value of a hidden pixel appears nowhere in the returned input. All channels of a pixel are
    hidden together.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, Y, X)`` or ``(B, C, Z, Y, X)``; every spatial size must exceed ``2 * radius``.
    fraction : float
        Share of pixels hidden per image (at least one pixel).
    radius : int
        Neighbourhood from which replacement values are drawn.
    generator : torch.Generator, optional
        CPU random generator (seeded runs).
    replacement : {"neighbour", "median"}
        ``"neighbour"`` (Noise2Void): the value of one random visible pixel of the neighbourhood
        (an offset that leaves the image is mirrored back into it). ``"median"`` (N2V2): channel
        by channel, the median of the visible pixels of the neighbourhood inside the image
        (the lower of the two middle values when their number is even, so always the value of
        one of them); where none is visible, the median of all visible pixels of the image.

    Returns
    -------
    masked : torch.Tensor
        ``x`` with the hidden pixels replaced.
    mask : torch.Tensor
        Boolean ``(B, 1, *spatial)``, true at hidden pixels.
    """
    check_replacement(replacement)
    b, c, *spatial = x.shape
    if any(s <= 2 * radius for s in spatial):
        raise ValueError(f"blind_spot: patch {tuple(spatial)} too small for radius {radius}; "
                         f"every spatial size must exceed {2 * radius}.")
    if not 0 < fraction <= 0.2:
        raise ValueError(f"blind_spot: fraction={fraction} must be in (0, 0.2]: with more hidden "
                         "pixels too few visible neighbours remain to copy from.")
    n = int(torch.tensor(spatial).prod())
    k = max(1, round(fraction * n))
    positions = torch.rand(b, n, generator=generator).topk(k, dim=1).indices  # (B, k), distinct
    hidden = torch.zeros(b, n, dtype=torch.bool)
    hidden.scatter_(1, positions, True)
    size = torch.tensor(spatial)
    strides = torch.tensor([int(size[i + 1:].prod()) for i in range(len(spatial))])
    coords = (positions[..., None] // strides) % size  # (B, k, dims)
    flat_x = x.reshape(b, c, n)
    if replacement == "median":
        values = _median_of_neighbours(flat_x, hidden, coords, size, strides, radius)
    else:
        sources = _random_neighbours(hidden, positions, coords, size, strides, radius, generator)
        values = flat_x.gather(2, sources[:, None, :].expand(b, c, k).to(x.device))
    index = positions[:, None, :].expand(b, c, k).to(x.device)
    masked = flat_x.scatter(2, index, values).reshape(x.shape)
    return masked, hidden.reshape(b, 1, *spatial).to(x.device)


def _random_neighbours(hidden: torch.Tensor, positions: torch.Tensor, coords: torch.Tensor,
                       size: torch.Tensor, strides: torch.Tensor, radius: int,
                       generator: torch.Generator | None) -> torch.Tensor:
    """Flat index of one random visible pixel within ``radius`` of each hidden pixel."""
    offsets = _offsets(radius, len(size))
    sources = torch.empty_like(positions)
    todo = torch.ones_like(positions, dtype=torch.bool)
    for _ in range(100):  # redraw the few neighbours that are hidden themselves
        pick = offsets[torch.randint(len(offsets), positions.shape, generator=generator)]
        cand = coords + pick
        outside = (cand < 0) | (cand >= size)
        cand = torch.where(outside, coords - pick, cand)  # mirror the offset at a border
        flat = (cand * strides).sum(-1)
        sources = torch.where(todo, flat, sources)
        todo = hidden.gather(1, sources)
        if not todo.any():
            return sources
    raise RuntimeError("blind_spot: could not find visible neighbours; lower `fraction`.")


def _median_of_neighbours(flat_x: torch.Tensor, hidden: torch.Tensor, coords: torch.Tensor,
                          size: torch.Tensor, strides: torch.Tensor, radius: int) -> torch.Tensor:
    """``(B, C, k)``: per channel, the (lower) median of the visible pixels within ``radius`` of
    each hidden pixel, the pixel itself excluded; the image's visible median where none is."""
    b, c, _ = flat_x.shape
    k = coords.shape[1]
    offsets = _offsets(radius, len(size))  # (m, dims), the centre excluded
    cand = coords[:, :, None, :] + offsets  # (B, k, m, dims)
    inside = ((cand >= 0) & (cand < size)).all(-1)
    flat = (torch.minimum(cand.clamp(min=0), size - 1) * strides).sum(-1)  # (B, k, m)
    visible = inside & ~hidden.gather(1, flat.reshape(b, -1)).reshape(flat.shape)
    m = flat.shape[-1]
    values = flat_x.gather(2, flat.reshape(b, 1, k * m).expand(b, c, k * m).to(flat_x.device))
    values = values.reshape(b, c, k, m).masked_fill(~visible[:, None].to(flat_x.device), torch.nan)
    medians = values.nanmedian(dim=-1).values  # NaN where no neighbour is visible
    lonely = ~visible.any(-1)  # (B, k)
    if lonely.any():
        whole = flat_x.masked_fill(hidden[:, None].to(flat_x.device), torch.nan)
        fallback = whole.nanmedian(dim=-1).values[..., None].expand(b, c, k)
        medians = torch.where(lonely[:, None].to(flat_x.device), fallback, medians)
    return medians


def masked_loss(pred: torch.Tensor, original: torch.Tensor, mask: torch.Tensor,
                kind: str = "mse") -> torch.Tensor:
    """Mean squared (``"mse"``) or absolute (``"l1"``) error on the ``mask`` pixels only."""
    diff = (pred - original)[mask.expand_as(pred)]
    return diff.pow(2).mean() if kind == "mse" else diff.abs().mean()


class Noise2Void(Supervised):
    """Self-supervised denoising: learns from the *inputs* only (targets are ignored).

    Parameters
    ----------
    model : torch.nn.Module or dict
        A network from :func:`im2im_helpers.models.build` (or the dict that builds one). For
        N2V2 build ``"n2v2_unet"`` (:class:`im2im_helpers.nets.N2V2UNet`).
    loss : {"mse", "l1"}
        Error on the hidden pixels.
    lr, weight_decay, scheduler
        As for :class:`Supervised`.
    mask_fraction : float
        Share of pixels of each patch hidden per step. The original method hides about 0.2 %;
        more pixels give more training signal per step, at the risk of hiding structure.
    radius : int
        Replacement values come from within this many pixels.
    seed : int
        Seed of the masking.
    replacement : {"neighbour", "median"}
        How a hidden pixel is filled (:func:`blind_spot`): ``"neighbour"``, Noise2Void's random
        visible neighbour (the default), or ``"median"``, N2V2's median of the visible
        neighbours without the pixel itself.

    Notes
    -----
    Prediction needs no masking: :func:`im2im_helpers.predict.image` applies the network to the
    noisy image as it is. The method assumes noise that is independent between pixels; noise
    correlated along rows or columns (some cameras) is learned as signal. N2V2 is this task with
    ``replacement="median"`` and the ``"n2v2_unet"`` network; each part can also be used alone.
    """

    #: The task's name in a run's ``config.yaml`` (``task.kind``).
    KIND = "noise2void"

    def __init__(self, model: nn.Module | Mapping, loss: str = "mse", lr: float = 1e-3,
                 weight_decay: float = 0.0, scheduler: str | None = None,
                 mask_fraction: float = 0.01, radius: int = 2, seed: int = 0,
                 replacement: str = "neighbour"):
        if loss not in ("mse", "l1"):
            raise ValueError(f"loss={loss!r}: Noise2Void regresses intensities; use 'mse' or 'l1'.")
        check_replacement(replacement)
        super().__init__(model, loss, lr, weight_decay, scheduler)
        self.generator = torch.Generator().manual_seed(seed)


    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # a resumed run continues the same sequence of hidden pixels
        checkpoint["blind_spot_generator"] = self.generator.get_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "blind_spot_generator" in checkpoint:
            self.generator.set_state(checkpoint["blind_spot_generator"])

    def blind_spot_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Hide pixels of ``x``, predict them, and return the error on the hidden pixels."""
        h = self.hparams
        masked, mask = blind_spot(x, h.mask_fraction, h.radius, self.generator, h.replacement)
        return masked_loss(self(masked), x, mask, self.hparams.loss)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.blind_spot_loss(batch["input"])
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=batch["input"].shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        # A fixed generator per validation pass: every epoch hides the same pixels.
        state = self.generator.get_state()
        self.generator.manual_seed(self.hparams.seed + 1 + batch_idx)
        loss = self.blind_spot_loss(batch["input"])
        self.generator.set_state(state)
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=batch["input"].shape[0])
        return loss
