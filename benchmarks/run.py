"""Benchmarks of im2im_helpers against the plain alternatives, as ratios measured in one run.

1. ``train.fit`` vs a hand-written torch loop: same model, same DataLoader, same number of steps.
2. ``predict.image`` vs ``monai.inferers.sliding_window_inference`` (same window, overlap and
   blending) on a 2D 2048 x 2048 and a 3D 64 x 512 x 512 image: time and peak memory.

Each measurement runs in a fresh process so that peak memory (RSS on CPU, allocator peak on GPU)
belongs to it alone. Usage: ``python benchmarks/run.py [--quick] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from pathlib import Path


def _peak_memory_mb(device: str) -> float:
    import resource

    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _train_setup(steps: int, seed: int = 0):
    import numpy as np

    from im2im_helpers import data, models, tasks
    from im2im_helpers.data.pairs import Pair, Pairs
    from im2im_helpers.data.splits import Split

    rng = np.random.default_rng(seed)
    pairs = Pairs(Pair(f"p{i}", rng.random((1, 256, 256), np.float32),
                       rng.random((1, 256, 256), np.float32)) for i in range(4))
    split = Split(pairs, Pairs(), Pairs(), {})
    per_image = steps * 8 // len(pairs)
    dm = data.patches(split, patch=(128, 128), batch_size=8, samples_per_image=per_image, seed=seed)
    net = models.build("unet", 2, channels=(16, 32, 64, 128), seed=seed)
    return tasks.Supervised(net, loss="mse"), dm


def bench_fit(steps: int, warmup: int, device: str, queue) -> None:
    """Seconds per step of ``train.fit`` after ``warmup`` steps, and its whole-call time."""
    import tempfile

    import lightning as L

    from im2im_helpers import train

    class StepTimer(L.Callback):
        def on_train_batch_start(self, trainer, *args):
            if trainer.global_step == warmup:
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, *args):
            self.end = time.perf_counter()  # the last step's end: checkpoint writing excluded

    task, dm = _train_setup(steps)
    timer = StepTimer()
    # fit's defaults (progress bar included); this process's stderr goes to /dev/null
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train.fit(task, dm, Path(tmp) / "run", max_epochs=1, progress=True,
                  accelerator="gpu" if device.startswith("cuda") else "cpu", devices=1,
                  callbacks=[timer])
        total = time.perf_counter() - start
    queue.put({"per_step": (timer.end - timer.start) / (steps - warmup), "total": total})


def bench_loop(steps: int, warmup: int, device: str, queue) -> None:
    """The same steps as :func:`bench_fit` in a plain torch loop."""
    import lightning as L
    import torch

    start_all = time.perf_counter()
    L.seed_everything(0, verbose=False)
    task, dm = _train_setup(steps)
    net = task.net.to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for i, batch in enumerate(dm.train_dataloader()):
        if i == warmup:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
        x, y = batch["input"].to(device), batch["target"].to(device)
        loss = torch.nn.functional.mse_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()  # Lightning reads the loss every step too (progress, logging)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    end = time.perf_counter()
    queue.put({"per_step": (end - start) / (steps - warmup), "total": end - start_all})


def bench_predict(kind: str, shape: tuple, device: str, queue) -> None:
    """Time and peak memory of one prediction of a random image of ``shape``."""
    import numpy as np
    import torch
    from monai.inferers import sliding_window_inference

    from im2im_helpers import models, predict, tasks

    dims = len(shape)
    channels = (32, 64, 128, 256) if dims == 2 else (16, 32, 64)
    roi = (128, 128) if dims == 2 else (32, 128, 128)
    task = tasks.Supervised(models.build("unet", dims, channels=channels)).to(device).eval()
    x = np.random.default_rng(0).random((1, *shape), np.float32)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    base = _peak_memory_mb(device)
    start = time.perf_counter()
    if kind == "im2im":
        predict.image(task, x, roi=roi, overlap=0.25, batch_size=4, device=device)
    else:
        with torch.no_grad():
            sliding_window_inference(torch.from_numpy(x)[None].to(device), roi, 4, task,
                                     overlap=0.25, mode="gaussian").cpu().numpy()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    queue.put({"seconds": time.perf_counter() - start,
               "peak_mb": _peak_memory_mb(device) - (0 if device.startswith("cuda") else base)})


def in_fresh_process(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=fn, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer steps and smaller images")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("train", "predict"), help="run one benchmark")
    parser.add_argument("--out", default="benchmarks/results.json")
    args = parser.parse_args()
    steps, warmup = (40, 10) if args.quick else (300, 20)
    results = {"machine": platform.platform(), "device": args.device, "quick": args.quick}

    if args.only != "predict":
        results["train"] = benchmark_train(steps, warmup, args)
    if args.only != "train":
        results.update(benchmark_predict(args))
    out = Path(args.out)
    if args.only and out.is_file():  # keep the other benchmark's last results
        results = {**json.loads(out.read_text()), **results}
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


def benchmark_train(steps: int, warmup: int, args) -> dict:
    fit, loop = [], []
    for _ in range(args.repeats):  # interleaved, so drifts of the machine hit both alike
        fit.append(in_fresh_process(bench_fit, steps, warmup, args.device))
        loop.append(in_fresh_process(bench_loop, steps, warmup, args.device))
    fit_step = statistics.median(r["per_step"] for r in fit)
    loop_step = statistics.median(r["per_step"] for r in loop)
    print(f"train.fit {1 / fit_step:.2f} steps/s, torch loop {1 / loop_step:.2f} steps/s: "
          f"ratio {loop_step / fit_step:.3f}")
    return {
        "steps": steps, "warmup": warmup, "fit_s_per_step": fit_step, "loop_s_per_step": loop_step,
        "steps_per_s_ratio_fit_over_loop": loop_step / fit_step,
        "whole_call_s": {"fit": statistics.median(r["total"] for r in fit),
                         "loop": statistics.median(r["total"] for r in loop)},
    }


def benchmark_predict(args) -> dict:
    results = {}
    shapes = {"2d": (512, 512) if args.quick else (2048, 2048),
              "3d": (32, 128, 128) if args.quick else (64, 512, 512)}
    for name, shape in shapes.items():
        ours = [in_fresh_process(bench_predict, "im2im", shape, args.device)
                for _ in range(args.repeats)]
        monai = [in_fresh_process(bench_predict, "monai", shape, args.device)
                 for _ in range(args.repeats)]
        t_ours = statistics.median(r["seconds"] for r in ours)
        t_monai = statistics.median(r["seconds"] for r in monai)
        m_ours = statistics.median(r["peak_mb"] for r in ours)
        m_monai = statistics.median(r["peak_mb"] for r in monai)
        results[f"predict_{name}"] = {
            "shape": shape, "im2im_s": t_ours, "monai_s": t_monai, "time_ratio": t_ours / t_monai,
            "im2im_peak_mb": m_ours, "monai_peak_mb": m_monai, "memory_ratio": m_ours / m_monai,
        }
        print(f"predict {name} {shape}: {t_ours:.2f} s vs MONAI {t_monai:.2f} s "
              f"(ratio {t_ours / t_monai:.3f}); peak {m_ours:.0f} vs {m_monai:.0f} MB "
              f"(ratio {m_ours / m_monai:.3f})")
    return results


if __name__ == "__main__":
    main()
