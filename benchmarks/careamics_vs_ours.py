"""Head-to-head: CAREamics (CARE, Noise2Void) against our recipes of notebook 02, same budget.

Same data, noise and split as ``notebooks/02_denoising.ipynb`` (made with the same package calls:
``data.load``, ``simulate.poisson_gaussian``, ``data.write_folder``, ``data.split``), the same
training budget and torch threads for every method, every prediction scored with our
``im2im_helpers.metrics`` on the tutorial's three test images. CAREamics runs in its own virtual
environment (it pins its own torch and torchvision) through ``benchmarks/careamics/worker.py``;
arrays travel as ``.npy`` files in a temporary folder, so the two environments never mix.

The budget: ``--clock cpu`` (default) stops a training once its process has used
``budget x threads`` CPU seconds, i.e. the wall time it would take on an idle machine with
``threads`` cores; it is robust to other jobs on a shared machine and lets the CAREamics runs go
alongside ours (``--parallel``). ``--clock wall`` stops on wall-clock seconds instead (use it
on an idle machine, without ``--parallel``). A reference speed (a fixed plain torch loop,
``worker.reference_speed``) is measured before and after every training in the same process,
so times from different machines compare.

Set-up of the CAREamics environment (once, ~1 min, 1.6 GB; see ``benchmarks/careamics/README.md``)::

    python3 -m venv .venv-careamics
    .venv-careamics/bin/pip install torch==2.13.0
    .venv-careamics/bin/pip install -r benchmarks/careamics/requirements.txt
    .venv-careamics/bin/pip install --no-deps careamics==0.3.5

Usage::

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/careamics_vs_ours.py \\
        --budget-s 60 120 --threads 1 --parallel
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "benchmarks" / "careamics" / "worker.py"
DEFAULT_OUT = ROOT / "results" / "benchmarks" / "careamics.json"
DEFAULT_CAREAMICS_PYTHON = ROOT / ".venv-careamics" / "bin" / "python"

# The tutorial's data, noise and split (notebook 02, DATASET = "fluorescent-nuclei-2d").
DATASET, PHOTONS, READ_NOISE = "fluorescent-nuclei-2d", 10.0, 0.02
TEST, VAL = ["stardist-right", "ndev-t08", "ndev-t09"], ["ndev-t07"]
PATCH, BATCH = 64, 16

#: Our recipes. "tutorial-*": notebook 02's default level (channels, lr, cosine schedule, mask
#: fraction, patches) with its schedule fitted to the budget (the epochs are chosen so that the
#: cosine ends when the budget does). The others change one or more settings, through the
#: package's public parameters only (models.build, tasks.*, data.patches, train.fit).
TUTORIAL_SUP = {"task": "supervised", "net": {"channels": [16, 32, 64]}, "lr": 3e-3,
                "scheduler": "cosine", "loss": "mse", "samples_per_image": 64, "batch": 16}
TUTORIAL_N2V = {**TUTORIAL_SUP, "task": "noise2void", "mask_fraction": 0.05, "radius": 2}
RECIPES = {
    "tutorial-supervised": TUTORIAL_SUP,
    "tutorial-noise2void": TUTORIAL_N2V,
    # --- single changes (supervised) ---
    "sup-l1": {**TUTORIAL_SUP, "loss": "l1"},
    "sup-lr1e-3": {**TUTORIAL_SUP, "lr": 1e-3},
    "sup-onecycle": {**TUTORIAL_SUP, "scheduler": "onecycle"},
    "sup-constant-lr": {**TUTORIAL_SUP, "scheduler": None},
    "sup-res1": {**TUTORIAL_SUP, "net": {"channels": [16, 32, 64], "num_res_units": 1}},
    "sup-res0": {**TUTORIAL_SUP, "net": {"channels": [16, 32, 64], "num_res_units": 0}},
    "sup-careamics-net": {**TUTORIAL_SUP, "net": {"channels": [32, 64, 128], "num_res_units": 0}},
    "sup-wide": {**TUTORIAL_SUP, "net": {"channels": [32, 64, 128]}},
    # a first level at full resolution (MONAI's UNet otherwise downsamples in its first layer)
    "sup-fullres": {**TUTORIAL_SUP, "net": {"channels": [16, 32, 64, 128], "strides": [1, 2, 2]}},
    "sup-basic": {**TUTORIAL_SUP, "net": {"name": "basic_unet", "norm": "batch",
                                          "features": [16, 16, 32, 64, 128, 16]}},
    "sup-batch8": {**TUTORIAL_SUP, "batch": 8},
    "sup-spi16": {**TUTORIAL_SUP, "samples_per_image": 16},
    # --- combined ---
    "sup-l1-basic": {**TUTORIAL_SUP, "loss": "l1", "net": {
        "name": "basic_unet", "norm": "batch", "features": [16, 16, 32, 64, 128, 16]}},
    # DynUNet (nnU-Net style): two conv-norm-activation per level, the first at full resolution,
    # as CAREamics' U-Net (depth 2, 32 channels first)
    "sup-l1-dyn32": {**TUTORIAL_SUP, "loss": "l1", "net": {
        "name": "dyn_unet", "norm": "BATCH", "filters": [32, 64, 128]}},
    "sup-l1-dyn16": {**TUTORIAL_SUP, "loss": "l1", "net": {
        "name": "dyn_unet", "norm": "BATCH", "filters": [16, 32, 64]}},
    # --- single changes (Noise2Void) ---
    "n2v-mask0.2%-r5": {**TUTORIAL_N2V, "mask_fraction": 0.002, "radius": 5},
    "n2v-mask1%": {**TUTORIAL_N2V, "mask_fraction": 0.01},
    "n2v-res1": {**TUTORIAL_N2V, "net": {"channels": [16, 32, 64], "num_res_units": 1}},
    "n2v-lr1e-3": {**TUTORIAL_N2V, "lr": 1e-3},
    "n2v-basic": {**TUTORIAL_N2V, "net": {"name": "basic_unet", "norm": "batch",
                                          "features": [16, 16, 32, 64, 128, 16]}},
    "n2v-dyn32": {**TUTORIAL_N2V, "net": {"name": "dyn_unet", "norm": "BATCH",
                                          "filters": [32, 64, 128]}},
    "n2v-fullres": {**TUTORIAL_N2V, "net": {"channels": [16, 32, 64, 128], "strides": [1, 2, 2]}},
}

#: CAREamics runs: its defaults (create_advanced_*_config) at our patch and batch size.
CAREAMICS = {"careamics-care": {"algorithm": "care"}, "careamics-n2v": {"algorithm": "n2v"},
             # what CAREamics' mean/std normalisation buys it: the same CARE without it
             "careamics-care-nonorm": {"algorithm": "care",
                                       "options": {"normalization": "none"}}}


def load_worker():
    spec = importlib.util.spec_from_file_location("careamics_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tutorial_split(folder: Path, seed: int = 0):
    """Notebook 02's pairs and split, built with the notebook's own calls."""
    from im2im_helpers import data
    from im2im_helpers.data import simulate

    clean = data.load(DATASET, normalize_percentiles=None)
    noisy = simulate.poisson_gaussian(clean, photons=PHOTONS, read_noise=READ_NOISE, seed=seed)
    pairs = data.load(data.write_folder(noisy, folder / "pairs"), normalize_percentiles=None)
    return data.split(pairs, test=TEST, val=VAL, seed=seed, shuffle=False,
                      path=folder / "split.json")


def score(predictions: list, split) -> dict:
    from im2im_helpers import metrics

    targets = [p.target for p in split.test]
    row = metrics.table({"m": predictions}, targets, ("psnr", "ssim"))["m"]
    row["psnr_per_image"] = [round(metrics.psnr(x, y), 3) for x, y in zip(predictions, targets)]
    return row


def steps_per_epoch(split, recipe: dict) -> int:
    return max(1, len(split.train) * recipe["samples_per_image"] // recipe["batch"])


def build_net(recipe: dict, seed: int):
    """The recipe's network: ``models.build`` with the recipe's options (batch norm, as in 02)."""
    from im2im_helpers import models

    options = {"name": "unet", "norm": "BATCH", **recipe["net"]}
    return models.build(options.pop("name"), dims=2, seed=seed, **options)


def calibrate(recipe: dict, threads: int, seconds: float = 3.0) -> float:
    """Seconds per training step of the recipe's network (forward, backward, Adam) on the
    budget's clock: a few steps on random patches before the run, to fit the schedule."""
    import torch

    net = build_net(recipe, 0)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(recipe["batch"], 1, PATCH, PATCH)
    steps, c0 = 0, None
    while True:
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), x).backward()
        opt.step()
        steps += 1
        if steps == 2:
            c0, t0 = time.process_time(), time.perf_counter()
        elif steps > 2 and time.perf_counter() - t0 > seconds:
            return (time.process_time() - c0) / threads / (steps - 2)


def run_ours(name: str, recipe: dict, split, budget_s: float, args, worker, folder: Path) -> dict:
    """Train one of our recipes under the budget, predict the test images, score them."""
    import torch

    from im2im_helpers import data, evaluate, models, predict, tasks, train

    ref_before = worker.reference_speed(args.reference_s)
    t0 = time.perf_counter()
    per_step = calibrate(recipe, args.threads)
    calibration_s = time.perf_counter() - t0
    spe = steps_per_epoch(split, recipe)
    # the validation pass (tiles of one image) costs about 2 steps' forward passes per epoch
    epochs = max(1, int(0.95 * budget_s / (per_step * (spe + 2))))
    patch = (PATCH, PATCH)
    dm = data.patches(split, patch=patch, batch_size=recipe["batch"],
                      samples_per_image=recipe["samples_per_image"], augment="flips",
                      seed=args.seed)
    net = build_net(recipe, args.seed)
    common = dict(lr=recipe["lr"], scheduler=recipe["scheduler"], loss=recipe["loss"])
    if recipe["task"] == "supervised":
        task = tasks.Supervised(net, **common)
    else:
        task = tasks.Noise2Void(net, **common, mask_fraction=recipe["mask_fraction"],
                                radius=recipe["radius"], seed=args.seed)
    budget = worker.make_budget_callback(budget_s, args.threads, args.clock)
    t0 = time.perf_counter()
    run = train.fit(task, dm, folder / name, max_epochs=epochs, seed=args.seed, progress=False,
                    callbacks=[budget], accelerator="cpu", overwrite=True)
    fit_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    methods = {"plain": predict.as_function(run.model, patch),
               "tta": predict.as_function(run.model, patch, tta=True)}
    preds = evaluate.apply(methods, split.test)
    predict_wall = time.perf_counter() - t0
    return {"kind": "ours", "recipe": recipe, "scores": score(preds["plain"], split),
            "scores_tta": score(preds["tta"], split), **budget.record(),
            "planned_epochs": epochs, "calibration_s": calibration_s,
            "fit_wall_s": fit_wall, "predict_wall_s": predict_wall,
            "reference_before": ref_before, "reference_after": worker.reference_speed(
                args.reference_s),
            "parameters": models.count_parameters(net), "torch": torch.__version__}


def start_careamics(name: str, spec: dict, split, budget_s: float, args, folder: Path):
    """Write the arrays and the job, start the worker in the CAREamics venv; return the
    process and its folder."""
    import numpy as np

    job_dir = folder / name
    job_dir.mkdir(parents=True)
    names = {}
    for part, items in (("train", split.train), ("val", split.val), ("test", split.test)):
        for kind in ("input", "target"):
            names[f"{part}_{kind}s"] = []
            for i, p in enumerate(items):
                fn = f"{part}_{kind}_{i}.npy"
                np.save(job_dir / fn, np.asarray(getattr(p, kind))[0].astype(np.float32))
                names[f"{part}_{kind}s"].append(fn)
    job = {**spec, **names, "budget_s": budget_s, "threads": args.threads, "clock": args.clock,
           "patch": [PATCH, PATCH], "batch": BATCH, "max_epochs": 1000, "seed": args.seed,
           "tile": [128, 128], "tile_overlap": [48, 48], "reference_seconds": args.reference_s}
    (job_dir / "job.json").write_text(json.dumps(job, indent=1))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    log = open(job_dir / "log.txt", "w")  # noqa: SIM115 - closed by finish_careamics
    proc = subprocess.Popen([str(args.careamics_python), str(WORKER), str(job_dir)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, job_dir, log


def finish_careamics(proc, job_dir: Path, log, split) -> dict:
    import numpy as np

    rc = proc.wait()
    log.close()
    if rc != 0:
        tail = (job_dir / "log.txt").read_text()[-3000:]
        raise RuntimeError(f"CAREamics worker failed (rc {rc}):\n{tail}")
    result = json.loads((job_dir / "result.json").read_text())
    n = len(split.test)
    plain = [np.load(job_dir / f"pred_{i}.npy")[None] for i in range(n)]
    tta = [np.load(job_dir / f"pred_tta_{i}.npy")[None] for i in range(n)]
    config = result.pop("config")
    algo = config.get("algorithm_config", {})
    result["settings"] = {k: algo.get(k) for k in ("loss", "model", "optimizer", "lr_scheduler")}
    result["settings"]["training"] = config.get("training_config")
    return {"kind": "careamics", **result, "scores": score(plain, split),
            "scores_tta": score(tta, split)}


def row(name: str, r: dict, budget_s: float) -> str:
    s, t = r["scores"], r["scores_tta"]
    ref = r["reference_before"]["steps_per_cpu_s"]
    return (f"| {budget_s:g} | {name} | {s['psnr']:.2f} / {s['ssim']:.3f} | "
            f"{t['psnr']:.2f} / {t['ssim']:.3f} | {r['budget_spent_s']:.0f} | {r['steps']} | "
            f"{r['epochs']} | {r['train_wall_s']:.0f} | {ref:.1f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget-s", type=float, nargs="+", default=[60.0, 120.0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--parallel", action="store_true",
                        help="run the CAREamics jobs alongside ours (needs --clock cpu)")
    parser.add_argument("--recipes", nargs="*", default=None,
                        help="ours to run (default: tutorial and recommended); of "
                        + str(list(RECIPES)).replace("%", "%%"))
    parser.add_argument("--careamics", nargs="*", default=["careamics-care", "careamics-n2v"],
                        help=f"CAREamics runs, of {list(CAREAMICS)}")
    parser.add_argument("--careamics-python", type=Path, default=DEFAULT_CAREAMICS_PYTHON)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-s", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--merge", action="store_true",
                        help="add to the runs already in --out instead of replacing them")
    args = parser.parse_args(argv)
    if args.parallel and args.clock != "cpu":
        parser.error("--parallel needs --clock cpu (a wall-clock budget needs an idle machine)")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    worker = load_worker()
    recipes = args.recipes if args.recipes is not None else DEFAULT_RECIPES
    if args.careamics and not args.careamics_python.exists():
        parser.error(f"{args.careamics_python}: no CAREamics environment; see the docstring")

    runs = []
    with tempfile.TemporaryDirectory(prefix="careamics_vs_ours_") as tmp:
        tmp = Path(tmp)
        split = tutorial_split(tmp, args.seed)
        print(split, flush=True)
        for budget_s in args.budget_s:
            pending = []
            for name in args.careamics:
                started = start_careamics(name, CAREAMICS[name], split, budget_s, args,
                                          tmp / f"b{budget_s:g}")
                if args.parallel:
                    pending.append((name, started))
                else:
                    runs.append({"name": name, "budget_s": budget_s,
                                 **finish_careamics(*started, split)})
                    print(row(name, runs[-1], budget_s), flush=True)
                    write_record(args, runs)
            for name in recipes:
                try:
                    runs.append({"name": name, "budget_s": budget_s,
                                 **run_ours(name, RECIPES[name], split, budget_s, args, worker,
                                            tmp / f"b{budget_s:g}" / "ours")})
                except Exception as error:  # noqa: BLE001 - record it, go on with the others
                    print(f"{name}: FAILED {error!r}", flush=True)
                    continue
                print(row(name, runs[-1], budget_s), flush=True)
                write_record(args, runs)
            for name, started in pending:
                runs.append({"name": name, "budget_s": budget_s,
                             **finish_careamics(*started, split)})
                print(row(name, runs[-1], budget_s), flush=True)
                write_record(args, runs)

    record = write_record(args, runs)
    print("\n| budget (s) | method | PSNR / SSIM | with TTA | spent (s) | steps | epochs | "
          "wall (s) | reference steps/CPU-s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in record["runs"]:
        print(row(r["name"], r, r["budget_s"]))
    print(f"\nwritten {args.out}")


_OLD_RUNS: list | None = None


def write_record(args, runs: list) -> dict:
    """Write the runs so far (and, with --merge, those already in --out) to --out."""
    global _OLD_RUNS
    if _OLD_RUNS is None:
        _OLD_RUNS = (json.loads(args.out.read_text())["runs"]
                     if args.merge and args.out.exists() else [])
    record = {
        "benchmark": "careamics_vs_ours", "dataset": DATASET,
        "noise": {"photons": PHOTONS, "read_noise": READ_NOISE}, "test": TEST, "val": VAL,
        "patch": PATCH, "batch": BATCH, "threads": args.threads, "clock": args.clock,
        "parallel": args.parallel, "seed": args.seed, "machine": {
            "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_average": os.getloadavg()},
        "date": time.strftime("%Y-%m-%d"),
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, text=True,
                                     capture_output=True).stdout.strip(),
        "runs": _OLD_RUNS + runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    return record


#: What runs without --recipes: the tutorial's recipes and the recommended ones.
DEFAULT_RECIPES = ["tutorial-supervised", "tutorial-noise2void", "sup-l1-basic", "n2v-basic"]

if __name__ == "__main__":
    main()
