"""Files per second of :func:`im2im_helpers.cluster.predict_files` on local Dask workers,
against the plain in-process loop over :func:`im2im_helpers.predict.file`, in the same run.

The benchmark trains a small run for a few steps (MONAI U-Net 16-128 as in ``run.py``, patch
= window 128 x 128), writes ``--files`` identical-size random images (``--size`` square,
float32) and predicts them:

* ``sequential``: one process, the model loaded once, ``predict.file`` in a loop with
  ``--seq-threads`` torch threads (a warm-up file first, so imports are not timed); the first
  of these rows is the reference of the ratios;
* ``dask N``: ``predict_files(run, files, out, workers=N)`` from cold: it starts a local
  cluster of N worker processes (torch threads = cores // N each), every worker imports
  torch and loads the model, predicts, and the cluster closes.

For each Dask row: ``wall files/s`` = files / the whole call (start-up included, what a user
waits for), and ``steady files/s`` = the sum over workers of 1 / (the median seconds of a file
on that worker, its first file left out: that one pays the lazy imports), the rate of a warm
cluster. Ratios are against the first sequential row's files/s. Absolute numbers depend on the
machine and its load (recorded: load average before and after).

Usage::

    python benchmarks/dask_files.py                        # 16 images of 512 x 512, 1 and 2 workers
    python benchmarks/dask_files.py --files 32 --workers 1 2 4 --out /tmp/dask_files.json
    python benchmarks/dask_files.py --seq-threads 1 2   # the loop with 1 thread, then with 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "benchmarks" / "dask_files.json"
CHANNELS = (16, 32, 64, 128)
PATCH = (128, 128)


def make_run(folder: Path, steps: int = 3) -> Path:
    """A run folder of a U-Net 16-128 trained ``steps`` steps on four random 160^2 pairs."""
    from scipy import ndimage as ndi

    from im2im_helpers import data, io, models, tasks, train

    pairs = folder / "pairs"
    pairs.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        x = ndi.gaussian_filter(rng.normal(size=(160, 160)), 2).astype(np.float32)
        io.write_ome_tiff(pairs / f"p{i}_IM.ome.tiff", x, "YX")
        io.write_ome_tiff(pairs / f"p{i}_GT.ome.tiff", 2 * x + 1, "YX")
    split = data.split(data.load(pairs), test=1, val=1, path=folder / "split.json")
    dm = data.patches(split, patch=PATCH, batch_size=2, samples_per_image=2)
    net = models.build("unet", 2, channels=CHANNELS, num_res_units=0)
    return train.fit(tasks.Supervised(net), dm, folder / "run", max_steps=steps, max_epochs=1,
                     progress=False).path


def make_images(folder: Path, n: int, size: int) -> list[Path]:
    """``n`` random float32 images of ``size`` x ``size`` (same size, different content)."""
    from im2im_helpers import io

    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    return [io.write_ome_tiff(folder / f"img{i:03d}.ome.tiff",
                              rng.normal(500, 100, (size, size)).astype(np.float32), "YX")
            for i in range(n)]


def sequential(run: Path, files: list[Path], out: Path, threads: int) -> dict:
    """The reference: ``predict.file`` over ``files`` in this process, model loaded once."""
    import torch

    from im2im_helpers import predict
    from im2im_helpers.export.cli import predict_model

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, window, norm = predict_model(run)
        out.mkdir(parents=True)
        predict.file(model, files[0], out / "warm-up.ome.tiff", roi=window,
                     normalize_percentiles=norm)
        times = []
        start = time.perf_counter()
        for source in files:
            t = time.perf_counter()
            predict.file(model, source, predict.output_path(source, out), roi=window,
                         normalize_percentiles=norm)
            times.append(time.perf_counter() - t)
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    return {"name": f"sequential ({threads} thread{'s' * (threads > 1)})", "processes": 1,
            "threads": threads, "seconds": seconds, "files_per_s": len(files) / seconds,
            "steady_files_per_s": len(files) / seconds,
            "median_file_s": statistics.median(times)}


def on_dask(run: Path, files: list[Path], out: Path, workers: int) -> dict:
    """``predict_files`` from cold on a local cluster of ``workers`` processes."""
    from im2im_helpers.cluster import predict_files

    summary = predict_files(run, files, out, workers=workers)
    summary.raise_if_failed()
    per_worker: dict[str, list[float]] = {}
    for f in summary.written:
        per_worker.setdefault(f.worker, []).append(f.seconds)
    steady = sum(1 / statistics.median(t[1:] or t) for t in per_worker.values())
    return {"name": f"dask {workers} worker{'s' * (workers > 1)}", "processes": workers,
            "threads": sorted({w.torch_threads for w in summary.workers}),
            "seconds": summary.seconds, "files_per_s": summary.files_per_second,
            "steady_files_per_s": steady,
            "median_file_s": statistics.median(f.seconds for f in summary.written),
            "model_loads": [w.model_loads for w in summary.workers],
            "files_per_worker": [w.files for w in summary.workers]}


def markdown(result: dict) -> str:
    """The rows as a Markdown table, ratios against the first (sequential) row."""
    reference = result["rows"][0]["files_per_s"]
    lines = ["| run | torch threads | wall s | wall files/s | steady files/s | median s/file "
             "| wall ratio | steady ratio |", "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        threads = r["threads"] if isinstance(r["threads"], int) else "/".join(
            map(str, r["threads"]))
        lines.append(f"| {r['name']} | {threads} | {r['seconds']:.1f} | {r['files_per_s']:.2f} "
                     f"| {r['steady_files_per_s']:.2f} | {r['median_file_s']:.2f} "
                     f"| {r['files_per_s'] / reference:.2f} "
                     f"| {r['steady_files_per_s'] / reference:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=16, help="images to predict")
    parser.add_argument("--size", type=int, default=512, help="their side, in pixels")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="local Dask worker counts to time")
    parser.add_argument("--seq-threads", type=int, nargs="+", default=None,
                        help="torch threads of the sequential loop, one row each (default: the "
                             "usable cores); the first row is the reference of the ratios")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="the JSON result")
    parser.add_argument("--note", default="", help="what the machine was doing (recorded)")
    args = parser.parse_args()

    from im2im_helpers import io, system

    cores = system.cpu_cores()
    result = {"machine": {"platform": platform.platform(), "cores": cores,
                          "load_average_before": os.getloadavg(),
                          "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                          "versions": system.package_versions(["dask", "distributed"]),
                          "note": args.note},
              "setup": {"files": args.files, "size": args.size, "unet_channels": CHANNELS,
                        "window": PATCH}, "rows": []}
    with tempfile.TemporaryDirectory(prefix="dask-files-") as tmp:
        tmp = Path(tmp)
        run = make_run(tmp / "train")
        files = make_images(tmp / "images", args.files, args.size)
        for threads in args.seq_threads or [cores]:
            result["rows"].append(sequential(run, files, tmp / f"seq{threads}", threads))
        for workers in args.workers:
            result["rows"].append(on_dask(run, files, tmp / f"dask{workers}", workers))
    result["machine"]["load_average_after"] = os.getloadavg()
    out = Path(args.out)
    io.write_text(out, json.dumps(result, indent=1, default=float) + "\n")
    print(markdown(result))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
