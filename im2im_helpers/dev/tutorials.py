"""Execute the tutorial notebooks with papermill (``make tutorials``, and the notebook tests).

Each notebook ``notebooks/NAME.ipynb`` runs in ``OUT/NAME/`` and leaves there the executed
notebook, ``figures/``, ``metrics.json``, ``predictions/`` and its run folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from im2im_helpers.levels import DEFAULT_LIMIT_S, LEVELS, check_level
from im2im_helpers.metrics import headline


def execute(notebook: str | Path, out: str | Path, level: str = "default",
            parameters: dict | None = None, kernel: str = "python3") -> Path:
    """Run one notebook top to bottom into ``out/NAME/NAME.ipynb`` and return that path.

    ``OUT_DIR`` and ``LEVEL`` (:data:`im2im_helpers.levels.LEVELS`) are passed as papermill
    parameters; ``OVERWRITE=True`` because this folder holds generated output that a new
    execution replaces.
    """
    import papermill

    notebook = Path(notebook)
    folder = Path(out) / notebook.stem
    folder.mkdir(parents=True, exist_ok=True)
    executed = folder / notebook.name
    params = {"LEVEL": check_level(level), "OUT_DIR": str(folder.resolve()), "OVERWRITE": True,
              **(parameters or {})}
    papermill.execute_notebook(
        str(notebook), str(executed), parameters=params, kernel_name=kernel,
        cwd=str(folder), progress_bar=False, log_output=False,
    )
    return executed


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process's finished child processes (the
    notebook kernels)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def record(folder: Path, seconds: float, level: str, results: Path,
           cpu_seconds: float | None = None) -> Path:
    """Write ``results/NAME.json``: the ``metrics.json`` a tutorial run left in ``folder``, plus
    ``run``: its level, wall time, commit, machine, torch threads and package versions — the
    only source of numbers quoted in the README, the notebooks and the book."""
    import datetime
    import platform
    import subprocess

    from im2im_helpers import io, system

    metrics = json.loads((folder / "metrics.json").read_text())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parent).stdout.strip()
    metrics["run"] = {
        "level": level, "seconds": round(seconds),
        "cpu_seconds": None if cpu_seconds is None else round(cpu_seconds),
        "commit": commit + ("+changes" if dirty else ""),
        "machine": f"{platform.machine()}, {system.cpu_cores()} cores, {system.accelerator()}",
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "date": datetime.date.today().isoformat(),
        "packages": system.package_versions(),
    }
    return io.write_text(results / f"{folder.name}.json", json.dumps(metrics, indent=2) + "\n")


def summary(folder: Path) -> str:
    """A short description of what one executed tutorial left behind."""
    lines = [f"  notebook : {folder / (folder.name + '.ipynb')}"]
    figures = sorted((folder / "figures").glob("*.png"))
    lines.append(f"  figures  : {folder / 'figures'} ({len(figures)} PNG)")
    metrics_file = folder / "metrics.json"
    if metrics_file.is_file():
        record = json.loads(metrics_file.read_text())
        lines.append(f"  metrics  : {metrics_file}")
        lines += [f"    {c}" for c in headline.compare(record)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of ``python -m im2im_helpers.dev.tutorials``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", help="notebook files to execute")
    parser.add_argument("--out", default="build/tutorials", help="output folder")
    parser.add_argument("--level", default="default", choices=LEVELS,
                        help="run level (default: default; smoke: seconds, for tests)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"),
                        help="override a notebook parameter (VALUE read as YAML: 3, true, text)")
    parser.add_argument("--no-book", action="store_true", help="skip building the book")
    parser.add_argument("--record", metavar="DIR",
                        help="write each run's metrics and run facts to DIR/NAME.json "
                             "(results/default, results/full)")
    args = parser.parse_args(argv)
    parameters = {name: yaml.safe_load(value) for name, value in args.parameter}
    out = Path(args.out)
    lost: list[str] = []
    times: dict[str, float] = {}
    for nb in args.notebooks:
        start, cpu_start = time.perf_counter(), children_cpu_seconds()
        print(f"running {nb} (level {args.level}) ...", flush=True)
        executed = execute(nb, out, level=args.level, parameters=parameters)
        seconds, cpu = time.perf_counter() - start, children_cpu_seconds() - cpu_start
        # on a shared machine the wall time says little; the kernel's CPU time says more
        print(f"done in {seconds:.0f} s (kernel CPU {cpu:.0f} s)\n{summary(executed.parent)}",
              flush=True)
        times[Path(nb).stem] = seconds
        if args.level == "default" and seconds > DEFAULT_LIMIT_S:
            print(f"OVER TIME: {Path(nb).stem} took {seconds:.0f} s; the default level aims at "
                  f"{DEFAULT_LIMIT_S:.0f} s on 2 CPU cores", file=sys.stderr, flush=True)
        if args.record and (executed.parent / "metrics.json").is_file():
            path = record(executed.parent, seconds, args.level, Path(args.record), cpu)
            print(f"  recorded : {path}")
        if args.level != "smoke" and (executed.parent / "metrics.json").is_file():
            try:  # the default and full levels promise that the networks win
                headline.check(json.loads((executed.parent / "metrics.json").read_text()),
                               Path(nb).stem)
            except headline.HeadlineLost as err:
                print(f"HEADLINE LOST: {err}", file=sys.stderr, flush=True)
                lost.append(str(err))
    print(f"\nwall seconds per tutorial (level {args.level}): "
          + ", ".join(f"{name} {t:.0f}" for name, t in times.items())
          + f"; {sum(times.values()) / 60:.1f} min in all")
    print(f"\nexecuted notebooks, figures and metrics are in {out.resolve()}")
    if not args.no_book:
        from im2im_helpers.dev import book

        index = book.build(out, out.parent / "book")
        print(f"the book of the executed tutorials: {index.resolve()}")
    if lost:
        print("\nthe network lost to its baseline in:\n  " + "\n  ".join(lost), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
