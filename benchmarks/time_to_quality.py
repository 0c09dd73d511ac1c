"""Time to quality: how long each tutorial's network trains before it beats the classical
baseline on the *validation* data (never the test data).

For every tutorial asked for, this builds what the notebook builds at its ``default`` level (the
recipe is read from the notebook's parameters cell, so it follows the notebook): the data, the
split, the baseline tuned on the training pairs, the network and its training settings. It then
trains with :func:`im2im_helpers.train.fit` and a callback that, after every epoch (or every
``--every-steps`` steps), predicts the validation images as the notebook predicts the test images
(same window, same test-time augmentation) and scores them with the tutorial's headline metric.
The clock counts training only: the callback's own scoring is taken out of it (Lightning's
validation loss and checkpoints, which a default run does too, stay in).

Machines differ (about 2x here, more under load), so every row carries a reference speed measured
in the same run, just before and after the tutorial: the plain torch loop of ``benchmarks/run.py``
(U-Net 16-128, 8 x 128^2 patches, Adam) in steps/s. ``ref-steps`` = seconds x reference steps/s:
the time in units of that loop's steps, comparable across machines.

``--profile 01 04`` times where a default run goes (patch sampling and augmentation,
forward/backward, Lightning's validation and checkpoints, baseline tuning, sliding-window
prediction with and without TTA, a figure) and ``--threads-study`` measures 1 vs 2 torch threads
in one process and two processes sharing the cores.

Usage::

    python benchmarks/time_to_quality.py --tutorials 01 04 --budget-s 300 --threads 2
    python benchmarks/time_to_quality.py --profile 01 04 --threads-study --tutorials
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "results" / "benchmarks" / "time_to_quality.json"
TUTORIALS = ("01", "02", "03", "04", "07", "09")  # the cheap supervised ones come first


# ------------------------------------------------------------------------------------------------
# the notebooks' recipes


def notebook_path(tutorial: str) -> Path:
    found = sorted(NOTEBOOKS.glob(f"{tutorial}_*.ipynb"))
    if not found:
        raise SystemExit(f"no notebook {tutorial}_*.ipynb in {NOTEBOOKS}")
    return found[0]


def notebook_parameters(tutorial: str, level: str = "default") -> dict:
    """The settings of a tutorial's parameters cell at ``level`` (its ``BY_LEVEL`` values filled
    in as ``levels.choose`` does): the cell holds literal assignments only."""
    from im2im_helpers import levels

    nb = json.loads(notebook_path(tutorial).read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "BY_LEVEL" in source and "LEVEL =" in source:
            namespace: dict = {}
            exec(compile(source, f"{tutorial} parameters cell", "exec"), namespace)
            namespace["LEVEL"] = level
            namespace.update(levels.choose(level, namespace["BY_LEVEL"], namespace,
                                           verbose=False))
            return {k: v for k, v in namespace.items() if k.isupper()}
    raise SystemExit(f"{notebook_path(tutorial).name}: no parameters cell with BY_LEVEL")


@dataclass
class Network:
    """One network of a tutorial: how to train it and how the notebook scores it."""

    name: str
    task: object
    datamodule: object
    max_epochs: int
    predict: Callable  # (model, image) -> prediction, as the notebook predicts a test image
    headline: bool = True  # a headline network (must beat the baseline) or another one


@dataclass
class Setup:
    tutorial: str
    metric: str
    baseline: str
    score: Callable  # (predictions, targets) -> mean headline metric
    val_inputs: list
    val_targets: list
    baseline_val: float  # the tuned baseline's score on the validation images
    input_val: float | None  # the raw input's score (None where it has no meaning)
    networks: list[Network]
    params: dict
    seconds: dict = field(default_factory=dict)  # data, baseline tuning


def _mean_metric(name: str, transform=lambda x: x):
    from im2im_helpers import metrics

    def score(predictions, targets):
        return float(np.mean([metrics.METRICS[name](transform(p), transform(t))
                              for p, t in zip(predictions, targets)]))
    return score


def _window(patch):
    return tuple(patch) if isinstance(patch, (tuple, list)) else (patch, patch)


def _predictor(roi, tta=False, threshold=None):
    from im2im_helpers import predict

    def f(model, x):
        y = predict.image(model, x, roi=roi, tta=tta)
        return (y > threshold).astype(np.float32) if threshold is not None else y
    return f


def setup_01(tmp: Path, P: dict) -> Setup:
    from im2im_helpers import baselines, data, models, tasks

    t0 = time.perf_counter()
    pairs = data.load(P["DATASET"])
    split = data.split(pairs, test=2, val=1, seed=P["SEED"], shuffle=False,
                       path=tmp / "split.json")
    t1 = time.perf_counter()
    ridge = baselines.FilterRidge(samples=P["RIDGE_PIXELS"], seed=P["SEED"]).fit(
        [p.input for p in split.train], [p.target for p in split.train])
    t2 = time.perf_counter()
    patch = (P["PATCH"], P["PATCH"])
    dm = data.patches(split, patch=patch, batch_size=P["BATCH"],
                      samples_per_image=P["SAMPLES_PER_IMAGE"], augment="flips", seed=P["SEED"])
    net = models.build("unet", dims=2, in_channels=1, out_channels=1, channels=P["CHANNELS"],
                       dropout=P["DROPOUT"], seed=P["SEED"])
    task = tasks.Supervised(net, loss="mse", lr=P["LEARNING_RATE"], scheduler=P["SCHEDULER"])
    score = _mean_metric("pearson")
    vx, vy = [p.input for p in split.val], [p.target for p in split.val]
    return Setup("01", "pearson", "ridge", score, vx, vy, score([ridge.predict(x) for x in vx], vy),
                 score(vx, vy), [Network("unet", task, dm, P["MAX_EPOCHS"], _predictor(patch))],
                 P, {"data": t1 - t0, "baseline": t2 - t1})


def setup_02(tmp: Path, P: dict) -> Setup:
    from im2im_helpers import baselines, data, models, tasks
    from im2im_helpers.data import simulate

    t0 = time.perf_counter()
    clean = data.load(P["DATASET"], normalize_percentiles=None)
    noisy = simulate.poisson_gaussian(clean, photons=P["PHOTONS"], read_noise=P["READ_NOISE"],
                                      seed=P["SEED"])
    pairs = data.load(data.write_folder(noisy, tmp / "pairs"), normalize_percentiles=None)
    split = data.split(pairs, test=["stardist-right", "ndev-t08", "ndev-t09"], val=["ndev-t07"],
                       seed=P["SEED"], shuffle=False, path=tmp / "split.json")
    t1 = time.perf_counter()
    # only the headline baseline (the notebook tunes non-local means too: see the profile)
    gaussian = baselines.fit_denoisers([p.input for p in split.train],
                                       [p.target for p in split.train],
                                       methods=["gaussian"])["gaussian"]
    t2 = time.perf_counter()
    patch = (P["PATCH"],) * 2
    dm = data.patches(split, patch=patch, batch_size=P["BATCH"],
                      samples_per_image=P["SAMPLES_PER_IMAGE"], augment="flips", seed=P["SEED"])
    net = models.build("unet", dims=2, channels=P["CHANNELS"], norm="BATCH", seed=P["SEED"])
    sup = tasks.Supervised(net, loss=P["LOSS"], lr=P["LEARNING_RATE"], scheduler="cosine")
    n2v_net = models.build("unet", dims=2, channels=P["CHANNELS"], norm="BATCH", seed=P["SEED"])
    n2v = tasks.Noise2Void(n2v_net, lr=P["LEARNING_RATE"], scheduler="cosine",
                           mask_fraction=P["MASK_FRACTION"], seed=P["SEED"])
    score = _mean_metric("psnr")
    vx, vy = [p.input for p in split.val], [p.target for p in split.val]
    nets = [Network("supervised", sup, dm, P["MAX_EPOCHS"], _predictor(patch, tta=True)),
            Network("noise2void", n2v, dm, P["N2V_EPOCHS"], _predictor(patch, tta=True),
                    headline=False)]
    return Setup("02", "psnr", "gaussian", score, vx, vy, score([gaussian(x) for x in vx], vy),
                 score(vx, vy), nets, P, {"data": t1 - t0, "baseline": t2 - t1})


def setup_03(tmp: Path, P: dict) -> Setup:
    from im2im_helpers import baselines, data, models, tasks
    from im2im_helpers.data import simulate

    t0 = time.perf_counter()
    sharp = data.load(P["DATASET"], normalize_percentiles=None)
    blurred = simulate.confocal_like(sharp, psf_sigma=P["PSF_SIGMA"], photons=P["PHOTONS"],
                                     read_noise=P["READ_NOISE"], seed=P["SEED"])
    pairs = data.load(data.write_folder(blurred, tmp / "pairs"), normalize_percentiles=None)
    split = data.split(pairs, test=["phalloidin-test"], val=["phalloidin-val"], seed=P["SEED"],
                       shuffle=False, path=tmp / "split.json")
    t1 = time.perf_counter()
    rl = baselines.fit_deconvolution([p.input for p in split.train[:4]],
                                     [p.target for p in split.train[:4]], [P["PSF_SIGMA"]],
                                     metric="ssim")
    t2 = time.perf_counter()
    patch = (P["PATCH"],) * 2
    dm = data.patches(split, patch=patch, batch_size=P["BATCH"],
                      samples_per_image=P["SAMPLES_PER_IMAGE"], augment="flips", seed=P["SEED"])
    net = models.build("unet", dims=2, channels=P["CHANNELS"], norm="BATCH", seed=P["SEED"])
    task = tasks.Supervised(net, loss="mse", lr=P["LEARNING_RATE"], scheduler="cosine")
    score = _mean_metric("pearson")
    vx, vy = [p.input for p in split.val], [p.target for p in split.val]
    return Setup("03", "pearson", "richardson_lucy", score, vx, vy,
                 score([rl(x) for x in vx], vy), score(vx, vy),
                 [Network("unet", task, dm, P["MAX_EPOCHS"], _predictor(patch, tta=True))],
                 P, {"data": t1 - t0, "baseline": t2 - t1})


def setup_04(tmp: Path, P: dict) -> Setup:
    from im2im_helpers import baselines, data, models, tasks

    t0 = time.perf_counter()
    pairs = data.foreground(data.load(P["DATASET"], normalize_target=False))
    split = data.split(pairs, test=["stardist-right", "ndev-t08", "ndev-t09"], val=["ndev-t07"],
                       seed=P["SEED"], shuffle=False, path=tmp / "split.json")
    t1 = time.perf_counter()
    otsu = baselines.fit_otsu([p.input for p in split.train], [p.target for p in split.train])
    t2 = time.perf_counter()
    patch = (P["PATCH"],) * 2
    dm = data.patches(split, patch=patch, batch_size=P["BATCH"],
                      samples_per_image=P["SAMPLES_PER_IMAGE"], augment="flips", seed=P["SEED"])
    net = models.build("unet", dims=2, in_channels=pairs[0].input.shape[0], out_channels=1,
                       channels=P["CHANNELS"], norm="BATCH", seed=P["SEED"])
    task = tasks.Supervised(net, loss="dice_ce", lr=P["LEARNING_RATE"], scheduler="cosine")
    score = _mean_metric("dice")
    vx, vy = [p.input for p in split.val], [p.target for p in split.val]
    return Setup("04", "dice", "otsu", score, vx, vy, score([otsu(x) for x in vx], vy), None,
                 [Network("unet", task, dm, P["MAX_EPOCHS"],
                          _predictor(patch, tta=True, threshold=P["THRESHOLD"]))],
                 P, {"data": t1 - t0, "baseline": t2 - t1})


def setup_07(tmp: Path, P: dict) -> Setup:
    from im2im_helpers import baselines, data, metrics, tasks

    t0 = time.perf_counter()
    pairs = data.load(P["DATASET"], normalize_percentiles=None)
    split = data.split(pairs, test=["ihc-test"], val=["ihc-val"], seed=P["SEED"], shuffle=False,
                       path=tmp / "split.json")
    t1 = time.perf_counter()
    ridge = baselines.ColourRidge(degree=1).fit([p.input for p in split.train],
                                                [p.target for p in split.train])
    t2 = time.perf_counter()
    patch = (P["PATCH"],) * 2
    dm = data.patches(split, patch=patch, batch_size=P["BATCH"], augment="flips", seed=P["SEED"],
                      samples_per_image=max(1, P["PATCHES_PER_EPOCH"] // len(split.train)))
    unet = {"name": "unet", "dims": 2, "in_channels": pairs[0].input.shape[0],
            "out_channels": pairs[0].target.shape[0], "channels": P["CHANNELS"], "norm": "BATCH",
            "seed": P["SEED"]}
    fcn = tasks.Supervised(unet, loss="l1", lr=P["LEARNING_RATE"], scheduler="cosine")
    gan = tasks.Pix2Pix(unet, lr=P["LEARNING_RATE"], scheduler="cosine",
                        l1_weight=P["L1_WEIGHT"], discriminator=P["DISCRIMINATOR"])
    score = _mean_metric("pearson", metrics.grey)
    vx, vy = [p.input for p in split.val], [p.target for p in split.val]
    return Setup("07", "pearson (grey)", "ridge_rgb", score, vx, vy,
                 score([ridge.predict(x) for x in vx], vy), None,
                 [Network("fcn", fcn, dm, P["MAX_EPOCHS"], _predictor(patch)),
                  Network("pix2pix", gan, dm, P["MAX_EPOCHS"], _predictor(patch))],
                 P, {"data": t1 - t0, "baseline": t2 - t1})


def setup_09(tmp: Path, P: dict) -> Setup:
    from im2im_helpers import baselines, data, tasks
    from im2im_helpers.data import simulate

    t0 = time.perf_counter()
    simulated = simulate.cells_3d(n_volumes=P["N_VOLUMES"], shape=P["VOLUME"], seed=P["SEED"])
    pairs = data.load(data.write_folder(simulated, tmp / "pairs"))
    split = data.split(pairs, test=1, val=1, seed=P["SEED"], shuffle=False,
                       path=tmp / "split.json")
    t1 = time.perf_counter()
    ridge = baselines.FilterRidge(sigmas=(1, 2, 4), seed=P["SEED"])
    ridge.fit([p.input for p in split.train], [p.target for p in split.train])
    t2 = time.perf_counter()
    patch = tuple(P["PATCH"])
    dm = data.patches(split, patch=patch, batch_size=P["BATCH"],
                      samples_per_image=P["SAMPLES_PER_IMAGE"], augment="flips", seed=P["SEED"])
    unet = {"name": "unet", "dims": 3, "in_channels": 1, "out_channels": 1,
            "channels": P["CHANNELS"], "norm": "BATCH", "seed": P["SEED"]}
    fcn = tasks.Supervised(unet, loss="l1", lr=P["LEARNING_RATE"], scheduler="cosine")
    gan = tasks.Pix2Pix(unet, lr=P["LEARNING_RATE"], scheduler="cosine",
                        l1_weight=P["L1_WEIGHT"], discriminator=P["DISCRIMINATOR"])
    score = _mean_metric("pearson")
    vx, vy = [p.input for p in split.val], [p.target for p in split.val]
    return Setup("09", "pearson", "ridge", score, vx, vy, score([ridge.predict(x) for x in vx], vy),
                 score(vx, vy),
                 [Network("fcn", fcn, dm, P["MAX_EPOCHS"], _predictor(patch)),
                  Network("pix2pix", gan, dm, P["MAX_EPOCHS"], _predictor(patch))],
                 P, {"data": t1 - t0, "baseline": t2 - t1})


SETUPS = {"01": setup_01, "02": setup_02, "03": setup_03, "04": setup_04, "07": setup_07,
          "09": setup_09}


# ------------------------------------------------------------------------------------------------
# the reference speed


def _load_run_py():
    spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Box:
    def put(self, value):
        self.value = value


def reference_speed(device: str, steps: int = 30, warmup: int = 5) -> float:
    """Steps/s of ``benchmarks/run.py``'s plain torch loop (its U-Net 16-128 on 8 x 128^2
    patches, MSE, Adam), run here, in this process, with its thread setting."""
    box = _Box()
    _load_run_py().bench_loop(steps, warmup, device, box)
    return 1.0 / box.value["per_step"]


# ------------------------------------------------------------------------------------------------
# training with a validation score


def _lightning():
    import lightning as L
    return L


def make_scorer(setup: Setup, net: Network, budget_s: float, every_steps: int | None,
                stop_when_beaten: bool):
    """A Lightning callback that scores the network on the validation images and keeps the
    training clock (its own scoring excluded)."""
    L = _lightning()
    higher = True  # every headline metric used here (pearson, psnr, dice) is higher-is-better

    class Scorer(L.Callback):
        def __init__(self):
            self.history: list[dict] = []
            self.excluded = 0.0
            self.first_beat: dict | None = None
            self.first_beat_input: dict | None = None
            self.start = None

        def on_train_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def elapsed(self) -> float:
            return time.perf_counter() - self.start - self.excluded

        def _score(self, trainer, pl_module, epoch_done: float):
            t_train = self.elapsed()
            t0 = time.perf_counter()
            preds = [net.predict(pl_module, x) for x in setup.val_inputs]
            value = setup.score(preds, setup.val_targets)
            scoring = time.perf_counter() - t0
            self.excluded += scoring
            row = {"train_s": round(t_train, 2), "steps": int(trainer.global_step),
                   "epochs": round(epoch_done, 3), "score": value,
                   "scoring_s": round(scoring, 2)}
            self.history.append(row)
            beats = value > setup.baseline_val if higher else value < setup.baseline_val
            if beats and self.first_beat is None:
                self.first_beat = row
            if (setup.input_val is not None and self.first_beat_input is None
                    and value > setup.input_val):
                self.first_beat_input = row
            print(f"    {net.name} step {row['steps']:>5} epoch {epoch_done:5.2f} "
                  f"{t_train:7.1f} s  {setup.metric} {value:.4f} (baseline "
                  f"{setup.baseline_val:.4f}){'  BEATS' if beats else ''}", flush=True)
            done = (self.first_beat if net.headline else self.first_beat_input) is not None
            if (stop_when_beaten and done) or t_train > budget_s:
                trainer.should_stop = True

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if every_steps and trainer.global_step % every_steps == 0:
                per_epoch = max(1, trainer.num_training_batches)
                self._score(trainer, pl_module, trainer.global_step / per_epoch)

        def on_train_epoch_end(self, trainer, pl_module):
            if not every_steps:
                self._score(trainer, pl_module, trainer.current_epoch + 1)
            elif self.history and self.history[-1]["steps"] != trainer.global_step:
                self._score(trainer, pl_module, trainer.current_epoch + 1)

    return Scorer()


def train_and_score(setup: Setup, net: Network, tmp: Path, args) -> dict:
    from im2im_helpers import train

    scorer = make_scorer(setup, net, args.budget_s, args.every_steps, not args.run_to_end)
    t0 = time.perf_counter()
    train.fit(net.task, net.datamodule, tmp / f"run_{net.name}", progress=False,
              max_epochs=net.max_epochs, seed=setup.params["SEED"],
              accelerator="gpu" if args.device == "cuda" else "cpu", devices=1,
              callbacks=[scorer])  # should_stop ends it after the step that beat the baseline
    wall = time.perf_counter() - t0
    steps_per_epoch = len(net.datamodule.train_dataloader())
    last = scorer.history[-1] if scorer.history else None
    return {
        "headline": net.headline, "max_epochs": net.max_epochs,
        "default_steps": net.max_epochs * steps_per_epoch,
        "first_beat_baseline": scorer.first_beat,
        "first_beat_input": scorer.first_beat_input,
        "last": last, "history": scorer.history,
        "fit_wall_s": round(wall, 2), "scoring_s": round(scorer.excluded, 2),
        "stopped": ("beaten" if (scorer.first_beat if net.headline else scorer.first_beat_input)
                    and not args.run_to_end else
                    "budget" if last and last["train_s"] > args.budget_s else "recipe end"),
    }


def run_tutorial(tutorial: str, args) -> dict:
    import torch

    print(f"== {tutorial} {notebook_path(tutorial).stem}", flush=True)
    ref_before = reference_speed(args.device)
    if args.budget_ref_steps:  # the same budget on every machine, in reference-loop steps
        args = argparse.Namespace(**{**vars(args),
                                     "budget_s": args.budget_ref_steps / ref_before})
    params = notebook_parameters(tutorial, args.level)
    with tempfile.TemporaryDirectory() as tmp:
        setup = SETUPS[tutorial](Path(tmp), params)
        print(f"  baseline {setup.baseline} {setup.metric} on validation {setup.baseline_val:.4f}"
              f"; input {setup.input_val}", flush=True)
        nets = {}
        for net in setup.networks:
            if args.networks and net.name not in args.networks:
                continue
            nets[net.name] = train_and_score(setup, net, Path(tmp), args)
    ref_after = reference_speed(args.device)
    ref = (ref_before + ref_after) / 2
    for result in nets.values():
        result["reference_steps_per_s"] = round(ref, 2)
        for key in ("first_beat_baseline", "first_beat_input", "last"):
            if result[key]:
                result[key]["ref_steps"] = round(result[key]["train_s"] * ref)
    return {
        "notebook": notebook_path(tutorial).name, "level": args.level, "metric": setup.metric,
        "baseline": setup.baseline, "baseline_val": setup.baseline_val,
        "input_val": setup.input_val, "val_images": len(setup.val_inputs),
        "setup_s": {k: round(v, 2) for k, v in setup.seconds.items()},
        "reference_steps_per_s": {"before": round(ref_before, 2), "after": round(ref_after, 2),
                                  "mean": round(ref, 2)},
        "threads": torch.get_num_threads(), "budget_s": round(args.budget_s, 1),
        "budget_ref_steps": args.budget_ref_steps, "networks": nets,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "load_average": os.getloadavg(),
    }


# ------------------------------------------------------------------------------------------------
# where a default run's time goes


def profile_tutorial(tutorial: str, args) -> dict:
    """Time the parts of a default run: setup (data, baseline tuning), the first network's
    epochs split into patch sampling (the DataLoader's time), training steps (forward,
    backward, optimiser) and the rest of an epoch (Lightning's validation loss, checkpoints),
    then sliding-window prediction of the test images with and without TTA and one figure.
    Training runs ``--profile-epochs`` epochs; the table extrapolates to the default's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from im2im_helpers import predict, train, viz

    L = _lightning()
    print(f"== profile {tutorial}", flush=True)
    ref = reference_speed(args.device)
    params = notebook_parameters(tutorial, args.level)

    class Clock(L.Callback):
        def __init__(self):
            self.t = {"data": 0.0, "step": 0.0, "validation": 0.0, "epoch_total": 0.0}
            self.steps = 0

        def on_train_epoch_start(self, trainer, pl_module):
            self.epoch_start = self.last_end = time.perf_counter()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            now = time.perf_counter()
            self.t["data"] += now - self.last_end  # fetching the batch (+ tiny loop overhead)
            self.batch_start = now

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.last_end = time.perf_counter()
            self.t["step"] += self.last_end - self.batch_start
            self.steps += 1

        def on_validation_start(self, trainer, pl_module):
            self.val_start = time.perf_counter()

        def on_validation_end(self, trainer, pl_module):
            self.t["validation"] += time.perf_counter() - self.val_start

        def on_train_epoch_end(self, trainer, pl_module):
            self.epoch_end = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        setup = SETUPS[tutorial](tmp, params)
        net = setup.networks[0]
        # patch sampling and augmentation alone: one epoch of the DataLoader, no network
        t0 = time.perf_counter()
        n_batches = sum(1 for _ in net.datamodule.train_dataloader())
        sampling_epoch = time.perf_counter() - t0
        clock = Clock()
        epochs = min(args.profile_epochs, net.max_epochs)
        t0 = time.perf_counter()
        run = train.fit(net.task, net.datamodule, tmp / "run", progress=False,
                        max_epochs=net.max_epochs, max_steps=epochs * n_batches,
                        seed=params["SEED"], accelerator="gpu" if args.device == "cuda" else "cpu",
                        devices=1, callbacks=[clock])
        fit_total = time.perf_counter() - t0
        model = run.model
        # a test image as the notebook predicts it (split.test is not scored here, only timed)
        split = net.datamodule.split
        roi = _window(params["PATCH"]) if tutorial != "09" else tuple(params["PATCH"])
        x = split.test[0].input
        t0 = time.perf_counter()
        predict.image(model, x, roi=roi)
        pred_plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        predict.image(model, x, roi=roi, tta=True)
        pred_tta = time.perf_counter() - t0
        t0 = time.perf_counter()
        viz.compare({"input": x, "target": split.test[0].target},
                    path=tmp / "figure.png", error_of=None)
        plt.close("all")
        figure = time.perf_counter() - t0
    per_epoch = {k: v / epochs for k, v in clock.t.items() if k != "epoch_total"}
    epoch_wall = (fit_total) / epochs
    per_epoch["other (checkpoints, hooks, start-up)"] = epoch_wall - sum(per_epoch.values())
    default = {k: v * net.max_epochs for k, v in per_epoch.items()}
    result = {
        "network": net.name, "profiled_epochs": epochs, "default_epochs": net.max_epochs,
        "steps_per_epoch": n_batches, "batch": net.datamodule.settings.batch_size,
        "patch": list(net.datamodule.patch),
        "sampling_only_epoch_s": round(sampling_epoch, 3),
        "per_epoch_s": {k: round(v, 3) for k, v in per_epoch.items()},
        "default_run_s": {**{f"train: {k}": round(v, 1) for k, v in default.items()},
                          "data loading": round(setup.seconds["data"], 1),
                          "baseline tuning (headline baseline only)":
                              round(setup.seconds["baseline"], 1),
                          "predict one test image": round(pred_plain, 2),
                          "predict one test image, TTA": round(pred_tta, 2),
                          "one figure": round(figure, 2)},
        "test_image_shape": list(x.shape),
        "reference_steps_per_s": round(ref, 2),
    }
    print(json.dumps(result, indent=1), flush=True)
    return result


# ------------------------------------------------------------------------------------------------
# threads


def _loop_worker(threads: int, steps: int, warmup: int, queue) -> None:
    import torch

    torch.set_num_threads(threads)
    box = _Box()
    _load_run_py().bench_loop(steps, warmup, "cpu", box)
    queue.put(1.0 / box.value["per_step"])


def _tutorial_step_worker(tutorial: str, threads: int, steps: int, queue) -> None:
    """Steps/s of the tutorial's first network's training step (forward, backward, Adam) on its
    own patches, batches drawn beforehand."""
    import torch

    torch.set_num_threads(threads)
    params = notebook_parameters(tutorial)
    with tempfile.TemporaryDirectory() as tmp:
        setup = SETUPS[tutorial](Path(tmp), params)
    net = setup.networks[0]
    task = net.task
    batches = []
    for b in net.datamodule.train_dataloader():
        batches.append(b)
        if len(batches) == 4:
            break
    opt = torch.optim.Adam(task.parameters(), lr=1e-3)
    task.train()
    times = []
    for i in range(steps):
        b = batches[i % len(batches)]
        t0 = time.perf_counter()
        loss = task.compute_loss(task(b["input"]), b["target"])  # a Supervised task
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    queue.put(1.0 / statistics.median(times[2:]))


def _concurrent(fn, argsets) -> list:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=fn, args=(*a, queue)) for a in argsets]
    for p in procs:
        p.start()
    out = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return out


def threads_study(tutorial: str, steps: int = 20) -> dict:
    """Steps/s with 1 and 2 torch threads in one process, and the total of two processes
    running at once (1 thread each, 2 threads each): for the reference loop and for the
    training step of ``tutorial``'s network."""
    print("== threads study", flush=True)
    result = {}
    for name, fn, extra in (("reference loop", _loop_worker, ()),
                            (f"{tutorial} training step", _tutorial_step_worker, (tutorial,))):
        def one(threads, n=1, fn=fn, extra=extra):
            argsets = [((*extra, threads, steps) if extra else (threads, steps, 5))] * n
            return _concurrent(fn, argsets)
        row = {}
        row["1 process x 1 thread"] = round(one(1)[0], 2)
        row["1 process x 2 threads"] = round(one(2)[0], 2)
        two1 = one(1, 2)
        row["2 processes x 1 thread (sum)"] = round(sum(two1), 2)
        two2 = one(2, 2)
        row["2 processes x 2 threads (sum)"] = round(sum(two2), 2)
        result[name] = row
        print(f"  {name}: {row}", flush=True)
    return result


# ------------------------------------------------------------------------------------------------
# output


def markdown(results: dict) -> str:
    lines = [
        "| tutorial | network | metric | baseline (val) | beats baseline after"
        " | epochs (of default) | optimiser steps | score then | ref. steps/s | ref-steps"
        " | last score (why it stopped) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tut, r in sorted(results.get("tutorials", {}).items()):
        for name, n in r["networks"].items():
            ref = n.get("reference_steps_per_s", r["reference_steps_per_s"]["mean"])
            fb = n["first_beat_baseline"]
            last = n["last"] or {}
            if fb:
                when, epochs = f"{fb['train_s']:.0f} s", f"{fb['epochs']:g} ({n['max_epochs']})"
                steps = str(fb["steps"])
                score, refsteps = f"{fb['score']:.3f}", f"{fb['ref_steps']:,}"
            elif not n["headline"] and n["stopped"] == "beaten":
                when = "– (an other network: stopped once it beat the input)"
                epochs, steps, score, refsteps = f"– ({n['max_epochs']})", "–", "–", "–"
            else:
                when = (f"not within {n['stopped']} ({last.get('train_s', 0):.0f} s, "
                        f"{last.get('epochs', 0):g} of {n['max_epochs']} epochs)")
                epochs, steps, score, refsteps = f"– ({n['max_epochs']})", "–", "–", "–"
            end = f"{last.get('score', float('nan')):.3f} ({n['stopped']})"
            if not n["headline"] and n.get("first_beat_input"):
                fi = n["first_beat_input"]
                end += (f"; beats the input ({r['input_val']:.3f}) after {fi['train_s']:.0f} s,"
                        f" {fi['epochs']:g} epochs")
            label = name if n["headline"] else f"{name} (other)"
            lines.append(f"| {tut} | {label} | {r['metric']} | {r['baseline']} "
                         f"{r['baseline_val']:.3f} | {when} | {epochs} | {steps} | {score} | "
                         f"{ref:.1f} | {refsteps} | {end} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tutorials", nargs="*", default=None,
                        help=f"tutorials to time (default: {' '.join(TUTORIALS)}); "
                             "--tutorials with none: time none")
    parser.add_argument("--networks", nargs="*", help="only these networks (e.g. fcn unet)")
    parser.add_argument("--budget-s", type=float, default=300.0,
                        help="training seconds per network before giving up")
    parser.add_argument("--budget-ref-steps", type=float, default=None,
                        help="the budget in reference-loop steps instead (seconds = this / the "
                             "reference steps/s measured before the tutorial): the same budget "
                             "on a fast and a slow or loaded machine")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--level", default="default", help="the notebooks' level to time")
    parser.add_argument("--every-steps", type=int, default=None,
                        help="score every N steps as well as after every epoch")
    parser.add_argument("--run-to-end", action="store_true",
                        help="train the whole default recipe instead of stopping once beaten")
    parser.add_argument("--profile", nargs="*", default=[], help="tutorials to profile, e.g. 01 04")
    parser.add_argument("--profile-epochs", type=int, default=2)
    parser.add_argument("--threads-study", nargs="?", const="01", default=None,
                        metavar="TUTORIAL", help="1 vs 2 threads, 1 vs 2 processes")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--note", default="", help="what the machine was doing (recorded)")
    args = parser.parse_args()

    import torch

    from im2im_helpers import system

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    tutorials = TUTORIALS if args.tutorials is None else args.tutorials
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    device = (torch.cuda.get_device_name(0) if args.device == "cuda"
              else f"{system.cpu_cores()} CPU cores")
    key = f"{args.device}"
    section = results.setdefault(key, {})
    section["machine"] = {"platform": platform.platform(), "device": device,
                          "torch_threads": torch.get_num_threads(),
                          "versions": system.package_versions(), "note": args.note}
    with system.logger_level("lightning.pytorch", 30):
        for tut in tutorials:
            new = run_tutorial(tut, args)
            old = section.setdefault("tutorials", {}).get(tut, {})
            for name, earlier in old.get("networks", {}).items():  # kept unless run again
                earlier.setdefault("reference_steps_per_s",
                                   old["reference_steps_per_s"]["mean"])
                new["networks"].setdefault(name, earlier)
            section["tutorials"][tut] = new
            _write(out, results)
        for tut in args.profile:
            section.setdefault("profile", {})[tut] = profile_tutorial(tut, args)
            _write(out, results)
        if args.threads_study:
            section["threads"] = threads_study(args.threads_study)
            section["threads"]["load_average"] = os.getloadavg()
            _write(out, results)
    print(markdown(section))
    print(f"written to {out}")


def _write(out: Path, results: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float) + "\n")


if __name__ == "__main__":
    sys.exit(main())
