"""Instances from spatial embeddings: coordinate grids, instance centres (medoids) and the
clustering that turns predicted embeddings into a label image (EmbedSeg-style, 2D and 3D).

A network predicts, for every pixel, an *offset* that moves the pixel's coordinate onto the
centre of the object it belongs to (the pixel's *embedding* = coordinate + offset), a
*bandwidth* sigma (how tightly that object's embeddings cluster) and a *seediness* in [0, 1]
(how sure the pixel is that its embedding hits its object's centre). :func:`cluster` groups
pixels whose embeddings fall close to a seed's embedding. Nothing here needs objects to be
convex or star-convex: a pixel only has to point at a centre, wherever the object winds.

Coordinates are scaled so offsets are of order one (see :func:`coordinate_grid`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

#: Default size of one pixel in embedding coordinates: pixel ``i`` sits at ``i / 128``. Offsets
#: pass through ``tanh`` and so reach at most about 120 pixels; objects whose pixels lie further
#: from their centre need a smaller pixel size (EmbedSeg uses about 1/1000).
PIXEL_SIZE = 1 / 128

#: Pixels sampled per object to find its medoid (see :func:`medoids`).
MEDOID_POINTS = 256


def coordinate_grid(shape: Sequence[int], device: str | torch.device | None = None,
                    pixel_size: float = PIXEL_SIZE) -> torch.Tensor:
    """Pixel coordinates scaled to embedding units.

    Parameters
    ----------
    shape : sequence of int
        Spatial shape, ``(Y, X)`` or ``(Z, Y, X)``.
    device : str or torch.device, optional
        Where the grid is made.
    pixel_size : float
        Size of one pixel in embedding units (the same along every axis: anisotropic voxels are
        handled by the per-axis bandwidths, not by the grid).

    Returns
    -------
    torch.Tensor
        Float32, shape ``(D, *shape)``; ``grid[d][idx] == idx[d] * pixel_size``. With the default
        ``pixel_size = 1/128`` a 128-pixel distance is one unit, so offsets predicted through
        ``tanh`` (range -1..1) and bandwidths of a few pixels are numbers of order 0.01 to 1.
    """
    axes = [torch.arange(s, dtype=torch.float32, device=device) * pixel_size for s in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def medoids(labels: torch.Tensor, max_points: int = MEDOID_POINTS
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximate medoid of every object of a label image, in pixel indices.

    The medoid of an object is the pixel of the object with the smallest summed Euclidean
    distance to the object's other pixels. Unlike the centroid it always lies inside the
    object, also for a U-shaped or curved one. For speed it is searched among at most
    ``max_points`` pixels per object, taken evenly spaced in raster order (deterministic, no
    random state); objects with fewer pixels get their exact medoid.

    Parameters
    ----------
    labels : torch.Tensor
        Integer label image ``(*spatial)``, 0 = background.
    max_points : int
        Pixels per object considered.

    Returns
    -------
    ids : torch.Tensor
        Sorted nonzero labels, int64, shape ``(K,)``.
    centres : torch.Tensor
        Int64, shape ``(K, D)``: pixel indices of each object's medoid.
    """
    flat = labels.reshape(-1).long()
    dims = labels.ndim
    order = torch.argsort(flat, stable=True)
    ids, counts = torch.unique(flat, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    keep = ids != 0
    ids, counts, starts = ids[keep], counts[keep], starts[keep]
    strides = torch.tensor([int(np.prod(labels.shape[i + 1:])) for i in range(dims)],
                           device=labels.device)
    size = torch.tensor(labels.shape, device=labels.device)
    centres = torch.empty(len(ids), dims, dtype=torch.long, device=labels.device)
    chunk = max(1, 2**22 // max_points**2)  # bounds the (chunk, m, m) distance tensor
    j = torch.arange(max_points, device=labels.device)
    for lo in range(0, len(ids), chunk):
        n, s = counts[lo:lo + chunk, None], starts[lo:lo + chunk, None]
        m = n.clamp(max=max_points)
        valid = j[None] < m  # (k, m)
        pick = order[s + torch.where(valid, (j[None] * n) // m, 0)]  # evenly spaced pixels
        coords = (pick[..., None] // strides) % size  # (k, m, D)
        dist = torch.cdist(coords.double(), coords.double())  # (k, m, m)
        total = (dist * valid[:, None, :]).sum(-1).masked_fill(~valid, float("inf"))
        best = total.argmin(-1)
        centres[lo:lo + chunk] = coords[torch.arange(len(best)), best]
    return ids, centres


def centres_of(labels: np.ndarray, max_points: int = MEDOID_POINTS
               ) -> tuple[np.ndarray, np.ndarray]:
    """Each object's centre: its (approximate) medoid, a pixel that lies inside the object.

    Parameters
    ----------
    labels : numpy.ndarray
        2D or 3D integer label image, 0 = background.
    max_points : int
        Pixels per object among which the medoid is searched (see :func:`medoids`).

    Returns
    -------
    ids : numpy.ndarray
        Sorted nonzero labels, shape ``(K,)``.
    centres : numpy.ndarray
        Int64 pixel indices, shape ``(K, D)``; ``labels[tuple(centres[k])] == ids[k]``.
    """
    ids, centres = medoids(torch.as_tensor(np.asarray(labels).astype(np.int64)), max_points)
    return ids.numpy(), centres.numpy()


def _tensor(x, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x,
                           dtype=torch.float32, device=device)


@torch.no_grad()
def cluster(
    offsets: np.ndarray | torch.Tensor,
    sigma: np.ndarray | torch.Tensor,
    seed_map: np.ndarray | torch.Tensor,
    fg_threshold: float = 0.5,
    seed_threshold: float = 0.9,
    min_size: int = 10,
    min_unclustered: float = 0.5,
    pixel_size: float = PIXEL_SIZE,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Group pixels into objects around seeds: predicted embeddings -> label image.

    Foreground is ``seed_map > fg_threshold``. Repeatedly, the not yet clustered foreground
    pixel with the highest seediness (if above ``seed_threshold``) becomes a seed: its
    embedding ``e_s`` is the object's centre and its bandwidth ``sigma_s`` the object's size.
    Every foreground pixel with ``exp(-sum_d (e_d - e_s,d)^2 / (2 sigma_s,d^2)) > 0.5`` is
    proposed; the not yet clustered ones become a new object if there are at least
    ``min_size`` of them and they make up at least ``min_unclustered`` of the proposal (a
    proposal mostly made of claimed pixels is a leftover of an object already found).
    Rejected proposals are marked as visited, so every round removes the seed at least.

    Parameters
    ----------
    offsets : array or tensor
        ``(D, *spatial)`` offsets in embedding units (the ``tanh`` output), added to the
        :func:`coordinate_grid`.
    sigma : array or tensor
        ``(D, *spatial)`` or ``(1, *spatial)`` bandwidths in embedding units (positive).
    seed_map : array or tensor
        ``(*spatial)`` or ``(1, *spatial)`` seediness in [0, 1].
    fg_threshold, seed_threshold : float
        Foreground and seed thresholds on ``seed_map``.
    min_size : int
        Smallest object kept, in pixels.
    min_unclustered : float
        Share of a proposal that must still be unclustered for it to become an object.
    pixel_size : float
        As used in training (see :func:`coordinate_grid`).
    device : str or torch.device, optional
        Where the clustering runs (default: the CPU).

    Returns
    -------
    numpy.ndarray
        Int32 label image ``(*spatial)``: 0 background, objects ``1..N`` in the order found.
    """
    offsets = _tensor(offsets, device)
    dims = offsets.shape[0]
    spatial = tuple(offsets.shape[1:])
    if len(spatial) != dims:
        raise ValueError(f"cluster: offsets {tuple(offsets.shape)} must be (D, *spatial) with "
                         f"one channel per spatial axis.")
    sigma = _tensor(sigma, offsets.device)
    seed_map = _tensor(seed_map, offsets.device).reshape(spatial)
    if sigma.shape[1:] != spatial or sigma.shape[0] not in (1, dims):
        raise ValueError(f"cluster: sigma {tuple(sigma.shape)} must be (1 or {dims}, "
                         f"*{spatial}).")
    labels = torch.zeros(spatial, dtype=torch.int32, device=offsets.device)
    fg = seed_map > fg_threshold
    if int(fg.sum()) < min_size:
        return labels.cpu().numpy()
    emb = (coordinate_grid(spatial, offsets.device, pixel_size) + offsets)[:, fg]  # (D, N)
    sig = sigma[:, fg]  # (1 or D, N)
    seeds = seed_map[fg]
    found = torch.zeros_like(seeds, dtype=torch.int32)
    free = torch.ones_like(seeds, dtype=torch.bool)  # neither clustered nor visited
    unclustered = torch.ones_like(free)
    count = 0
    while True:
        best = int(torch.argmax(torch.where(free, seeds, -1.0)))
        if not free[best] or seeds[best] <= seed_threshold:
            break
        d2 = (emb - emb[:, best:best + 1]).square() / (2 * sig[:, best:best + 1].square())
        proposal = torch.exp(-d2.sum(0)) > 0.5
        proposal[best] = True
        new = proposal & unclustered
        n_new = int(new.sum())
        if n_new >= min_size and n_new >= min_unclustered * int(proposal.sum()):
            count += 1
            found[new] = count
            unclustered &= ~new
        free &= ~proposal
    labels[fg] = found
    return labels.cpu().numpy()
