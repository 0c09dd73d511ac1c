"""Registration figures: a displacement field drawn as a warped grid, and before/after overlays
of the moving (magenta) and fixed (green) images.

Fields follow :mod:`im2im_helpers.data.deform`: ``(dims, *spatial)`` in pixels, channels in
the image's axis order, ``warped(x) = moving(x + u(x))``. 3D images and fields are shown at
their middle Z plane (the in-plane Y, X components).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from im2im_helpers.viz.figures import finish_figure, panel_grid, plane_of


def field_plane(displacement) -> np.ndarray:
    """The in-plane ``(2, Y, X)`` part of a field: itself in 2D; the Y, X components at the
    middle Z plane in 3D."""
    u = np.asarray(displacement, dtype=np.float32)
    if u.ndim == 3 and u.shape[0] == 2:
        return u
    if u.ndim == 4 and u.shape[0] == 3:
        return u[1:, u.shape[1] // 2]
    raise ValueError(f"displacement has shape {u.shape}: expected (2, Y, X) or (3, Z, Y, X).")


def overlay(moving, fixed) -> np.ndarray:
    """An RGB image ``(Y, X, 3)``: ``moving`` in magenta, ``fixed`` in green, each scaled to its
    1st-99th percentiles; aligned structures are grey, misaligned ones coloured."""
    def scaled(x):
        x = plane_of(x).astype(np.float64)
        low, high = np.percentile(x, (1, 99))
        return np.clip((x - low) / (high - low or 1.0), 0, 1)

    m, f = scaled(moving), scaled(fixed)
    if m.shape != f.shape:
        raise ValueError(f"moving has shape {m.shape} but fixed has shape {f.shape}: overlay "
                         "images of one shape.")
    return np.stack([m, f, m], axis=-1)


def draw_grid(ax: plt.Axes, displacement, spacing: int = 8, color: str = "tab:orange",
              scale: float = 1.0) -> None:
    """Draw the lines of a regular grid (every ``spacing`` pixels) moved by the field: the point
    ``x`` of the fixed image's grid is drawn at ``x + scale * u(x)`` (where it samples the
    moving image). A smooth field bends the lines; a folding one makes them cross."""
    u = field_plane(displacement) * scale
    ny, nx = u.shape[1:]
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    py, px = yy + u[0], xx + u[1]
    for row in range(0, ny, spacing):
        ax.plot(px[row], py[row], color=color, lw=0.7)
    for col in range(0, nx, spacing):
        ax.plot(px[:, col], py[:, col], color=color, lw=0.7)
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(ny - 0.5, -0.5)


def fields(image, displacements: Mapping[str, np.ndarray], spacing: int = 8,
           scale: float = 1.0, path: str | os.PathLike | None = None,
           title: str | None = None) -> plt.Figure:
    """One panel per field: the grid it warps (:func:`draw_grid`) over ``image`` (grey).

    Parameters
    ----------
    image : array
        The fixed image (2D, or a 3D volume shown at its middle plane).
    displacements : mapping
        Fields by name (e.g. ``"true"``, ``"tvl1"``, ``"localnet"``).
    spacing : int
        Pixels between grid lines.
    scale : float
        Exaggerates the displacement for display (the panels say so when it is not 1).
    path : path-like, optional
        Where to save the figure.
    title : str, optional
        The figure's title.
    """
    plane = plane_of(image)
    fig, axes = panel_grid(len(displacements), *plane.shape)
    axes = axes.ravel()
    for ax, (name, u) in zip(axes, displacements.items()):
        ax.imshow(plane, cmap="gray")
        draw_grid(ax, u, spacing, scale=scale)
        ax.set_title(name if scale == 1 else f"{name} (x{scale:g})", fontsize=10)
    return finish_figure(fig, path, title)


def overlays(fixed, images: Mapping[str, np.ndarray], crop: tuple[slice, slice] | None = None,
             path: str | os.PathLike | None = None, title: str | None = None) -> plt.Figure:
    """One panel per image: its :func:`overlay` (magenta) with ``fixed`` (green), e.g. the
    moving image before registration and its warped versions after.

    Parameters
    ----------
    fixed : array
        The fixed image.
    images : mapping
        Images of ``fixed``'s shape by name (``"before"``, ``"tvl1"``, ...).
    crop : tuple of slice, optional
        A 2D region to show.
    path : path-like, optional
        Where to save the figure.
    title : str, optional
        The figure's title.
    """
    shown = {name: overlay(image, fixed) for name, image in images.items()}
    if crop is not None:
        shown = {name: rgb[crop] for name, rgb in shown.items()}
    first = next(iter(shown.values()))
    fig, axes = panel_grid(len(shown), *first.shape[:2])
    axes = axes.ravel()
    for ax, (name, rgb) in zip(axes, shown.items()):
        ax.imshow(rgb)
        ax.set_title(name, fontsize=10)
    return finish_figure(fig, path, title)
