"""Streamed prediction to OME-Zarr: peak memory against the size of the input, and time
against the in-memory prediction of the same image.

1. **Peak memory** (``memory``): 3D float32 OME-Zarr inputs of 0.25, 1, 4 and 16 GiB
   (32 x 1448 x 1448, then Z x 2048 x 2048 with Z = 64, 256, 1024), stored as bioformats2raw
   writes them by default (zarr v2, NGFF 0.4, chunks (1, 1, 1, 1024, 1024), Blosc LZ4 with
   byte shuffle), written one chunk-deep slab at a time (the whole image is never in
   memory). Each is predicted with ``predict.file(model, source, NAME.ome.zarr,
   roi=(16, 256, 256), normalize_percentiles=(1, 99.8))`` (default overlap, batch, blending
   and output chunks) in a fresh process (1 torch thread, ``MALLOC_ARENA_MAX=2``) that
   reports its resident memory after the imports, its peak (``VmHWM``) overall and per phase
   (percentile sampling, blocks, pyramid and metadata), and the wall time. The network is
   one pointwise convolution (:func:`cheap_conv`; ``--kernel 3`` for a 3 x 3 x 3 one): the
   memory measured is the streaming machinery's (reads, blocks, windows kept on disk,
   pyramid), which a larger network shifts by the constant size of its activations for one
   batch of windows. Each size's input and output are deleted before the next size, and a
   size that does not fit the free disk is skipped with a message.
2. **Time ratio** (``ratio``): a real MONAI U-Net (16, 32, 64; strides 2, 2) on a 2D
   4096 x 4096 and a 3D 64 x 512 x 512 float32 OME-Zarr image, with the same window, overlap
   (0.25), batch (4), Gaussian blending and no normalisation on both sides, alternately,
   median of ``--repeats``:

   * *streamed*: ``predict.file(model, source.ome.zarr, out.ome.zarr)`` -- reads window by
     window, writes chunk by chunk, then the pyramid and the metadata (also reported without
     the pyramid);
   * *in memory, end to end*: the whole array read from the same OME-Zarr, then
     ``predict.image``, then ``io.write_ome_tiff`` (what ``predict.file(... out.ome.tiff)``
     does for a TIFF input; it does not read an OME-Zarr source);
   * *in memory, compute only*: the ``predict.image`` call alone.

   Both outputs are compared (largest absolute difference).

``--quick`` runs both at tiny sizes in seconds (the test does so). ``--malloc-mmap-threshold
BYTES`` runs the workers with glibc's ``MALLOC_MMAP_THRESHOLD_`` fixed (an experiment: arrays
that large are unmapped when freed instead of kept in the heap). Results go to ``--out``
(JSON) and a Markdown table is printed. The JSON also keeps each run's peak resident memory
above its start (``peak_above_start_mib``) in the time-ratio process; those runs share one
process, so memory the allocator kept from an earlier run hides part of a later one's.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/streaming.py --out benchmarks/results_streaming.json
    python benchmarks/streaming.py --quick
    python benchmarks/streaming.py --sizes-gib 0.25 1 4 --skip-ratio
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results_streaming.json"

#: Input sizes of the memory benchmark (GiB of float32 pixels) and their Y, X.
SIZES_GIB = (0.25, 1.0, 4.0, 16.0)
PLANE = (2048, 2048)
#: Fewest planes of a memory-benchmark input (the 0.25 GiB one: 32 x 1448 x 1448).
MIN_Z = 32
#: bioformats2raw's default chunking: one plane, 1024 x 1024 tiles (Z, Y, X).
INPUT_CHUNKS = (1, 1024, 1024)
MEMORY_ROI = (16, 256, 256)
PERCENTILES = (1.0, 99.8)
#: Cases of the time ratio: name -> (spatial shape, window).
RATIO_CASES = {"2d": ((4096, 4096), (256, 256)), "3d": ((64, 512, 512), (32, 128, 128))}
UNET_CHANNELS = (16, 32, 64)
#: Quick mode: tiny images with the same code paths.
QUICK_PLANE = (256, 256)
QUICK_SIZES_MIB = (1.0, 4.0)
QUICK_MIN_Z = 16
QUICK_INPUT_CHUNKS = (1, 128, 128)
QUICK_MEMORY_ROI = (8, 64, 64)
QUICK_RATIO_CASES = {"2d": ((256, 256), (64, 64)), "3d": ((16, 64, 64), (8, 32, 32))}
#: Free disk kept beyond what a size needs.
DISK_MARGIN = 2 * 2**30
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


# ------------------------------------------------------------------------------------------
# inputs


def shape_for(nbytes: float, plane: tuple[int, int] = PLANE,
              min_z: int = MIN_Z) -> tuple[int, int, int]:
    """The ``(Z, Y, X)`` float32 volume of about ``nbytes``: ``plane`` in Y and X, or, where
    that leaves fewer than ``min_z`` planes, ``min_z`` planes of a smaller square (so that
    every size has blocks inside the image on every axis, each needing as many windows as
    in the largest image: the same work per block)."""
    z = round(nbytes / (4 * plane[0] * plane[1]))
    if z >= min_z:
        return (z, *plane)
    side = round((nbytes / (4 * min_z)) ** 0.5)
    return (min_z, side, side)


def _pattern(z: int, plane: tuple[int, int]) -> np.ndarray:
    """Plane ``z`` of the test volume: smooth background plus a lattice of 'cells' whose
    brightness changes with Z, quantised to 256 levels (compressible, like a real 8-bit
    acquisition converted to float32)."""
    y = np.arange(plane[0], dtype=np.float32)[:, None]
    x = np.arange(plane[1], dtype=np.float32)[None, :]
    background = 0.5 + 0.2 * np.sin(x / 37.0) + 0.2 * np.cos(y / 23.0 + z / 11.0)
    cells = (np.sin(x / 6.0) * np.sin(y / 7.0 + z / 3.0)) > 0.5
    value = background + np.float32(0.3 * (1.5 + np.sin(z / 5.0))) * cells
    return (np.round(value * 255) / 255).astype(np.float32)


def write_input(path: Path, shape: tuple[int, ...], chunks: tuple[int, ...] = INPUT_CHUNKS,
                pixel_sizes: tuple[float, float, float] = (1.0, 0.2, 0.2)) -> Path:
    """An OME-Zarr image (NGFF 0.4, zarr v2, TCZYX, one level) as bioformats2raw writes it:
    chunks ``(1, 1, *chunks)``, Blosc LZ4 with byte shuffle. ``shape`` is ``(Z, Y, X)`` or
    ``(Y, X)``; the image is written one chunk-deep slab at a time."""
    import numcodecs
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_multiscales_metadata

    zyx = tuple(shape) if len(shape) == 3 else (1, *shape)
    chunks = tuple(min(c, s) for c, s in zip(chunks[-3:], zyx))
    if path.exists():
        shutil.rmtree(path)
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    array = group.create_array(
        "0", shape=(1, 1, *zyx), chunks=(1, 1, *chunks), dtype="float32", fill_value=0.0,
        compressors=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
        chunk_key_encoding={"name": "v2", "separator": "/"})
    for z0 in range(0, zyx[0], chunks[0]):
        z1 = min(z0 + chunks[0], zyx[0])
        array[0, 0, z0:z1] = np.stack([_pattern(z, zyx[1:]) for z in range(z0, z1)])
    scale = [1.0, 1.0, *pixel_sizes]
    write_multiscales_metadata(
        group, [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
        fmt=FormatV04(), axes=list("tczyx"), name=path.name)
    return path


def disk_bytes(path: Path) -> int:
    """Bytes of the files under ``path``."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def disk_needed(nbytes: int) -> int:
    """Disk a memory-benchmark size needs: the compressed input (about 0.4 of its pixels
    here), the output (float32, incompressible at worst) and its pyramid (a third more)."""
    return int(0.45 * nbytes + 1.4 * nbytes)


# ------------------------------------------------------------------------------------------
# models


def cheap_conv(dims: int = 3, kernel: int = 1, seed: int = 0):
    """One convolution ``kernel`` pixels wide (pointwise by default), 1 -> 1 channel,
    carrying an ``im2im_spec`` as the package's networks do (so that the streamed
    prediction knows its dimensions and channels)."""
    import torch
    from torch import nn

    class CheapConv(nn.Module):
        def __init__(self):
            super().__init__()
            generator = torch.Generator().manual_seed(seed)
            conv = (nn.Conv3d if dims == 3 else nn.Conv2d)(1, 1, kernel, padding=kernel // 2)
            with torch.no_grad():
                conv.weight.copy_(torch.rand(conv.weight.shape, generator=generator)
                                  / conv.weight.numel())
                conv.bias.zero_()
            self.net = conv
            self.net.im2im_spec = {"name": "conv", "dims": dims, "in_channels": 1,
                                   "out_channels": 1, "strides": [1]}

        def forward(self, x):
            return self.net(x)

    return CheapConv()


def unet(dims: int, channels: tuple[int, ...] = UNET_CHANNELS):
    """The small MONAI U-Net of the time ratio (seeded)."""
    from im2im_helpers import models

    return models.build("unet", dims, 1, 1, channels=channels,
                        strides=(2,) * (len(channels) - 1), seed=0)


# ------------------------------------------------------------------------------------------
# resident memory of this process


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib() -> float:
    """Resident memory now (``VmRSS``), MiB."""
    return _status_mib("VmRSS")


def peak_mib() -> float:
    """Peak resident memory since start or the last :func:`reset_peak` (``VmHWM``), MiB."""
    return _status_mib("VmHWM")


def reset_peak() -> bool:
    """Set the peak to the current resident memory (Linux ``clear_refs`` 5); ``False`` where
    the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Phases:
    """Times and peak memory of the phases of one streamed prediction: ``sampling`` (the
    normalisation percentiles), ``blocks`` (predicting and writing every chunk) and
    ``pyramid`` (the pyramid, the metadata and the rename), found by wrapping the engine's
    public ``sampled_normalization`` and ``omezarr.finish`` for the duration of a ``with``."""

    def __init__(self):
        self.marks: list[tuple[str, float, float]] = []  # (phase, end time, its peak)
        self.start = 0.0
        self.resets = True

    def _mark(self, phase: str) -> None:
        self.marks.append((phase, time.perf_counter(), peak_mib()))
        self.resets = reset_peak() and self.resets

    def __enter__(self) -> Phases:
        from im2im_helpers.stream import engine, omezarr

        self._saved = (engine.sampled_normalization, omezarr.finish)
        sample, finish = self._saved

        def sampled(*args, **kwargs):
            result = sample(*args, **kwargs)
            self._mark("sampling")
            return result

        def finished(*args, **kwargs):
            self._mark("blocks")
            result = finish(*args, **kwargs)
            self._mark("pyramid")
            return result

        engine.sampled_normalization, omezarr.finish = sampled, finished
        self.resets = reset_peak()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        from im2im_helpers.stream import engine, omezarr

        engine.sampled_normalization, omezarr.finish = self._saved

    def summary(self, baseline: float) -> dict:
        """Seconds and peak resident memory (MiB, and above ``baseline``) of each phase."""
        out, before = {}, self.start
        for phase, end, peak in self.marks:
            out[phase] = {"s": end - before, "peak_mib": peak,
                          "peak_above_imports_mib": peak - baseline}
            before = end
        return out


# ------------------------------------------------------------------------------------------
# workers (each run in a fresh process by the driver, or called directly by the test)


def _import_everything() -> None:
    """What a prediction imports lazily, imported before the baseline is taken."""
    import dask.array  # noqa: F401
    import monai.inferers  # noqa: F401
    import ome_zarr.writer  # noqa: F401
    import tqdm.auto  # noqa: F401
    import zarr  # noqa: F401

    from im2im_helpers import io, predict  # noqa: F401


def memory_worker(spec: dict) -> dict:
    """Predict ``spec["source"]`` to ``spec["out"]`` (streamed) with :func:`cheap_conv`; the
    resident memory after the imports, its peak per phase and overall, and the time."""
    import torch

    torch.set_num_threads(1)
    _import_everything()
    from im2im_helpers import predict

    model = cheap_conv(3, spec.get("kernel", 1))
    with torch.no_grad():
        model(torch.zeros((1, 1, *spec["roi"])))  # torch's lazy set-up, before the baseline
    baseline = rss_mib()
    start = time.perf_counter()
    with Phases() as phases:
        predict.file(model, spec["source"], spec["out"], roi=tuple(spec["roi"]),
                     normalize_percentiles=spec.get("percentiles"),
                     batch_size=spec.get("batch_size", 4))
    wall = time.perf_counter() - start
    parts = phases.summary(baseline)
    peak = max(p["peak_mib"] for p in parts.values()) if phases.resets else peak_mib()
    return {"rss_after_imports_mib": baseline, "peak_mib": peak,
            "peak_above_imports_mib": peak - baseline, "wall_s": wall, "phases": parts,
            "phase_peaks_valid": phases.resets}


def _timed(fn) -> tuple[float, float, object]:
    """(seconds, peak resident MiB above the start, result) of ``fn()``."""
    reset_peak()
    before = rss_mib()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, peak_mib() - before, result


def ratio_worker(spec: dict) -> dict:
    """Streamed vs in-memory prediction of ``spec["source"]`` with :func:`unet`, alternately,
    ``spec["repeats"]`` times each (outputs deleted before each run, outside the clock), after
    one untimed run of each on a window-sized image (first-call costs of torch, MONAI, zarr
    and the TIFF writer)."""
    import torch

    torch.set_num_threads(1)
    _import_everything()
    import zarr

    from im2im_helpers import io, predict
    from im2im_helpers.stream import open_lazy

    dims, roi = spec["dims"], tuple(spec["roi"])
    model = unet(dims)
    folder = Path(spec["folder"])
    options = {"overlap": 0.25, "batch_size": 4, "blend": "gaussian"}

    def streamed(source, out):
        with Phases() as phases:
            predict.file(model, source, out, roi=roi, normalize_percentiles=None, **options)
        return phases.summary(0.0)["pyramid"]["s"]

    def in_memory(source, out):
        times = {}
        start = time.perf_counter()
        image = open_lazy(source)
        x = image.data[0, 0:1] if dims == 3 else image.data[0, 0:1, 0]
        times["read_s"] = time.perf_counter() - start
        start = time.perf_counter()
        y = predict.image(model, x.astype(np.float32, copy=False), roi=roi, **options)
        times["compute_s"] = time.perf_counter() - start
        start = time.perf_counter()
        io.write_ome_tiff(out, y[None] if dims == 3 else y[None, :, None], "TCZYX",
                          image.pixel_sizes)
        times["write_s"] = time.perf_counter() - start
        return times, y

    warm = write_input(folder / "warm-up.ome.zarr", roi, chunks=roi if dims == 3 else (1, *roi))
    streamed(warm, folder / "warm-up_pred.ome.zarr")
    in_memory(warm, folder / "warm-up_pred.ome.tiff")
    for path in (warm, folder / "warm-up_pred.ome.zarr"):
        shutil.rmtree(path)
    (folder / "warm-up_pred.ome.tiff").unlink()

    zarr_out, tiff_out = folder / "streamed.ome.zarr", folder / "in_memory.ome.tiff"
    runs = {"streamed": [], "in_memory": []}
    y = None
    for r in range(spec["repeats"]):
        order = ("streamed", "in_memory") if r % 2 == 0 else ("in_memory", "streamed")
        for side in order:
            if side == "streamed":
                shutil.rmtree(zarr_out, ignore_errors=True)
                seconds, peak, pyramid_s = _timed(lambda: streamed(spec["source"], zarr_out))
                runs[side].append({"wall_s": seconds, "pyramid_s": pyramid_s,
                                   "without_pyramid_s": seconds - pyramid_s,
                                   "peak_above_start_mib": peak})
            else:
                tiff_out.unlink(missing_ok=True)
                seconds, peak, (times, y) = _timed(lambda: in_memory(spec["source"], tiff_out))
                runs[side].append({"wall_s": seconds, **times, "peak_above_start_mib": peak})
    got = zarr.open_group(str(zarr_out), mode="r")["0"][0]
    got = got if dims == 3 else got[:, 0]
    diff = float(np.max(np.abs(got - y)))
    shutil.rmtree(zarr_out, ignore_errors=True)
    tiff_out.unlink(missing_ok=True)
    return {"runs": runs, "max_abs_diff": diff,
            "output_range": [float(y.min()), float(y.max())]}


WORKERS = {"memory": memory_worker, "ratio": ratio_worker}


def run_worker(kind: str, spec: dict, timeout: float = 3600, extra_env: dict | None = None,
               ) -> dict:
    """``WORKERS[kind](spec)`` in a fresh process (1 thread, ``MALLOC_ARENA_MAX=2``, and
    ``extra_env``)."""
    env = {**os.environ, **WORKER_ENV, **(extra_env or {}),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(spec)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} worker failed (exit {done.returncode}):\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


# ------------------------------------------------------------------------------------------
# the two benchmarks


def load() -> list[float]:
    """The load average (1, 5, 15 min)."""
    return [round(v, 2) for v in os.getloadavg()]


def bench_memory(folder: Path, sizes: list[float], plane=PLANE, chunks=INPUT_CHUNKS,
                 roi=MEMORY_ROI, unit: int = 2**30, kernel: int = 1, min_z: int = MIN_Z,
                 extra_env: dict | None = None, log=print) -> list[dict]:
    """Peak resident memory of a streamed prediction per input size (``sizes`` in ``unit``
    bytes), each in a fresh process; each input and output deleted before the next size."""
    rows = []
    for size in sizes:
        nbytes = size * unit
        shape = shape_for(nbytes, plane, min_z)
        row = {"size": size, "unit_bytes": unit, "shape_zyx": list(shape),
               "pixels_bytes": 4 * int(np.prod(shape)), "input_chunks_zyx": list(chunks),
               "roi": list(roi), "percentiles": list(PERCENTILES), "kernel": kernel,
               "load_before": load()}
        free = shutil.disk_usage(folder).free
        need = disk_needed(row["pixels_bytes"]) + DISK_MARGIN
        if free < need:
            row["skipped"] = (f"needs about {need / 2**30:.1f} GiB of free disk in {folder}, "
                              f"{free / 2**30:.1f} GiB free")
            log(f"memory {size:g}: skipped, {row['skipped']}")
            rows.append(row)
            continue
        source, out = folder / f"input-{size:g}.ome.zarr", folder / f"pred-{size:g}.ome.zarr"
        try:
            start = time.perf_counter()
            write_input(source, shape, chunks)
            row["write_input_s"] = time.perf_counter() - start
            row["input_disk_bytes"] = disk_bytes(source)
            log(f"memory {size:g}: input {shape} written in {row['write_input_s']:.0f} s "
                f"({row['input_disk_bytes'] / 2**20:.0f} MiB on disk); predicting ...")
            row.update(run_worker("memory", {"source": str(source), "out": str(out),
                                             "roi": list(roi), "kernel": kernel,
                                             "percentiles": list(PERCENTILES)},
                                  extra_env=extra_env))
            row["output_disk_bytes"] = disk_bytes(out)
            row["mb_per_s"] = row["pixels_bytes"] / 1e6 / row["wall_s"]
            row["load_after"] = load()
            log(f"memory {size:g}: peak {row['peak_mib']:.0f} MiB "
                f"({row['peak_above_imports_mib']:.0f} above imports), {row['wall_s']:.0f} s")
        finally:
            shutil.rmtree(source, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
        rows.append(row)
    return rows


def bench_ratio(folder: Path, cases: dict, repeats: int, extra_env: dict | None = None,
                log=print) -> list[dict]:
    """Streamed / in-memory time per case (median of ``repeats``), in one fresh process per
    case."""
    rows = []
    for name, (shape, roi) in cases.items():
        source = write_input(folder / f"ratio-{name}.ome.zarr", tuple(shape),
                             chunks=tuple(min(512, s) for s in (1, *shape[-2:])))
        log(f"ratio {name}: {shape}, window {roi}, {repeats} repeats ...")
        row = {"case": name, "shape": list(shape), "roi": list(roi), "repeats": repeats,
               "load_before": load()}
        try:
            result = run_worker("ratio", {"source": str(source), "folder": str(folder),
                                          "dims": len(shape), "roi": list(roi),
                                          "repeats": repeats}, extra_env=extra_env)
        finally:
            shutil.rmtree(source, ignore_errors=True)
        row.update(result)
        row["load_after"] = load()
        runs = result["runs"]

        def median(side, key, runs=runs):
            return statistics.median(r[key] for r in runs[side])

        row["median"] = {
            "streamed_s": median("streamed", "wall_s"),
            "streamed_without_pyramid_s": median("streamed", "without_pyramid_s"),
            "in_memory_end_to_end_s": median("in_memory", "wall_s"),
            "in_memory_compute_s": median("in_memory", "compute_s"),
            "streamed_peak_mib": median("streamed", "peak_above_start_mib"),
            "in_memory_peak_mib": median("in_memory", "peak_above_start_mib")}
        m = row["median"]
        row["ratio_end_to_end"] = m["streamed_s"] / m["in_memory_end_to_end_s"]
        row["ratio_vs_compute"] = m["streamed_s"] / m["in_memory_compute_s"]
        row["ratio_without_pyramid"] = (m["streamed_without_pyramid_s"]
                                        / m["in_memory_end_to_end_s"])
        log(f"ratio {name}: streamed {m['streamed_s']:.1f} s, in memory "
            f"{m['in_memory_end_to_end_s']:.1f} s end to end ({m['in_memory_compute_s']:.1f} s "
            f"compute): {row['ratio_end_to_end']:.2f}x")
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------
# report


def flatness(rows: list[dict], key: str) -> float | None:
    """(largest - smallest) / smallest of ``key`` over the measured rows."""
    values = [r[key] for r in rows if key in r]
    return (max(values) - min(values)) / min(values) if len(values) > 1 else None


def markdown(record: dict) -> str:
    """The tables of a record."""
    lines = []
    memory = record.get("memory") or []
    if memory:
        lines += ["| input | shape (Z, Y, X) | on disk | after imports | peak RSS | "
                  "peak above imports | sampling / blocks / pyramid peak above imports | "
                  "wall | MB/s |", "|---|---|---|---|---|---|---|---|---|"]
        for r in memory:
            size = (f"{r['size']:g} GiB" if r["unit_bytes"] == 2**30
                    else f"{r['size']:g} MiB")
            if "skipped" in r:
                lines.append(f"| {size} | {' x '.join(map(str, r['shape_zyx']))} | "
                             f"skipped: {r['skipped']} | | | | | | |")
                continue
            phases = r["phases"]
            parts = " / ".join(f"{phases[p]['peak_above_imports_mib']:.0f}"
                               if p in phases else "-" for p in ("sampling", "blocks",
                                                                  "pyramid"))
            lines.append(
                f"| {size} | {' x '.join(map(str, r['shape_zyx']))} | "
                f"{r['input_disk_bytes'] / 2**20:.0f} MiB | {r['rss_after_imports_mib']:.0f} MiB "
                f"| **{r['peak_mib']:.0f} MiB** | {r['peak_above_imports_mib']:.0f} MiB | "
                f"{parts} MiB | {r['wall_s']:.0f} s | {r['mb_per_s']:.1f} |")
        for key, what in (("peak_mib", "peak RSS"),
                          ("peak_above_imports_mib", "peak above imports")):
            spread = flatness(memory, key)
            if spread is not None:
                lines.append(f"\nSpread of {what} over the sizes: {100 * spread:.1f} % "
                             "((max - min) / min).")
    ratio = record.get("ratio") or []
    if ratio:
        lines += ["", "| case | window | streamed (no pyramid) | in memory end to end "
                  "(compute only) | streamed / in memory end to end | streamed / compute "
                  "only | max abs diff |", "|---|---|---|---|---|---|---|"]
        for r in ratio:
            m = r["median"]
            lines.append(
                f"| {r['case']} {' x '.join(map(str, r['shape']))} | "
                f"{' x '.join(map(str, r['roi']))} | {m['streamed_s']:.1f} s "
                f"({m['streamed_without_pyramid_s']:.1f} s) | {m['in_memory_end_to_end_s']:.1f} s "
                f"({m['in_memory_compute_s']:.1f} s) | **{r['ratio_end_to_end']:.2f}** | "
                f"{r['ratio_vs_compute']:.2f} | {r['max_abs_diff']:.1e} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--sizes-gib", type=float, nargs="+", default=list(SIZES_GIB),
                        help="input sizes of the memory benchmark")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kernel", type=int, default=1,
                        help="kernel width of the memory benchmark's one-layer network")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-ratio", action="store_true")
    parser.add_argument("--malloc-mmap-threshold", type=int, default=None, metavar="BYTES",
                        help="run the workers with MALLOC_MMAP_THRESHOLD_=BYTES (glibc: "
                             "allocations this large are mapped, and unmapped when freed)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where inputs and outputs are written (default: a temporary "
                             "folder in $TMPDIR)")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, spec = args.worker
        print("RESULT " + json.dumps(WORKERS[kind](json.loads(spec))), flush=True)
        return 0

    import torch

    record = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "torch": torch.__version__, "threads_per_process": 1},
              "quick": args.quick, "load_before": load()}
    extra_env = ({"MALLOC_MMAP_THRESHOLD_": str(args.malloc_mmap_threshold)}
                 if args.malloc_mmap_threshold else {})
    record["worker_env"] = {**WORKER_ENV, **extra_env}
    start = time.perf_counter()
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="im2im-streaming-", dir=args.workdir))
    try:
        if not args.skip_memory:
            if args.quick:
                record["memory"] = bench_memory(folder, list(QUICK_SIZES_MIB), QUICK_PLANE,
                                                QUICK_INPUT_CHUNKS, QUICK_MEMORY_ROI, 2**20,
                                                args.kernel, QUICK_MIN_Z, extra_env)
            else:
                record["memory"] = bench_memory(folder, args.sizes_gib, kernel=args.kernel,
                                                extra_env=extra_env)
        if not args.skip_ratio:
            record["ratio"] = bench_ratio(folder, QUICK_RATIO_CASES if args.quick
                                          else RATIO_CASES, 1 if args.quick else args.repeats,
                                          extra_env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record["load_after"] = load()
    record["total_s"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from im2im_helpers import io

    io.write_text(args.out, json.dumps(record, indent=1))
    print(markdown(record))
    print(f"\n{record['total_s']:.0f} s; load {record['load_before']} -> "
          f"{record['load_after']}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
