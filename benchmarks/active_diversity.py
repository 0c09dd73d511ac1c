"""Tutorial 13's ``DIVERSITY`` default, chosen on the validation frame only.

The same data, pool and loop settings as ``notebooks/13_active_learning.ipynb`` at its default
level (``nuclei-instances-2d`` as foreground masks, tutorial 04's split: ``ndev-t07`` validates;
64-pixel crops, 2 per round, U-Net 8-16-32, 10 epochs of 8 patches per crop, a simulated annotator
with 5 edits per crop). Learning curves (:func:`im2im_helpers.active.learning_curve`) of
uncertainty sampling with and without diversity, and of random sampling, for seeds 0-2, with Dice
measured on ``ndev-t07`` alone: the test images decide nothing here. Writes
``results/benchmarks/active_diversity.json``: the curves, each variant's final mean Dice and its
mean over the rounds. Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/active_diversity.py --rounds 8 --work /tmp/ad
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "benchmarks" / "active_diversity.json"
TEST = ["stardist-right", "ndev-t08", "ndev-t09"]
VALIDATION = ["ndev-t07"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, required=True, help="where the loops go")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    import torch

    from im2im_helpers import active, data, io

    torch.set_num_threads(1)
    pairs = data.foreground(data.load("nuclei-instances-2d", normalize_target=False))
    split = data.split(pairs, test=TEST, val=VALIDATION, shuffle=False)
    images = {p.name: p.input for p in split.train}
    truths = {p.name: p.target[0] for p in split.train}
    base = active.LoopConfig(crop=64, per_round=2, epochs=10)
    start = time.perf_counter()
    summaries = {}
    for label, diversity, strategies in (("diversity", True, ("uncertainty", "random")),
                                         ("no_diversity", False, ("uncertainty",))):
        curve = active.learning_curve(args.work / label, images, truths, split.val,
                                      replace(base, diversity=diversity), rounds=args.rounds,
                                      seeds=args.seeds, strategies=strategies)
        summaries[label] = curve.summary
        print(label, curve.table(), sep="\n", flush=True)
    summary = {"uncertainty, diversity": summaries["diversity"]["uncertainty"],
               "uncertainty, no diversity": summaries["no_diversity"]["uncertainty"],
               "random": summaries["diversity"]["random"]}
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    record = {"validation": VALIDATION[0], "summary": summary,
              "final": {k: v[-1]["mean"] for k, v in summary.items()},
              "mean_over_rounds": {k: sum(p["mean"] for p in v) / len(v)
                                   for k, v in summary.items()},
              "config": asdict(base), "rounds": args.rounds, "seeds": args.seeds,
              "seconds": time.perf_counter() - start, "commit": commit}
    io.write_text(args.out, json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: record[k] for k in ("final", "mean_over_rounds", "seconds")}, indent=1))


if __name__ == "__main__":
    main()
