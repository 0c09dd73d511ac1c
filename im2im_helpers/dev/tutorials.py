"""Execute the tutorial notebooks with papermill (``make tutorials``, and the notebook tests).

Each notebook ``notebooks/NAME.ipynb`` runs in ``OUT/NAME/`` and leaves there the executed
notebook, ``figures/``, ``metrics.json``, ``predictions/`` and its run folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml


def execute(notebook: str | Path, out: str | Path, quick: bool = True,
            parameters: dict | None = None, kernel: str = "python3") -> Path:
    """Run one notebook top to bottom into ``out/NAME/NAME.ipynb`` and return that path.

    ``OUT_DIR`` (and ``QUICK``) are passed as papermill parameters; ``OVERWRITE=True`` because
    this folder holds generated output that a new execution replaces.
    """
    import papermill

    notebook = Path(notebook)
    folder = Path(out) / notebook.stem
    folder.mkdir(parents=True, exist_ok=True)
    executed = folder / notebook.name
    params = {"QUICK": quick, "OUT_DIR": str(folder.resolve()), "OVERWRITE": True,
              **(parameters or {})}
    papermill.execute_notebook(
        str(notebook), str(executed), parameters=params, kernel_name=kernel,
        cwd=str(folder), progress_bar=False, log_output=False,
    )
    return executed


def summary(folder: Path) -> str:
    """A short description of what one executed tutorial left behind."""
    lines = [f"  notebook : {folder / (folder.name + '.ipynb')}"]
    figures = sorted((folder / "figures").glob("*.png"))
    lines.append(f"  figures  : {folder / 'figures'} ({len(figures)} PNG)")
    metrics_file = folder / "metrics.json"
    if metrics_file.is_file():
        methods = json.loads(metrics_file.read_text())["methods"]
        shown = ", ".join(f"{m} {next(iter(v))}={next(iter(v.values())):.3f}"
                          for m, v in methods.items() if v)
        lines.append(f"  metrics  : {metrics_file} ({shown})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of ``python -m im2im_helpers.dev.tutorials``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", help="notebook files to execute")
    parser.add_argument("--out", default="build/tutorials", help="output folder")
    parser.add_argument("--full", action="store_true", help="full runs (default: QUICK mode)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"),
                        help="override a notebook parameter (VALUE read as YAML: 3, true, text)")
    parser.add_argument("--no-book", action="store_true", help="skip building the book")
    args = parser.parse_args(argv)
    parameters = {name: yaml.safe_load(value) for name, value in args.parameter}
    out = Path(args.out)
    mode = "FULL" if args.full else "QUICK"
    for nb in args.notebooks:
        start = time.perf_counter()
        print(f"running {nb} ({mode}) ...", flush=True)
        executed = execute(nb, out, quick=not args.full, parameters=parameters)
        print(f"done in {time.perf_counter() - start:.0f} s\n{summary(executed.parent)}",
              flush=True)
    print(f"\nexecuted notebooks, figures and metrics are in {out.resolve()}")
    if not args.no_book:
        from im2im_helpers.dev import book

        index = book.build(out, out.parent / "book")
        print(f"the book of the executed tutorials: {index.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
