"""Choosing the prediction window (and how many windows go through the network at once) so
that no call runs out of memory: from the network's receptive field, the memory one window
costs, measured, and the free memory of the device it runs on."""

from __future__ import annotations

import math
from collections.abc import Sequence

import psutil
import torch
from torch import nn

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


def auto_window(model: nn.Module, shape: Sequence[int], *, multiple: int, in_channels: int = 1,
                device: str | torch.device = "cpu", batch_size: int = 1,
                smallest: Sequence[int] | None = None, budget: int | None = None,
                ) -> tuple[int, ...]:
    """The window for predicting an image of spatial ``shape``: the whole image when a batch
    of ``batch_size`` such windows fits in :data:`MEMORY_FRACTION` of the free memory of
    ``device`` (or ``budget`` bytes), else the largest cube (square) that does, a multiple of
    ``multiple`` and at least ``smallest`` per axis (a package's smallest size).

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
    if math.prod(window) * cost > budget:
        raise MemoryError(
            f"even the smallest window {tuple(window)} needs about "
            f"{math.prod(window) * cost / 2**20:.0f} MiB, more than the "
            f"{budget / 2**20:.0f} MiB this prediction may use on {device}; free memory, "
            "use a smaller batch or another device.")
    return tuple(window)
