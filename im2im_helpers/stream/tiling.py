"""Choosing the prediction window (and how many windows go through the network at once) so
that no call runs out of memory: from the network's receptive field, the memory one window
costs, measured, and the free memory of the device it runs on."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence

import psutil
import torch
from torch import nn

logger = logging.getLogger(__name__)

#: Normalisation layers; the receptive field is measured without them (see
#: :func:`receptive_field`).
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.InstanceNorm1d,
         nn.InstanceNorm2d, nn.InstanceNorm3d, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)

#: A tiled window is at least this many receptive-field radii wide (see :func:`auto_window`).
CONTEXT_WINDOWS = 4

#: Fraction of the free memory one batch of windows may use.
MEMORY_FRACTION = 0.25
#: Largest window side chosen automatically (pixels), by dimensionality: larger windows
#: gain nothing once the receptive field is covered many times over.
LARGEST_SIDE = {2: 1024, 3: 256}


def free_memory(device: str | torch.device) -> int:
    """Bytes free on ``device``: the accelerator's free memory, or the memory available to
    new processes on this machine for the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return int(psutil.virtual_memory().available)


@torch.no_grad()
def bytes_per_pixel(model: nn.Module, dims: int, in_channels: int, multiple: int,
                    device: str | torch.device = "cpu") -> float:
    """Memory one input pixel costs in a forward pass (inference, no gradients), measured:
    the sum of every layer's output size for a small probe window, per input pixel, in
    bytes (float32). An upper bound: layers' outputs are freed as the pass goes on."""
    side = max(multiple, 16 if dims == 3 else 32)
    side = multiple * math.ceil(side / multiple)
    probe = torch.zeros((1, in_channels, *([side] * dims)), device=device)
    total = 0

    def count(_module, _inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if not list(m.children())]
    was_training = model.training
    model.eval()
    try:
        model(probe)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return 4.0 * (total + probe.numel()) / side**dims


def context_floor(model: nn.Module, dims: int, in_channels: int, multiple: int,
                  whole: Sequence[int]) -> list[int] | None:
    """The smallest window that gives its centre the network's full context:
    :data:`CONTEXT_WINDOWS` receptive-field radii per axis, a multiple of ``multiple``, at
    most ``whole``; ``None`` when the field cannot be measured (several input channels, or a
    network the probe cannot run)."""
    if in_channels != 1:
        return None
    try:
        radii = receptive_field(model, dims, multiple)
    except (RuntimeError, ValueError, TypeError):
        return None
    return [min(w, multiple * math.ceil(CONTEXT_WINDOWS * r / multiple))
            for w, r in zip(whole, radii)]


def auto_window(model: nn.Module, shape: Sequence[int], *, multiple: int, in_channels: int = 1,
                device: str | torch.device = "cpu", batch_size: int = 1,
                smallest: Sequence[int] | None = None, budget: int | None = None,
                ) -> tuple[int, ...]:
    """The window for predicting an image of spatial ``shape``: the whole image when a batch
    of ``batch_size`` such windows fits in :data:`MEMORY_FRACTION` of the free memory of
    ``device`` (or ``budget`` bytes), else the largest cube (square) that does, a multiple of
    ``multiple`` and at least ``smallest`` per axis (a package's smallest size).

    A tiled window is also made at least :data:`CONTEXT_WINDOWS` times the network's
    receptive-field radius per axis (:func:`receptive_field`, measured), so that the centre of
    every window sees all the context the network uses; where memory does not allow that,
    the largest window that fits is used and a warning says so.

    Raises
    ------
    MemoryError
        If not even the smallest valid window fits.
    """
    dims = len(shape)
    budget = int(budget if budget is not None else MEMORY_FRACTION * free_memory(device))
    cost = bytes_per_pixel(model, dims, in_channels, multiple, device) * batch_size
    smallest = [multiple] * dims if smallest is None else [max(int(s), multiple)
                                                            for s in smallest]
    whole = [multiple * math.ceil(max(int(s), m) / multiple) for s, m in zip(shape, smallest)]
    if math.prod(whole) * cost <= budget:
        return tuple(whole)
    side = int((budget / cost) ** (1 / dims))
    side = min(side, LARGEST_SIDE.get(dims, 256))
    window = [max(m, min(w, multiple * (side // multiple))) for w, m in zip(whole, smallest)]
    floor = context_floor(model, dims, in_channels, multiple, whole)
    if floor and any(w < f for w, f in zip(window, floor)):
        wanted = [max(w, f) for w, f in zip(window, floor)]
        if math.prod(wanted) * cost <= budget:
            window = wanted
        else:
            logger.warning("window %s is smaller than %d times the network's receptive-field "
                           "radius (%s): the memory allows no more; predictions near window "
                           "edges lack context", tuple(window), CONTEXT_WINDOWS, tuple(floor))
    if math.prod(window) * cost > budget:
        raise MemoryError(
            f"even the smallest window {tuple(window)} needs about "
            f"{math.prod(window) * cost / 2**20:.0f} MiB, more than the "
            f"{budget / 2**20:.0f} MiB this prediction may use on {device}; free memory, "
            "use a smaller batch or another device.")
    return tuple(window)


def _probe(net: nn.Module) -> nn.Module:
    """A copy of ``net`` for measuring its receptive field: normalisation layers removed
    (they only rescale; instance norm would couple every pixel), every weight positive,
    biases zero, in float64 and eval mode (no dropout)."""
    probe = copy.deepcopy(net).double().eval()
    for module in list(probe.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, NORMS):
                setattr(module, child_name, nn.Identity())
    with torch.no_grad():
        for name, p in probe.named_parameters():
            if p.dim() > 1:
                p.fill_(1.0 / p[0].numel())
            else:
                p.fill_(0.0 if name.endswith("bias") else 1.0)
    return probe


def receptive_field(net: nn.Module, dims: int, divisor: int, limit: int = 1024) -> list[int]:
    """Per spatial axis, the radius in pixels of the input that one output pixel depends on
    through the network's convolutions: at most ``r`` pixels away on either side.

    Measured, not assumed: in a copy of ``net`` with positive weights (see :func:`_probe`) the
    gradient of one output pixel reaches exactly the input pixels it depends on. Strided
    layers make the reach depend on where a pixel lies within a period of ``divisor`` pixels
    (and differ left and right), so every one of those positions is probed (one per batch
    element) and the largest reach kept. Each axis is probed with an input long along that
    axis (doubled until the field fits, at most ``limit`` pixels) and ``divisor`` pixels along
    the others. Normalisation layers are left out: instance normalisation couples all pixels
    of a window through its statistics, which no halo can remove.
    """
    probe = _probe(net)
    radii = []
    for axis in range(dims):
        size = 8 * divisor
        while True:
            shape = [divisor] * dims
            shape[axis] = size
            x = torch.ones((divisor, 1, *shape), dtype=torch.float64, requires_grad=True)
            y = probe(x)
            centres = [size // 2 + k for k in range(divisor)]  # one phase per batch element
            picked = y.new_zeros(())
            for k, c in enumerate(centres):
                index = [s // 2 for s in y.shape[2:]]
                index[axis] = c
                picked = picked + y[(k, slice(None), *index)].sum()
            picked.backward()
            reach = x.grad.abs().sum(dim=1)  # (phase, *shape)
            others = [d + 1 for d in range(dims) if d != axis]
            profiles = reach.sum(dim=others) if others else reach
            radius, edge = 0, False
            for k, c in enumerate(centres):
                hit = torch.nonzero(profiles[k] > 0).flatten()
                first, last = int(hit.min()), int(hit.max())
                radius = max(radius, c - first, last - c)
                edge = edge or first == 0 or last == size - 1
            if not edge or size >= limit:
                radii.append(radius)
                break
            size *= 2
    return radii
