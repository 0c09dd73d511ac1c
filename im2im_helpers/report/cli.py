"""``python -m im2im_helpers report RUN [--out FILE] [--pdf]``: the quality-control report of a
run folder (see :func:`im2im_helpers.report.write_report`)."""

from __future__ import annotations

import argparse
import shlex


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("run", help="run folder (holds config.yaml, checkpoints/, logs/)")
    parser.add_argument("--out", help="HTML file (default: report.html beside the run folder)")
    parser.add_argument("--metrics", help="metrics.json (default: beside the run folder)")
    parser.add_argument("--figures", help="folder of PNG figures (default: figures/ beside it)")
    parser.add_argument("--uncertainty",
                        help="uncertainty summary JSON (default: uncertainty.json beside it)")
    parser.add_argument("--split", help="split file (default: the one config.yaml names)")
    parser.add_argument("--no-hashes", action="store_true",
                        help="list the split's names without reading the images to hash them")
    parser.add_argument("--pdf", action="store_true", help="also write the report as a PDF")
    parser.add_argument("--no-overwrite", action="store_true",
                        help="keep an existing report (by default this run's report is replaced)")


def _options(args: argparse.Namespace) -> list[str]:
    """The options given, as they would be typed (for the report's provenance)."""
    out = []
    for name in ("out", "metrics", "figures", "uncertainty", "split"):
        if getattr(args, name, None):
            out += [f"--{name}", shlex.quote(str(getattr(args, name)))]
    for name in ("no_hashes", "pdf", "no_overwrite"):
        if getattr(args, name, False):
            out.append("--" + name.replace("_", "-"))
    return out


def run(args: argparse.Namespace) -> int:
    """Write the report; print its path. Errors propagate (the entry point prints them)."""
    from im2im_helpers.report import write_report

    command = " ".join(["python -m im2im_helpers report", shlex.quote(str(args.run)),
                        *_options(args)])
    path = write_report(args.run, getattr(args, "out", None),
                        metrics=getattr(args, "metrics", None),
                        figures=getattr(args, "figures", None),
                        uncertainty=getattr(args, "uncertainty", None),
                        split=getattr(args, "split", None),
                        hashes=not getattr(args, "no_hashes", False),
                        pdf=getattr(args, "pdf", False),
                        overwrite=not getattr(args, "no_overwrite", False), command=command)
    print(path)
    if getattr(args, "pdf", False):
        print(path.with_suffix(".pdf"))
    return 0
