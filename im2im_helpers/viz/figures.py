"""Figures: input | prediction | target | error grids, loss curves, and a slice/time browser
(ipywidgets) that always also draws a static figure, since widgets do not render in the book."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from im2im_helpers.metrics.texture import radial_power_spectrum


def plane_of(x: np.ndarray, index: int | None = None) -> np.ndarray:
    """Reduce an image to one 2D plane: drop a leading channel, take a Z (or T) plane."""
    x = np.squeeze(np.asarray(x))
    while x.ndim > 2:
        x = x[x.shape[0] // 2 if index is None else index]
    return x


def save_figure(fig: plt.Figure, path: str | os.PathLike | None) -> None:
    """Save ``fig`` to ``path`` (folders created) when a path is given."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")


def finish_figure(fig: plt.Figure, path: str | os.PathLike | None, title: str | None = None,
                  ax: plt.Axes | None = None) -> plt.Figure:
    """Title (of ``ax``, else of the figure), tight layout, save to ``path`` if given."""
    if title:
        (ax.set_title if ax is not None else fig.suptitle)(title)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def panel_grid(n: int, height: int, width: int, columns: int | None = None,
               extra: float = 0.8) -> tuple[plt.Figure, np.ndarray]:
    """A figure for ``n`` image panels of ``height`` x ``width`` pixels: ``columns`` per row
    (default all in one row; 2 for wide images), every axis switched off. ``extra`` inches of
    height leave room for titles."""
    ncols = min(n, columns or n) if width <= 1.5 * height else min(n, 2)
    nrows = -(-n // ncols)
    panel_w = 3.2 if ncols > 2 else 6.0
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(panel_w * ncols, panel_w * height / width * nrows + extra))
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def center_crop(shape: tuple[int, ...], size: int) -> tuple[slice, slice]:
    """Slices of a central ``size`` x ``size`` region of the last two axes of ``shape``
    (smaller when the image is)."""
    return tuple(slice(max(0, (n - size) // 2), max(0, (n - size) // 2) + min(size, n))
                 for n in shape[-2:])


def compare(
    images: Mapping[str, np.ndarray],
    target_key: str = "target",
    error_of: str | None = "prediction",
    crop: tuple[slice, slice] | None = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> plt.Figure:
    """One row of panels (e.g. input | baseline | prediction | target) plus an error map.

    Parameters
    ----------
    images : mapping
        Panel title -> image (2D, or 3D/with channel: the middle plane is shown).
    target_key : str
        Which panel is the ground truth; intensity panels share its display range.
    error_of : str or None
        Add a panel of ``images[error_of] - images[target_key]``.
    crop : (slice, slice), optional
        Show only this region (a zoom).
    path : path-like, optional
        Save the figure here (PNG).
    """
    planes = {k: plane_of(v) for k, v in images.items()}
    if crop is not None:
        planes = {k: v[crop] for k, v in planes.items()}
    if error_of is not None:
        planes[f"error ({error_of} - {target_key})"] = planes[error_of] - planes[target_key]
    lo, hi = np.percentile(planes[target_key], (1, 99.5)) if target_key in planes else (None, None)
    fig, axes = panel_grid(len(planes), *next(iter(planes.values())).shape)
    for ax, (name, plane) in zip(axes.flat, planes.items()):
        if name.startswith("error"):
            lim = float(np.percentile(np.abs(plane), 99.5)) or 1.0
            im = ax.imshow(plane, cmap="RdBu_r", vmin=-lim, vmax=lim)
            fig.colorbar(im, ax=ax, fraction=0.046)
        elif name == "input":
            lo_in, hi_in = np.percentile(plane, (1, 99.5))
            ax.imshow(plane, cmap="gray", vmin=lo_in, vmax=hi_in)
        else:
            ax.imshow(plane, cmap="magma", vmin=lo, vmax=hi)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    return finish_figure(fig, path, title)


def loss_curves(run_or_history, path: str | os.PathLike | None = None, log: bool = True
                ) -> plt.Figure:
    """Training and validation loss per epoch (linear and log scale side by side).

    ``run_or_history`` is a :class:`im2im_helpers.train.Run` or its ``history()`` dict.
    """
    history = run_or_history.history() if hasattr(run_or_history, "history") else run_or_history
    curves = {k: v for k, v in history.items() if k in ("train_loss_epoch", "val_loss")}
    if not curves:
        raise ValueError(f"No epoch losses in the history (found {sorted(history)}).")
    scales = ("linear", "log") if log else ("linear",)
    fig, axes = plt.subplots(1, len(scales), figsize=(5 * len(scales), 3.4), squeeze=False)
    for ax, scale in zip(axes[0], scales):
        for name, values in curves.items():
            epochs = [e + 1 for e, _, _ in values]
            ax.plot(epochs, [v for _, _, v in values], marker="o", ms=3,
                    label=name.replace("_epoch", ""))
        ax.set_yscale(scale)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title(f"loss ({scale})")
        ax.legend()
    return finish_figure(fig, path)


def browse(stacks: Mapping[str, np.ndarray], axis_name: str = "t",
           path: str | os.PathLike | None = None, static_index: int | None = None):
    """Browse stacks (same length on their first axis: T or Z) side by side with a slider.

    Always draws a static figure of one plane (``static_index``, default the middle) so the
    notebook shows something where widgets do not render; returns the widget (or ``None`` when
    ipywidgets is not installed).
    """
    arrays = {k: np.asarray(v) for k, v in stacks.items()}
    lengths = {len(v) for v in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"All stacks need the same length along {axis_name}: got {lengths}.")
    n = lengths.pop()
    index = n // 2 if static_index is None else static_index

    def draw(i: int) -> plt.Figure:
        fig, axes = plt.subplots(1, len(arrays), figsize=(3.2 * len(arrays), 3.4), squeeze=False)
        for ax, (name, arr) in zip(axes[0], arrays.items()):
            plane = plane_of(arr[i])
            ax.imshow(plane, cmap="gray", vmin=np.percentile(plane, 1),
                      vmax=np.percentile(plane, 99.5))
            ax.set_title(f"{name} ({axis_name}={i})", fontsize=10)
            ax.axis("off")
        fig.tight_layout()
        return fig

    return static_and_slider(draw, index, path, lambda widgets: widgets.IntSlider(
        value=index, min=0, max=n - 1, description=axis_name))


def static_and_slider(draw, value, path: str | os.PathLike | None, make_slider):
    """Show ``draw(value)`` as a static figure (saved to ``path``: what the book shows), then,
    where ipywidgets is installed, a slider made by ``make_slider(ipywidgets)`` that redraws
    (see :func:`slider_figure`); returns the widget, or ``None`` without ipywidgets."""
    save_figure(draw(value), path)
    plt.show()
    try:
        import ipywidgets
    except ImportError:
        return None
    return slider_figure(make_slider(ipywidgets), draw)


def png_bytes(fig: plt.Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def slider_figure(slider, draw):
    """An ipywidgets slider above a picture that ``draw(value) -> Figure`` redraws.

    The slider swaps PNG bytes in an Image widget. (``ipywidgets.interactive`` would capture
    plots in an Output widget, which made headless runs under papermill hang at random.)
    """
    import ipywidgets

    picture = ipywidgets.Image(value=png_bytes(draw(slider.value)), format="png")
    slider.observe(lambda change: setattr(picture, "value", png_bytes(draw(change["new"]))),
                   names="value")
    return ipywidgets.VBox([slider, picture])


def line_profiles(
    images: Mapping[str, np.ndarray],
    start: tuple[float, float],
    end: tuple[float, float],
    width: int = 1,
    path: str | os.PathLike | None = None,
    background: str | None = None,
    pixel_size: float | None = None,
) -> plt.Figure:
    """Intensity along a line through each image, on one plot, with the line drawn on an image.

    What a gain in resolution looks like: thin structures that merge into one bump in a blurred
    image show as separate, narrower peaks in a sharper one.

    Parameters
    ----------
    images : mapping
        Name -> 2D image (a leading channel axis is dropped); same shape.
    start, end : (row, column)
        End points of the line, in pixels.
    width : int
        Pixels averaged across the line.
    background : str, optional
        Which image shows the line (default: the last).
    pixel_size : float, optional
        Micrometres per pixel, for the distance axis.
    """
    from skimage.measure import profile_line

    planes = {k: plane_of(v) for k, v in images.items()}
    shown = planes[background or list(planes)[-1]]
    fig, (ax_img, ax_plot) = plt.subplots(1, 2, figsize=(11, 4),
                                          gridspec_kw={"width_ratios": [1, 1.6]})
    ax_img.imshow(shown, cmap="magma", vmin=np.percentile(shown, 1),
                  vmax=np.percentile(shown, 99.8))
    ax_img.plot([start[1], end[1]], [start[0], end[0]], color="cyan", lw=1.5)
    ax_img.set_title(background or list(planes)[-1], fontsize=10)
    ax_img.axis("off")
    for name, plane in planes.items():
        values = profile_line(plane, start, end, linewidth=width, mode="reflect", order=1)
        distance = np.arange(len(values)) * (pixel_size or 1.0)
        ax_plot.plot(distance, values, label=name, lw=1.5)
    ax_plot.set_xlabel("distance along the line (µm)" if pixel_size else "distance (pixels)")
    ax_plot.set_ylabel("intensity")
    ax_plot.legend(fontsize=9)
    return finish_figure(fig, path)


def sweep(
    results: Mapping[str, Mapping[float, float]],
    xlabel: str,
    ylabel: str,
    path: str | os.PathLike | None = None,
    logx: bool = True,
    title: str | None = None,
) -> plt.Figure:
    """One line per method of a metric over a parameter (e.g. PSNR over photon counts).

    ``results`` maps a method to ``{parameter value: metric value}``.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in results.items():
        xs = sorted(values)
        ax.plot(xs, [values[x] for x in xs], marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return finish_figure(fig, path, title, ax)


def _epoch_values(history: Mapping, name: str) -> list[tuple[int, int, float]] | None:
    """The per-epoch values of a logged term: ``NAME_epoch`` when it was logged per step too."""
    return history.get(f"{name}_epoch", history.get(name))


def loss_terms(
    run_or_history,
    names: list[str] | tuple[str, ...] = ("train_g_l1", "train_g_adv", "train_d", "val_loss"),
    path: str | os.PathLike | None = None,
    guides: Mapping[str, float] | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Each separately logged loss term per epoch in its own panel (its own scale).

    What to look at when training a GAN: the total loss hides the tug of war between generator
    and discriminator; its terms show it.

    Parameters
    ----------
    run_or_history : Run or dict
        A :class:`im2im_helpers.train.Run` or its ``history()``.
    names : sequence of str
        Logged terms (``NAME_epoch`` is used where the term was also logged per step); terms the
        history lacks are left out, but at least one must be there.
    guides : mapping, optional
        Term -> a value drawn as a dashed line (e.g. 0.25 for the least-squares GAN losses of a
        discriminator that cannot tell real from generated).
    """
    history = run_or_history.history() if hasattr(run_or_history, "history") else run_or_history
    curves = {n: v for n in names if (v := _epoch_values(history, n))}
    if not curves:
        raise ValueError(f"None of {list(names)} is in the history (found {sorted(history)}).")
    fig, axes = plt.subplots(1, len(curves), figsize=(3.6 * len(curves), 3.2), squeeze=False)
    for ax, (name, values) in zip(axes[0], curves.items()):
        ax.plot([e + 1 for e, _, _ in values], [v for _, _, v in values], marker="o", ms=2)
        if guides and name in guides:
            ax.axhline(guides[name], color="grey", ls="--", lw=1)
        ax.set_xlabel("epoch")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    return finish_figure(fig, path, title)


def _display(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """A 2D plane, or an RGB picture in [0, 1] (percentile-stretched) for three channels."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3 and x.shape[0] == 3:
        rgb = np.moveaxis(x, 0, -1)
        lo, hi = np.percentile(rgb, (0.5, 99.5))
        return np.clip((rgb - lo) / (hi - lo or 1.0), 0, 1), True
    return plane_of(x), False


def compare_colour(
    images: Mapping[str, np.ndarray],
    target_key: str = "target",
    crop: tuple[slice, slice] | None = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> plt.Figure:
    """One row of panels like :func:`compare`, with three-channel images shown in colour.

    For stain transfer, where the input (and sometimes the target) is an RGB picture: a
    ``(3, Y, X)`` image is shown as colour, anything else as one plane in the target's display
    range (when the target is one plane too). No error map: compare colours by eye, numbers in
    a table.
    """
    shown = {k: _display(v) for k, v in images.items()}
    if crop is not None:
        shown = {k: (v[crop], rgb) for k, (v, rgb) in shown.items()}
    target, target_rgb = shown.get(target_key, (None, True))
    limits = (None, None) if target_rgb else tuple(np.percentile(target, (1, 99.5)))
    fig, axes = panel_grid(len(shown), *next(iter(shown.values()))[0].shape[:2])
    for ax, (name, (picture, rgb)) in zip(axes.flat, shown.items()):
        if rgb:
            ax.imshow(picture)
        else:
            lo, hi = limits if limits[0] is not None else np.percentile(picture, (1, 99.5))
            ax.imshow(picture, cmap="magma", vmin=lo, vmax=hi)
        ax.set_title(name, fontsize=10)
    return finish_figure(fig, path, title)


def power_spectra(
    images: Mapping[str, np.ndarray],
    path: str | os.PathLike | None = None,
    title: str | None = None,
    bins: int = 32,
) -> plt.Figure:
    """Radially averaged power spectra (:func:`~im2im_helpers.metrics.radial_power_spectrum`) of
    2D images on one log-log plot: where the curves part at high frequencies, one image has more
    (or less) fine texture than another."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, image in images.items():
        freq, power = radial_power_spectrum(image, bins)
        ax.loglog(freq, power, label=name, lw=1.5)
    ax.set_xlabel("spatial frequency (cycles per pixel)")
    ax.set_ylabel("power")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    return finish_figure(fig, path, title, ax)


def histograms(
    images: Mapping[str, Sequence[np.ndarray]],
    path: str | os.PathLike | None = None,
    title: str | None = None,
    bins: int = 64,
) -> plt.Figure:
    """Intensity histograms (densities, log scale) of groups of images on one plot, e.g. real
    test images next to synthetic ones made from the same masks; all groups share the bins,
    which span every value (the log scale keeps rare bright pixels visible)."""
    values = {name: np.concatenate([np.ravel(x) for x in group]) for name, group in images.items()}
    low = min(float(v.min()) for v in values.values())
    high = max(float(v.max()) for v in values.values())
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, v in values.items():
        ax.hist(v, bins=edges, density=True, histtype="step", lw=1.5, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("intensity (normalised)")
    ax.set_ylabel("density")
    ax.legend(fontsize=9)
    return finish_figure(fig, path, title, ax)
