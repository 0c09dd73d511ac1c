"""Sliding-window prediction of whole 2D/3D images (and time-lapses), written as OME-TIFF."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from torch import nn

from im2im_helpers import io, models
from im2im_helpers.data.pairs import check_finite, percentile_normalize
from im2im_helpers.stream import engine, sources, tiling

#: The model-window helpers live in :mod:`im2im_helpers.models` (shared with streaming).
window_multiple = models.window_multiple
valid_window = models.valid_window


def _turn(roi: Sequence[int] | None, k: int) -> tuple | None:
    """The window for an image turned ``k`` times by 90 degrees in YX."""
    if roi is None or k % 2 == 0:
        return None if roi is None else tuple(roi)
    return (*roi[:-2], roi[-1], roi[-2])


@torch.no_grad()
def image(
    model: nn.Module,
    x: np.ndarray,
    roi: Sequence[int] | None = None,
    overlap: float = 0.25,
    batch_size: int = 4,
    blend: str = "gaussian",
    time_axis: bool = False,
    device: str | torch.device | None = None,
    progress: bool = False,
    tta: bool = False,
) -> np.ndarray:
    """Predict a whole image with overlapping windows, blended with Gaussian weights.

    Parameters
    ----------
    model : torch.nn.Module
        A task from :mod:`im2im_helpers.tasks` (its ``postprocess`` is applied, e.g. sigmoid for
        segmentation), a BioImage.IO package from :func:`im2im_helpers.export.load_package`
        (its ``postprocess`` is applied to the whole prediction) or any network.
    x : numpy.ndarray
        ``(C, Y, X)`` or ``(C, Z, Y, X)``; with ``time_axis=True`` a leading T axis, predicted one
        time point at a time. Normalised as the network expects it: as in training (the pairs
        of :func:`im2im_helpers.data.load` are), or by a package's ``preprocess`` (which
        :func:`file` applies to a raw image).
    roi : sequence of int, optional
        Window size, normally the training patch size. By default one window covers the image
        when a batch of such windows fits a quarter of the free memory of the device, else
        the largest window that does (:func:`im2im_helpers.stream.tiling.auto_window`).
        Sizes the network cannot take are rounded up to the next multiple it can
        (:func:`window_multiple`), and to a package's smallest size; the image is padded to
        the window and the prediction cropped back, so the output always has the input's
        spatial shape.
    overlap : float
        Fraction of overlap between neighbouring windows.
    batch_size : int
        Windows per forward pass.
    blend : {"gaussian", "constant"}
        How overlapping windows are averaged.
    device : str or torch.device, optional
        Where the network runs (default: where its weights are). The whole output is
        accumulated on the CPU, so only windows occupy accelerator memory.
    progress : bool
        Show a progress bar over windows.
    tta : bool
        Test-time augmentation: average the predictions of the 8 flips and 90-degree turns of
        the YX plane (8 times the compute; smoother, usually more accurate predictions).

    Returns
    -------
    numpy.ndarray
        The prediction, float32, shaped like ``x`` with the model's output channels.
    """
    x = np.asarray(x)
    if time_axis:
        return np.stack([image(model, xt, roi, overlap, batch_size, blend, False, device,
                               progress, tta) for xt in x])
    if tta:
        # Average over the 8 flips/90-degree turns of the YX plane, each undone afterwards.
        outs = []
        for k in range(4):
            for flip in (False, True):
                xt = np.rot90(x, k, axes=(-2, -1))
                xt = xt[..., ::-1] if flip else xt
                y = image(model, np.ascontiguousarray(xt), _turn(roi, k), overlap, batch_size,
                          blend, False, device, progress, False)
                y = y[..., ::-1] if flip else y
                outs.append(np.rot90(y, -k, axes=(-2, -1)))
        return np.mean(outs, axis=0).astype(np.float32)
    dims = models.dims_of(model) or x.ndim - 1
    if x.ndim != dims + 1:
        raise ValueError(
            f"Expected a {dims}D image as (C, {'Z, ' if dims == 3 else ''}Y, X), got shape "
            f"{x.shape}. For a time-lapse pass time_axis=True; select one channel with x[c:c+1]."
        )
    check_finite(x, "input to predict.image")
    was_training = model.training
    model.eval()
    device = torch.device(device) if device is not None else models.device_of(model)
    model.to(device)
    smallest = getattr(model, "min_size", None)  # a package's smallest valid size
    if roi is None:  # the whole image if it fits the device's memory, else the largest window
        roi = tiling.auto_window(model, x.shape[1:], multiple=window_multiple(model),
                                 in_channels=x.shape[0], device=device,
                                 batch_size=batch_size, smallest=smallest)
    roi = valid_window(roi, window_multiple(model))
    if smallest is not None:
        roi = tuple(max(r, int(m)) for r, m in zip(roi, smallest))
    tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
    out = sliding_window_inference(
        tensor, roi, batch_size, model, overlap=overlap, mode=blend,
        sw_device=device, device="cpu", progress=progress,
    )
    if hasattr(model, "postprocess"):
        out = model.postprocess(out)
    model.train(was_training)
    return out[0].numpy().astype(np.float32, copy=False)


def as_function(model: nn.Module, roi: Sequence[int] | None = None,
                **options) -> Callable[[np.ndarray], np.ndarray]:
    """A trained model as a function of one image, ``f(x) -> prediction`` (sliding windows of
    ``roi``; ``options`` as for :func:`image`, e.g. ``tta=True``): the form every method takes
    in a comparison (:func:`im2im_helpers.evaluate.apply`), next to the classical baselines."""
    return lambda x: image(model, x, roi=roi, **options)


#: An image is predicted in memory only when input, output and windows take at most this
#: fraction of the available memory; larger ones are streamed to OME-Zarr.
IN_MEMORY_FRACTION = 0.25


def is_zarr(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a Zarr store (a folder, or a name ending in ``.zarr``)."""
    path = Path(path)
    return path.suffix.lower() == ".zarr" or path.is_dir()


def fits_in_memory(source: str | os.PathLike) -> bool:
    """Whether predicting ``source`` in memory is safe: its pixels as float32, times four
    (input, output, the network's windows), take at most :data:`IN_MEMORY_FRACTION` of the
    memory available now. An image whose size cannot be read lazily counts as fitting."""
    try:
        image = sources.open_lazy(source)
    except Exception:  # the reader of :func:`file` reports what is wrong with it
        return True
    need = 4 * 4 * int(np.prod(image.shape))
    return need <= IN_MEMORY_FRACTION * tiling.free_memory("cpu")


def output_path(source: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Where the prediction of ``source`` goes in ``out_dir``: ``NAME_pred.ome.tiff``, or
    ``NAME_pred.ome.zarr`` (streamed, chunk by chunk) for an OME-Zarr input or an image too
    large to predict in memory (:func:`fits_in_memory`)."""
    from im2im_helpers.data.pairs import file_stem

    source = Path(source)
    if is_zarr(source):
        name = source.name[: -len(".ome.zarr")] if source.name.lower().endswith(".ome.zarr") \
            else source.name[: -len(source.suffix)] if source.suffix else source.name
        return Path(out_dir) / f"{name}_pred.ome.zarr"
    if not fits_in_memory(source):
        return Path(out_dir) / f"{file_stem(source)}_pred.ome.zarr"
    return Path(out_dir) / f"{file_stem(source)}_pred.ome.tiff"


def file(
    model: nn.Module,
    source: str | os.PathLike,
    out: str | os.PathLike,
    channel: int = 0,
    roi: Sequence[int] | None = None,
    normalize_percentiles: Sequence[float] | None = (1.0, 99.8),
    overwrite: bool = False,
    **options,
) -> Path:
    """Predict every time point of an image file and write it as OME-TIFF or OME-Zarr.

    An output named ``*.zarr`` is streamed (:func:`im2im_helpers.stream.predict_to_zarr`):
    the input is read window by window and the output written chunk by chunk, so the image
    may be larger than memory, and an interrupted prediction resumes. An OME-TIFF output is
    made in memory, and refused for an image too large for that (:func:`fits_in_memory`).
    Either keeps the input's pixel sizes, has axes TCZYX and is written atomically; an
    existing output is an error unless ``overwrite=True``. ``options`` go to :func:`image`
    (or to the streamed prediction: ``overlap``, ``batch_size``, ``blend``, ``device``,
    ``progress``, ``chunks``).

    A one-channel model reads ``channel``; a model with as many input channels as the image
    reads them all. Each time point is normalised before prediction: by percentiles
    (``normalize_percentiles``, as in training), or, for a model with its own ``preprocess``
    (a BioImage.IO package from :func:`im2im_helpers.export.load_package`), by that instead.
    """
    out = Path(out)
    if is_zarr(out):
        if options.pop("tta", False):
            raise ValueError(f"{out}: test-time augmentation is not available when streaming "
                             "to OME-Zarr; write an OME-TIFF or predict without tta.")
        return engine.predict_to_zarr(model, source, out, channel=channel, roi=roi,
                                      normalize_percentiles=normalize_percentiles,
                                      overwrite=overwrite, **options)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists and was left untouched; pass overwrite=True.")
    if not fits_in_memory(source):
        raise MemoryError(
            f"{source}: is too large to predict in memory here (more than "
            f"{IN_MEMORY_FRACTION:.0%} of the available memory for input, output and windows). "
            f"Name the output NAME.ome.zarr to stream it chunk by chunk (the command line "
            "does so by itself).")
    pixels, pixel_sizes = _read_whole(source)
    dims = models.dims_of(model) or (3 if pixels.shape[2] > 1 else 2)
    channels = engine.input_channels(model, pixels.shape[1], channel, source)
    frames = []
    for t in range(pixels.shape[0]):
        x = pixels[t, channels].astype(np.float32)  # (C, Z, Y, X)
        if dims == 2:
            if x.shape[1] != 1:
                raise ValueError(f"{source}: is 3D (Z={x.shape[1]}) but the model is 2D.")
            x = x[:, 0]
        if hasattr(model, "preprocess"):  # a package normalises as it declares
            x = model.preprocess(x)
        elif normalize_percentiles is not None:
            x = percentile_normalize(x, *normalize_percentiles)
        y = image(model, x, roi, **options)
        frames.append(y[:, None] if dims == 2 else y)
    return io.write_ome_tiff(out, np.stack(frames), "TCZYX", pixel_sizes, overwrite=overwrite)


def _read_whole(source: str | os.PathLike) -> tuple[np.ndarray, tuple]:
    """The TCZYX pixels and pixel sizes of ``source``: an OME-Zarr store through the streaming
    reader (bioio needs a plugin for it), anything else through :func:`im2im_helpers.io.read`."""
    if is_zarr(source):
        lazy = sources.open_lazy(source)
        return lazy.data[(slice(None),) * 5], lazy.pixel_sizes
    img = io.read(source)
    return img.data, img.pixel_sizes
