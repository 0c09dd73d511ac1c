"""``python -m im2im_helpers export RUN OUT.zip``: the command line of :func:`export_run`, and
the model of ``predict`` (a run folder or a BioImage.IO package)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from im2im_helpers.export.formats import WEIGHT_FORMATS

if TYPE_CHECKING:
    from torch import nn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of the ``export`` subcommand."""
    parser.add_argument("run", help="run folder (holds config.yaml and checkpoints/)")
    parser.add_argument("out", help="the package to write (.zip)")
    parser.add_argument("--formats", nargs="+", choices=WEIGHT_FORMATS, metavar="FORMAT",
                        help=f"weight formats (default: all that work: "
                             f"{' '.join(WEIGHT_FORMATS)})")
    parser.add_argument("--test-image", metavar="FILE",
                        help="held-out image for the test tensors (default: the first test "
                             "pair of the run's split)")
    parser.add_argument("--name", help="the package's name (default: from the run)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument("--no-check", action="store_true",
                        help="skip bioimageio.core's model test before writing")


def run(args: argparse.Namespace) -> int:
    """Export ``args.run`` to ``args.out``; print the package's path."""
    from im2im_helpers.export.package import export_run

    out = export_run(args.run, args.out, formats=args.formats, test_image=args.test_image,
                     name=args.name, overwrite=args.overwrite, check=not args.no_check)
    print(out)
    return 0


def predict_model(path: str | os.PathLike) -> tuple[nn.Module, list | None, list | None]:
    """The model ``predict`` runs, from a run folder or a BioImage.IO package:
    ``(model, default window, normalisation percentiles)``. A package brings its own
    normalisation (``None`` here) and window (its training patch, if it records one)."""
    from im2im_helpers.export.detect import is_package

    if is_package(path):
        from im2im_helpers.export.load import load_package

        model = load_package(path)
        return model, model.patch, None
    from im2im_helpers import config
    from im2im_helpers.tasks import TASKS
    from im2im_helpers.train import load_run_model

    cfg = config.load(os.path.join(path, "config.yaml"))
    model = load_run_model(path, TASKS[cfg.task.kind])
    return model, cfg.data.patches.patch, cfg.data.load.normalize_percentiles
