"""Automatic configuration against the tutorials' hand-written default recipes, at the same
budget and on the same held-out test images.

For each dataset this runs :func:`im2im_helpers.auto.run` with ``--budget-min`` minutes (4 by
default: a tutorial's ``default`` level must finish in 4 minutes, so that is "the same CPU
budget") and holds out exactly the tutorial's test images:

- ``labelfree``: ``ndev-labelfree``, the test frames of tutorial 01
  (``data.split(pairs, test=2, val=1, seed=0, shuffle=False)``: the last two frames);
- ``nuclei``: ``nuclei-instances-2d`` as semantic segmentation, the test images of tutorial 04
  (``stardist-right``, ``ndev-t08``, ``ndev-t09``).

Cross-validation sees only the other images; nothing here looks at the test scores to choose
anything. The hand recipe's score is read from the tutorial's recorded default run
(``results/default/<tutorial>.json``, made on 2 idle cores) and compared like with like: the
automatic model's test score with test-time augmentation (flips) against the tutorial's network
with TTA (01: ``unet_tta``; 04: ``unet``, which the notebook predicts with TTA), and without TTA
against 01's plain ``unet``. The load average is sampled during each run: on a shared machine a
budget in wall seconds buys fewer steps, so a win under load is conservative. ``--clock cpu``
counts the budget in CPU seconds of the process instead (the record of a tutorial has both its
wall ``seconds`` and its ``cpu_seconds``): the same CPU budget whatever else runs. Each call
writes its section of the record under ``warm-wall``, ``warm-cpu``, ``cold-cpu``, ... (warm: the
final run starts from the winner's best fold model; cold: from random weights).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/auto_vs_hand.py --budget-min 4
    OMP_NUM_THREADS=1 python benchmarks/auto_vs_hand.py --budget-min 4 --clock cpu
    OMP_NUM_THREADS=1 python benchmarks/auto_vs_hand.py --clock cpu --no-warm-start
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "benchmarks" / "auto_vs_hand.json"
RECORDS = ROOT / "results" / "default"

#: What each dataset runs: data, task, the tutorial whose record holds the hand recipe's score,
#: the record's key for the test images, and the record's methods compared (with TTA, without).
DATASETS = {
    "labelfree": {"source": "ndev-labelfree", "task": "labelfree", "tutorial": "01_labelfree_2d",
                  "test_key": "test_frames", "hand_tta": "unet_tta", "hand_plain": "unet",
                  "baseline": "ridge"},
    "nuclei": {"source": "nuclei-instances-2d", "task": "semantic",
               "tutorial": "04_semantic_segmentation", "test_key": "test_images",
               "hand_tta": "unet", "hand_plain": None, "baseline": "otsu"},
}


class LoadSampler:
    """Samples ``os.getloadavg()`` (1-minute) every ``every_s`` seconds in a thread."""

    def __init__(self, every_s: float = 5.0):
        self.every_s = every_s
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self.stop.wait(self.every_s)

    def __enter__(self) -> LoadSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def summary(self) -> dict:
        values = self.samples or [os.getloadavg()[0]]
        return {"mean": round(float(np.mean(values)), 2), "max": round(float(max(values)), 2),
                "samples": len(values)}


def hand_record(spec: dict) -> dict:
    """The tutorial's recorded default run: its test images and the scores compared."""
    path = RECORDS / f"{spec['tutorial']}.json"
    record = json.loads(path.read_text())
    metric = record["headline"]["metric"]
    methods = record["methods"]
    return {"record": str(path.relative_to(ROOT)), "metric": metric,
            "test": list(record[spec["test_key"]]),
            "hand_tta": methods[spec["hand_tta"]][metric],
            "hand_plain": methods[spec["hand_plain"]][metric] if spec["hand_plain"] else None,
            "baseline": methods[spec["baseline"]][metric], "baseline_name": spec["baseline"],
            "hand_seconds": record["run"]["seconds"],
            "hand_cpu_seconds": record["run"].get("cpu_seconds"),
            "hand_machine": record["run"]["machine"],
            "hand_steps": record.get("steps")}


def plain_score(result, spec: dict) -> float | None:
    """The automatic model's test score without test-time augmentation (for tutorial 01's
    plain ``unet``)."""
    from im2im_helpers.auto import get_task
    from im2im_helpers.auto.pipeline import load_pairs
    from im2im_helpers.auto.search import scores

    task = get_task(spec["task"])
    pairs, _, _ = load_pairs(spec["source"], task)
    split = json.loads((result.out / "split.json").read_text())["names"]
    test = pairs.subset(split["test"])
    model = result_model(result)
    values = scores(model, test, task, result.config.data.patches.patch, (task.metric,))
    return float(np.mean(values[task.metric]))


def result_model(result):
    """The final run's trained model."""
    from im2im_helpers import config, train
    from im2im_helpers.tasks import TASKS

    cfg = config.load(result.run / train.CONFIG)
    return train.load_run_model(result.run, TASKS[cfg.task.kind])


def run_one(name: str, budget_min: float, workdir: Path, warm_start: bool, seed: int,
            clock: str) -> dict:
    """One automatic configuration on dataset ``name``, compared with the hand recipe."""
    from im2im_helpers import auto

    spec = DATASETS[name]
    hand = hand_record(spec)
    out = workdir / name
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(f"{time.monotonic() - t0:7.1f} s  {line}")
        print(f"[{name}] {lines[-1]}", flush=True)

    load_before = os.getloadavg()
    t0 = time.monotonic()
    with LoadSampler() as load:
        result = auto.run(spec["source"], spec["task"], budget_min, out, test=hand["test"],
                          shuffle=False, seed=seed, warm_start=warm_start, tta=True,
                          clock=clock, overwrite=True, log=log)
    wall = time.monotonic() - t0
    report = json.loads((out / "auto_report.json").read_text())
    cv = result.cv[result.best] if result.best else {}
    plain = plain_score(result, spec) if spec["hand_plain"] and result.run else None
    setup = report["setup"]
    return {
        "source": spec["source"], "task": spec["task"], "metric": result.metric,
        "test_images": hand["test"],
        "auto": {"test_tta": result.test_score, "test_plain": plain,
                 "test_scores_tta": result.test_scores, "cv_mean": cv.get("mean"),
                 "cv_std": cv.get("std"), "cv_folds": cv.get("fold_scores"),
                 "winner": result.best, "seconds": round(result.seconds, 1),
                 "wall_s": round(wall, 1), "budget_s": budget_min * 60, "clock": clock,
                 "warm_start": warm_start, "plan": setup["plan"],
                 "final": report.get("final"),
                 "candidates": {k: {"state": v["state"], "mean": v["mean"], "std": v["std"],
                                    "folds": v["fold_scores"]}
                                for k, v in result.cv.items()},
                 "log": lines},
        "hand": hand,
        "auto_minus_hand_tta": (result.test_score - hand["hand_tta"]
                                if result.test_score is not None else None),
        "auto_minus_hand_plain": (plain - hand["hand_plain"]
                                  if plain is not None and hand["hand_plain"] else None),
        "load_average": {"before": [round(v, 2) for v in load_before], **load.summary()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-min", type=float, default=4.0)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--no-warm-start", action="store_true",
                        help="the final run from random weights (to measure the warm start)")
    parser.add_argument("--variant", default=None,
                        help="key of this run in the record (default: 'warm' or 'cold')")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="count the budget in wall seconds or in CPU seconds of the process "
                             "(the tutorial's record has both: seconds and cpu_seconds)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the runs go (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    import torch

    from im2im_helpers import system

    variant = args.variant or (("cold" if args.no_warm_start else "warm") + f"-{args.clock}")
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    section = results.setdefault(variant, {"datasets": {}})
    section["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "torch_threads": torch.get_num_threads(),
                          "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                          "versions": system.package_versions()}
    section["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    section["budget_min"] = args.budget_min
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for name in args.datasets:
            row = run_one(name, args.budget_min, workdir, not args.no_warm_start, args.seed,
                          args.clock)
            section["datasets"][name] = row
            a, h = row["auto"]["test_tta"], row["hand"]["hand_tta"]
            print(f"{name}: auto {row['metric']} {a:.4f} (TTA; CV {row['auto']['cv_mean']:.4f} "
                  f"± {row['auto']['cv_std']:.4f}, {row['auto']['winner']}, "
                  f"{row['auto']['seconds']:.0f} s) vs hand {h:.4f}; load "
                  f"{row['load_average']['mean']}", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
