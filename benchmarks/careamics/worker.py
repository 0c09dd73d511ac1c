"""CAREamics side of ``benchmarks/careamics_vs_ours.py``; runs inside the CAREamics venv.

``python worker.py FOLDER`` reads ``FOLDER/job.json`` and the arrays it names (``.npy``), trains
CAREamics' CARE or Noise2Void under a compute budget, predicts the test images (plain and with
8-fold flip/rotation test-time augmentation) and writes ``FOLDER/pred_*.npy`` and
``FOLDER/result.json``. It imports nothing from im2im (the two environments never mix); the
scoring happens in our environment with our metrics.

:func:`reference_speed` and :class:`Budget` are pure torch/Lightning and are imported by the main
script too, so both sides measure the machine and stop training in the same way.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def set_threads(threads: int) -> None:
    """Torch intra-op threads (``OMP_NUM_THREADS`` must be set before torch is imported)."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1) if torch.get_num_interop_threads() != 1 else None


def reference_speed(seconds: float = 4.0, seed: int = 0) -> dict:
    """Steps/s of a fixed plain torch loop: a 4-layer 3x3 conv net (32 channels) on a batch
    of 16 x 1 x 64 x 64, MSE, Adam. A yardstick of the machine measured in the same run, so
    that times from machines of different speed can be compared (divide a time by the
    reference's seconds per step)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(32, 1, 3, padding=1))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = torch.rand(16, 1, 64, 64), torch.rand(16, 1, 64, 64)

    def step():
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    for _ in range(3):
        step()
    steps, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        step()
        steps += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"steps_per_s": steps / wall, "steps_per_cpu_s": steps / cpu, "steps": steps,
            "threads": torch.get_num_threads(), "torch": torch.__version__}


def make_budget_callback(budget_s: float, threads: int, clock: str = "cpu"):
    """A Lightning callback that stops training once the budget is spent, checked after every
    training step (as Lightning's own ``max_time`` does). ``clock="wall"``: wall-clock seconds
    since training started. ``clock="cpu"``: process CPU seconds / ``threads``, i.e. the wall
    time the run would have taken on an idle machine with ``threads`` cores: robust to other
    jobs on a shared machine. Records ``wall_s``, ``cpu_s``, ``steps`` and ``epochs``."""
    import lightning as L

    class Budget(L.Callback):
        def __init__(self):
            self.wall_s = self.cpu_s = 0.0
            self.steps = self.epochs = 0
            self.stopped_by_budget = False
            self._t0 = self._c0 = None

        def spent(self) -> float:
            return self.cpu_s / threads if clock == "cpu" else self.wall_s

        def on_train_start(self, trainer, pl_module):
            self._t0, self._c0 = time.perf_counter(), time.process_time()

        def _update(self):
            self.wall_s = time.perf_counter() - self._t0
            self.cpu_s = time.process_time() - self._c0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.steps += 1
            self._update()
            if self.spent() >= budget_s:
                self.stopped_by_budget = True
                trainer.should_stop = True

        def on_train_epoch_end(self, trainer, pl_module):
            self.epochs += 1

        def on_train_end(self, trainer, pl_module):
            self._update()

        def record(self) -> dict:
            return {"train_wall_s": self.wall_s, "train_cpu_s": self.cpu_s,
                    "budget_spent_s": self.spent(), "steps": self.steps, "epochs": self.epochs,
                    "stopped_by_budget": self.stopped_by_budget}

    return Budget()


def dihedral(x, k: int):
    """The k-th of the 8 flips/90-degree turns of a 2D array (k in 0..7)."""
    import numpy as np

    return np.rot90(x[:, ::-1] if k >= 4 else x, k % 4)


def undihedral(x, k: int):
    """Inverse of :func:`dihedral`."""
    import numpy as np

    x = np.rot90(x, -(k % 4))
    return x[:, ::-1] if k >= 4 else x


def main(folder: Path) -> None:
    job = json.loads((folder / "job.json").read_text())
    threads = int(job["threads"])
    set_threads(threads)
    import logging
    import warnings

    import numpy as np

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    import careamics
    import torch
    from careamics import CAREamist
    from careamics.config import create_advanced_care_config, create_advanced_n2v_config

    load = lambda names: [np.load(folder / n) for n in names]  # noqa: E731
    train_x, val_x, test_x = load(job["train_inputs"]), load(job["val_inputs"]), load(
        job["test_inputs"])
    ref_before = reference_speed(job.get("reference_seconds", 4.0))
    common = dict(experiment_name=f"bench_{job['algorithm']}", data_type="array", axes="YX",
                  patch_size=list(job["patch"]), batch_size=int(job["batch"]),
                  num_epochs=int(job["max_epochs"]), num_workers=0,
                  seed=int(job["seed"]) + 1,  # CAREamics takes seeds > 0 only
                  **job.get("options", {}))
    if job["algorithm"] == "care":
        config = create_advanced_care_config(**common)
    else:
        config = create_advanced_n2v_config(**common)
    budget = make_budget_callback(float(job["budget_s"]), threads, job["clock"])
    work = folder / "work"
    careamist = CAREamist(config, work_dir=work, callbacks=[budget], enable_progress_bar=False)
    t0 = time.perf_counter()
    if job["algorithm"] == "care":
        careamist.train(train_data=train_x, train_data_target=load(job["train_targets"]),
                        val_data=val_x, val_data_target=load(job["val_targets"]))
    else:
        careamist.train(train_data=train_x, val_data=val_x)
    fit_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    tta = bool(job.get("tta", True))
    for i, x in enumerate(test_x):
        views = [np.ascontiguousarray(dihedral(x, k)) for k in (range(8) if tta else [0])]
        preds, _ = careamist.predict(views, tile_size=tuple(job["tile"]),
                                     tile_overlap=tuple(job["tile_overlap"]), axes="YX",
                                     data_type="array")
        preds = [np.asarray(p).reshape(v.shape) for p, v in zip(preds, views)]
        np.save(folder / f"pred_{i}.npy", preds[0].astype(np.float32))
        if tta:
            avg = np.mean([undihedral(p, k) for k, p in enumerate(preds)], axis=0)
            np.save(folder / f"pred_tta_{i}.npy", avg.astype(np.float32))
    predict_wall = time.perf_counter() - t0
    model = careamist.model.model
    result = {
        **budget.record(), "fit_wall_s": fit_wall, "predict_wall_s": predict_wall,
        "reference_before": ref_before, "reference_after": reference_speed(
            job.get("reference_seconds", 4.0)),
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "careamics": careamics.__version__, "torch": torch.__version__,
        "config": json.loads(config.model_dump_json()),
    }
    (folder / "result.json").write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
