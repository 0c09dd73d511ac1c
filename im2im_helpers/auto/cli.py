"""``python -m im2im_helpers auto DATA --task TASK --budget-min N --out DIR``: the command
line of automatic configuration (this module imports nothing heavy until it runs)."""

from __future__ import annotations

import argparse


def test_value(text: str) -> float | int | list[str]:
    """``--test``: a fraction (``0.2``), a count (``2``) or pair names separated by commas."""
    try:
        value = float(text)
    except ValueError:
        return [name for name in text.split(",") if name]
    return int(value) if value >= 1 and value == int(value) else value


def add_parser(sub) -> argparse.ArgumentParser:
    """Register the ``auto`` command on the sub-parsers ``sub`` of the main parser."""
    p = sub.add_parser("auto", help="choose a network configuration by cross-validation within "
                                    "a time budget, retrain the winner and test it once")
    p.add_argument("data", help="a dataset name (see `data list`, or an offline sample such as "
                                "ndev-labelfree) or a folder of X_IM/X_GT pairs")
    p.add_argument("--task", required=True,
                   help="labelfree, denoising or semantic (semantic segmentation)")
    p.add_argument("--budget-min", type=float, required=True,
                   help="minutes for everything (cross-validation, final run, report)")
    p.add_argument("--out", required=True,
                   help="output folder (study, folds, trials, final run, best.yaml, report); "
                        "run again with the same folder to resume")
    p.add_argument("--storage", help="Optuna storage URL of the study (default "
                                     "sqlite:///OUT/study.db); other processes join with it")
    p.add_argument("--study-name", default="auto", help="study name in the storage")
    p.add_argument("--folds", type=int, default=3,
                   help="most cross-validation folds (default 3; fewer, down to 2, when the "
                        "budget is small)")
    p.add_argument("--no-warm-start", action="store_true",
                   help="train the final model from random weights, not from the winner's best "
                        "fold model")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="count the budget in wall-clock seconds (default) or in CPU seconds of "
                        "this process (fair on a machine shared with other work)")
    p.add_argument("--estimate-single", action="store_true",
                   help="cross-validate even when the budget affords a single candidate, for an "
                        "estimate of its score (by default there is nothing to choose and the "
                        "final model trains for the whole budget)")
    p.add_argument("--no-tta", action="store_true",
                   help="test without test-time augmentation (flips)")
    p.add_argument("--test", type=test_value,
                   help="held-out test pairs: a fraction, a count or names separated by commas "
                        "(default: the dataset's policy, else 0.2)")
    p.add_argument("--no-shuffle", action="store_true",
                   help="hold out the last pairs for testing (time-lapses)")
    p.add_argument("--seed", type=int, default=0, help="seed of splits, weights and patches")
    p.add_argument("--candidates", nargs="+", metavar="CONFIG",
                   help="run configurations (YAML, as `train` takes them) to cross-validate "
                        "instead of the proposed ones; each is named by its file name")
    p.add_argument("--max-trials", type=int, help="trials this process runs at most")
    p.add_argument("--search-only", action="store_true",
                   help="only run trials (a second worker): no final run, no test")
    p.add_argument("--heartbeat-s", type=int, default=10,
                   help="seconds between a trial's heartbeats; a trial silent for three beats "
                        "is taken as killed and retried (default 10)")
    p.add_argument("--overwrite", action="store_true",
                   help="start again in an output folder of ours, or write beside the files "
                        "of another folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the ``auto`` command; prints where the report is."""
    from im2im_helpers.auto.pipeline import run as auto_run

    candidates = None
    if args.candidates:
        from pathlib import Path

        from im2im_helpers import config
        from im2im_helpers.auto.candidates import Candidate

        candidates = [Candidate(Path(f).name.split(".")[0], config.load(f), [f"given in {f}"])
                      for f in args.candidates]

    result = auto_run(args.data, args.task, args.budget_min, args.out, storage=args.storage,
                      study_name=args.study_name, folds=args.folds, test=args.test,
                      shuffle=not args.no_shuffle, seed=args.seed, candidates=candidates,
                      max_trials=args.max_trials,
                      retrain=not args.search_only, overwrite=args.overwrite,
                      heartbeat_s=args.heartbeat_s, warm_start=not args.no_warm_start,
                      tta=not args.no_tta, clock=args.clock,
                      estimate_single=args.estimate_single, log=None if args.quiet else print)
    print(f"report: {result.report}")
    if result.best is not None and result.test_score is not None:
        print(f"chosen: {result.best}; test {result.metric} {result.test_score:.4f}; "
              f"configuration {result.out / 'best.yaml'}")
    return 0
