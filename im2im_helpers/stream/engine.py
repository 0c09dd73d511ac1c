"""Sliding-window prediction of an image that need not fit in memory: the input is read one
window at a time, the output written to OME-Zarr one block (one chunk) at a time.

Each output block is the Gaussian-weighted average of the windows that overlap it, on the
same window grid as the in-memory :func:`im2im_helpers.predict.image` (see
:mod:`im2im_helpers.stream.windows`), so both give the same prediction. A window that
overlaps several blocks is computed once and kept on disk until its last block is written;
memory holds one block and one batch of windows, whatever the image size. A prediction that
is killed resumes from the blocks on disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from im2im_helpers import io, models, system
from im2im_helpers.stream import omezarr, tiling
from im2im_helpers.stream.sources import LazyImage, open_lazy, sample
from im2im_helpers.stream.windows import WindowGrid, blocks, overlap_slices

#: At most this many pixels per channel are read to estimate the normalisation percentiles
#: (a strided sample; an image this small or smaller is used whole, exactly as in memory).
SAMPLE_VALUES = 2**24
#: Output chunks are at least this many pixels along Y and X (viewers read them as tiles).
CHUNK_SIDE = 512


@dataclass(frozen=True)
class Normalization:
    """Per-channel percentile scaling ``(x - low) / max(high - low, eps)``, as
    :func:`im2im_helpers.data.pairs.percentile_normalize` applies it to a whole image."""

    low: np.ndarray
    high: np.ndarray
    eps: float = 1e-6

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        shape = (-1,) + (1,) * (x.ndim - 1)
        low, high = self.low.reshape(shape), self.high.reshape(shape)
        return ((x - low) / np.maximum(high - low, self.eps)).astype(np.float32)

    def as_dict(self) -> dict:
        """JSON-ready values (for the record of a prediction in progress)."""
        return {"low": self.low.tolist(), "high": self.high.tolist(), "eps": self.eps}


def sampled_normalization(image: LazyImage, t: int, channels: Sequence[int],
                          percentiles: Sequence[float],
                          max_values: int = SAMPLE_VALUES) -> Normalization:
    """The percentiles of time point ``t`` of each channel, from at most ``max_values``
    pixels per channel (the whole image when it is that small; else stored tiles spread
    evenly over it, :func:`im2im_helpers.stream.sources.sample`)."""
    from im2im_helpers.data.pairs import check_percentiles

    low, high = (float(p) for p in percentiles)
    check_percentiles(low, high)
    lows, highs = [], []
    for c in channels:
        values = sample(image, t, c, max_values)
        lows.append(np.percentile(values, low))
        highs.append(np.percentile(values, high))
    return Normalization(np.asarray(lows, np.float32), np.asarray(highs, np.float32))


def input_channels(model: nn.Module, n_channels: int, channel: int, path) -> list[int]:
    """The image channels a model reads: ``channel`` for a one-channel model, all of them
    for a model that takes as many as the image has.

    Raises
    ------
    ValueError
        If the image does not have the channel, or the model takes another number of
        channels than the image has.
    """
    wanted = models.in_channels_of(model) or 1
    if wanted == 1:
        if not 0 <= channel < n_channels:
            raise ValueError(f"{path}: has {n_channels} channels; channel={channel} is not "
                             "one of them.")
        return [channel]
    if wanted != n_channels:
        raise ValueError(
            f"{path}: has {n_channels} channels, but the model takes {wanted} input channels. "
            f"Predict an image with {wanted} channels (in the order the model was trained on) "
            "or use a model trained on one channel.")
    return list(range(n_channels))


def package_percentiles(model: nn.Module) -> tuple[float, float] | None:
    """The percentiles of a BioImage.IO package's own normalisation (``None``: it has none).

    Raises
    ------
    ValueError
        If its preprocessing cannot be applied window by window.
    """
    return model.processing.window_percentiles()


def weights_fingerprint(model: nn.Module) -> str:
    """A short hash of a model's weights: a prediction in progress resumes only with the same
    weights."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        if isinstance(value, torch.Tensor):
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class WindowStore:
    """Predictions of windows that overlap several blocks, kept on disk (written atomically)
    until the last block they overlap is written."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: tuple) -> Path:
        return self.folder / ("w-" + "-".join(str(k) for k in key) + ".npy")

    def get(self, key: tuple) -> np.ndarray | None:
        """The stored prediction of window ``key``, or ``None``."""
        path = self._path(key)
        return np.load(path) if path.is_file() else None

    def put(self, key: tuple, value: np.ndarray) -> None:
        """Keep the prediction of window ``key``."""
        io.write_bytes(self._path(key), lambda f: np.save(f, value))

    def drop(self, key: tuple) -> None:
        """Forget window ``key`` (no longer needed)."""
        self._path(key).unlink(missing_ok=True)


class _Reader:
    """Windows of one time point read from the lazy image, normalised, padded as MONAI pads:
    the windows a block needs are read together, as one region (each stored chunk of the
    input is then decompressed once per block, not once per window)."""

    def __init__(self, image: LazyImage, t: int, channels: list[int], dims: int,
                 normalization: Normalization | None, grid: WindowGrid):
        self.image, self.t, self.channels, self.dims = image, t, channels, dims
        self.normalization, self.grid = normalization, grid
        self.channel_index = slice(channels[0], channels[-1] + 1)
        self.region: np.ndarray | None = None
        self.corner: tuple[int, ...] = ()

    def _clip(self, window: tuple[int, ...]) -> tuple[list[int], list[int]]:
        origin = self.grid.origin(window)
        lows = [max(o, 0) for o in origin]
        highs = [min(o + r, s) for o, r, s in zip(origin, self.grid.roi, self.grid.shape)]
        return lows, highs

    def load(self, windows: Sequence[tuple[int, ...]]) -> None:
        """Read the region that holds ``windows`` (normalised, in memory until the next
        call)."""
        spans = [self._clip(w) for w in windows]
        lows = [min(s[0][d] for s in spans) for d in range(self.dims)]
        highs = [max(s[1][d] for s in spans) for d in range(self.dims)]
        spatial = tuple(slice(lo, hi) for lo, hi in zip(lows, highs))
        spatial = spatial if self.dims == 3 else (0, *spatial)
        raw = self.image.data[(self.t, self.channel_index, *spatial)]
        self.region = self.normalization(raw) if self.normalization else raw.astype(np.float32)
        self.corner = tuple(lows)

    def window(self, window: tuple[int, ...]) -> np.ndarray:
        """One window of the loaded region, zero-padded where it leaves the image."""
        origin = self.grid.origin(window)
        lows, highs = self._clip(window)
        inside = tuple(slice(lo - c, hi - c) for lo, hi, c in zip(lows, highs, self.corner))
        x = self.region[(slice(None), *inside)]
        if x.shape[1:] == tuple(self.grid.roi):
            return x
        target = tuple(slice(lo - o, hi - o) for lo, hi, o in zip(lows, highs, origin))
        padded = np.zeros((x.shape[0], *self.grid.roi), np.float32)  # MONAI pads with zeros
        padded[(slice(None), *target)] = x
        return padded


def _block_span(origin: Sequence[int], roi: Sequence[int], shape: Sequence[int],
                chunks: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    first = tuple(max(o, 0) // c for o, c in zip(origin, chunks))
    last = tuple((min(o + r, s) - 1) // c for o, r, s, c in zip(origin, roi, shape, chunks))
    return first, last


def default_chunks(spatial: Sequence[int], roi: Sequence[int]) -> tuple[int, ...]:
    """Output chunk per spatial axis: the window, at least :data:`CHUNK_SIDE` along Y and
    X, at most the image."""
    dims = len(spatial)
    least = [1] * (dims - 2) + [CHUNK_SIDE, CHUNK_SIDE]
    return tuple(min(int(s), max(int(r), m)) for s, r, m in zip(spatial, roi, least))


@torch.no_grad()
def predict_to_zarr(
    model: nn.Module,
    source: str | os.PathLike | LazyImage,
    out: str | os.PathLike,
    *,
    channel: int = 0,
    roi: Sequence[int] | None = None,
    overlap: float = 0.25,
    batch_size: int = 4,
    blend: str = "gaussian",
    normalize_percentiles: Sequence[float] | None = (1.0, 99.8),
    chunks: Sequence[int] | None = None,
    device: str | torch.device | None = None,
    overwrite: bool = False,
    progress: bool = False,
    sample_values: int = SAMPLE_VALUES,
) -> Path:
    """Predict every time point of an image, reading it window by window and writing an
    OME-Zarr image (TCZYX, float32, pixel sizes of the input, multiscale pyramid) block by
    block.

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`im2im_helpers.predict.image` (a task, a BioImage.IO package or a network).
    source : path or LazyImage
        The image (OME-Zarr, TIFF, anything bioio reads lazily), never loaded whole.
    out : path
        The OME-Zarr folder to write (``NAME.ome.zarr``). It is built in a hidden
        ``.NAME.ome.zarr.partial`` folder beside it and renamed when complete; an
        interrupted prediction of the same image, model and settings resumes there without
        recomputing the blocks it finished.
    channel : int
        The channel a one-channel model reads (a model with as many input channels as the
        image reads them all).
    roi : sequence of int, optional
        Window size; by default the largest window whose batch fits a quarter of the free
        memory of the device (:func:`im2im_helpers.stream.tiling.auto_window`).
    overlap, batch_size, blend
        As for :func:`im2im_helpers.predict.image`.
    normalize_percentiles : (float, float) or None
        Percentile normalisation per time point and channel, from at most ``sample_values``
        pixels (the whole image when smaller; :func:`sampled_normalization`). A BioImage.IO package
        normalises as it declares instead.
    chunks : sequence of int, optional
        Output chunk (= block) per spatial axis; by default :func:`default_chunks`.
    device : str or torch.device, optional
        Where the network runs (default: where its weights are).
    overwrite : bool
        Replace an existing OME-Zarr output (anything else under that name is never
        replaced).
    progress : bool
        A progress bar over blocks.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    image = source if isinstance(source, LazyImage) else open_lazy(source)
    if out.resolve() == image.path.resolve():
        raise ValueError(f"{out}: is the input image; choose another output name.")
    n_t, n_c, n_z, n_y, n_x = image.shape
    dims = models.dims_of(model) or (3 if n_z > 1 else 2)
    if dims == 2 and n_z > 1:
        raise ValueError(f"{image.path}: is 3D (Z={n_z}) but the model is 2D; predict its "
                         "planes one by one or use a 3D model.")
    spatial = (n_z, n_y, n_x) if dims == 3 else (n_y, n_x)
    channels = input_channels(model, n_c, channel, image.path)
    if hasattr(model, "preprocess"):
        normalize_percentiles = package_percentiles(model)
    device = torch.device(device) if device is not None else models.device_of(model)
    was_training = model.training
    model.eval().to(device)
    multiple = models.window_multiple(model)
    smallest = getattr(model, "min_size", None)
    if roi is None:
        roi = tiling.auto_window(model, spatial, multiple=multiple, in_channels=len(channels),
                                 device=device, batch_size=batch_size, smallest=smallest)
    roi = models.valid_window(roi, multiple)
    if smallest is not None:
        roi = tuple(max(r, int(m)) for r, m in zip(roi, smallest))
    grid = WindowGrid.build(spatial, roi, overlap)
    weights = grid.importance(blend)
    chunks = tuple(int(c) for c in (chunks or default_chunks(spatial, roi)))
    reader_norms = [
        sampled_normalization(image, t, channels, normalize_percentiles, sample_values)
        if normalize_percentiles is not None else None for t in range(n_t)]
    probe = model(torch.zeros((1, len(channels), *roi), device=device))
    n_out = int(probe.shape[1])
    shape5 = (n_t, n_out, *((n_z,) if dims == 3 else (1,)), n_y, n_x)
    chunks5 = (1, n_out, *((chunks[0],) if dims == 3 else (1,)), *chunks[-2:])
    job = {"source": str(image.path.resolve()), "source_shape": list(image.shape),
           "channels": channels, "roi": list(roi), "overlap": overlap, "blend": blend,
           "chunks": list(chunks), "weights": weights_fingerprint(model),
           "normalization": [n.as_dict() if n else None for n in reader_norms]}
    level, resumed = omezarr.open_level(out, job, shape5, chunks5, overwrite=overwrite)
    store = WindowStore(omezarr.partial_path(out) / "windows")
    block_list = blocks(spatial, chunks)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_t * len(block_list), desc=f"predicting {image.path.name}",
                   unit="block")
    try:
        for t in range(n_t):
            reader = _Reader(image, t, channels, dims, reader_norms[t], grid)
            for block in block_list:
                index = tuple(b.start // c for b, c in zip(block, chunks))
                chunk_index = (t, 0, *((index[0],) if dims == 3 else (0,)), *index[-2:])
                windows = grid.touching(block)
                if not omezarr.chunk_written(level, chunk_index):
                    result = _predict_block(model, reader, grid, block, windows, chunks,
                                            weights, store, t, batch_size, device)
                    target = (t, slice(None), *(block if dims == 3 else (slice(0, 1), *block)))
                    level[target] = result if dims == 3 else result[:, None]
                _release(store, grid, windows, index, chunks, t)
                system.release_freed_memory()  # flat memory over a long image (its docstring)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    shutil.rmtree(store.folder, ignore_errors=True)
    return omezarr.finish(out, image.pixel_sizes, overwrite=overwrite)


def _predict_block(model, reader: _Reader, grid: WindowGrid, block, windows, chunks, weights,
                   store: WindowStore, t: int, batch_size: int, device) -> np.ndarray:
    """The blended prediction of one block: every window that overlaps it, weighted, added
    as soon as it is known (memory: the block and one batch of windows)."""
    size = tuple(b.stop - b.start for b in block)
    total: np.ndarray | None = None
    count = np.zeros(size, np.float32)

    def add(window: tuple[int, ...], prediction: np.ndarray) -> None:
        nonlocal total
        if total is None:
            total = np.zeros((prediction.shape[0], *size), np.float32)
        inside, target = overlap_slices(grid.origin(window), grid.roi, block)
        w = weights[inside]
        total[(slice(None), *target)] += prediction[(slice(None), *inside)] * w
        count[target] += w

    missing = []
    for window in windows:
        kept = store.get((t, *window))
        if kept is None:
            missing.append(window)
        else:
            add(window, kept)
    if missing:
        reader.load(missing)
    for i in range(0, len(missing), batch_size):
        batch = missing[i:i + batch_size]
        x = torch.from_numpy(np.stack([reader.window(w) for w in batch])).to(device)
        y = model(x).float().cpu().numpy()
        for window, prediction in zip(batch, y):
            add(window, prediction)
            first, last = _block_span(grid.origin(window), grid.roi, grid.shape, chunks)
            if first != last:  # another block needs it too
                store.put((t, *window), prediction)
    reader.region = None
    result = torch.from_numpy(total / count)[None]
    if hasattr(model, "postprocess"):
        result = model.postprocess(result)
    return result[0].numpy().astype(np.float32, copy=False)


def _release(store: WindowStore, grid: WindowGrid, windows, index, chunks, t: int) -> None:
    """Forget the stored ``windows`` (those of one block) whose last block is that block."""
    for window in windows:
        first, last = _block_span(grid.origin(window), grid.roi, grid.shape, chunks)
        if first != last and last == tuple(index):
            store.drop((t, *window))
