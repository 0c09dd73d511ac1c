"""Command line: ``python -m im2im_helpers train CONFIG.yaml``, ``predict RUN INPUT...`` (a run
folder or a BioImage.IO package; streamed to OME-Zarr for large images; on Dask with
``--scheduler``/``--workers``), ``export RUN OUT.zip``, ``report RUN``,
``auto DATA --task T --budget-min N --out DIR``, ``data list|info|fetch|prepare [NAME]``."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from im2im_helpers import config, system, train

    cfg = config.load(args.config)
    task, datamodule = config.build(cfg)
    overrides = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    run = train.fit(task, datamodule, args.out, cfg.train, resume=args.resume,
                    overwrite=args.overwrite, progress=not args.quiet, **overrides)
    if system.is_main_process():  # with strategy ddp, Lightning runs this command per process
        print(f"run folder: {run.path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from im2im_helpers import predict

    if args.scheduler or args.workers:
        from im2im_helpers.cluster import predict_files

        summary = predict_files(args.run, args.inputs, args.out, scheduler=args.scheduler,
                                workers=args.workers, channel=args.channel, roi=args.roi,
                                overwrite=args.overwrite, progress=not args.quiet)
        print(summary)
        return 1 if summary.failed else 0
    from im2im_helpers.export.cli import predict_model

    model, window, norm = predict_model(args.run)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    roi = args.roi or window
    for source in args.inputs:
        out = predict.output_path(source, out_dir)
        options = {"progress": not args.quiet} if predict.is_zarr(out) else {}
        written = predict.file(model, source, out, channel=args.channel, roi=roi,
                               normalize_percentiles=norm, overwrite=args.overwrite, **options)
        print(written)
    return 0


def _export(args: argparse.Namespace) -> int:
    from im2im_helpers.export import cli

    return cli.run(args)


def _report(args: argparse.Namespace) -> int:
    try:
        from im2im_helpers.report import cli
    except ImportError as err:
        raise ImportError(f"the report command is not available ({err}).") from err
    return cli.run(args)


def _report_arguments(parser: argparse.ArgumentParser, wanted: bool) -> None:
    """The arguments of ``report``: its own module's when that command is run (imported only
    then), else the ones every version has."""
    if wanted:
        try:
            from im2im_helpers.report import cli
        except ImportError:
            pass
        else:
            cli.add_arguments(parser)
            return
    parser.add_argument("run", help="run folder")
    parser.add_argument("--out", help="report file to write")


def _data(args: argparse.Namespace) -> int:
    from im2im_helpers.data import registry

    if args.action == "list":
        rows = [("name", "task", "size", "licence", "cached")]
        rows += [(n, t, size, licence[:40], cached) for n, t, size, licence, cached
                 in registry.table()]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        return 0
    if not args.name:
        print(f"error: data {args.action} needs a dataset NAME", file=sys.stderr)
        return 2
    entry = registry.get(args.name)
    if args.action == "info":
        import yaml

        print(yaml.safe_dump(registry.describe(entry), sort_keys=False, width=100))
        print(f"cache: {registry.cache_dir() / entry.name}")
    elif args.action == "fetch":
        print(f"downloaded to {registry.fetch(entry)}")
    else:
        print(f"pairs in {registry.prepare(entry)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m im2im_helpers`` (and the ``im2im`` command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m im2im_helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train from a YAML run configuration")
    p.add_argument("config", help="run configuration (a run folder's config.yaml works)")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--max-epochs", type=int, help="override train.max_epochs")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("predict", help="predict image files with a run or a BioImage.IO package")
    p.add_argument("run", help="run folder (holds config.yaml and checkpoints/), or a "
                               "BioImage.IO package (.zip or its folder)")
    p.add_argument("inputs", nargs="+", help="image files (any format bioio reads) or OME-Zarr "
                                             "images")
    p.add_argument("--out", required=True,
                   help="folder for the predictions: OME-TIFF, or OME-Zarr streamed chunk by "
                        "chunk for OME-Zarr inputs and images too large for memory")
    p.add_argument("--channel", type=int, default=0, help="input channel (default 0)")
    p.add_argument("--roi", type=int, nargs="+", help="window size (default: training patch)")
    p.add_argument("--overwrite", action="store_true", help="replace existing predictions")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="predict on the Dask cluster at ADDRESS (tcp://host:8786); finished "
                        "outputs are skipped, a failing file does not stop the others")
    p.add_argument("--workers", type=int,
                   help="predict on N local Dask worker processes (torch threads per worker: "
                        "cores / N)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_predict)

    from im2im_helpers.export import cli as export_cli  # light: argparse and format names

    p = sub.add_parser("export", help="write a trained run as a BioImage.IO model package")
    export_cli.add_arguments(p)
    p.set_defaults(func=_export)

    p = sub.add_parser("report", help="the quality-control report of a run folder")
    _report_arguments(p, wanted=bool(argv) and argv[0] == "report")
    p.set_defaults(func=_report)

    from im2im_helpers.auto import cli as auto_cli  # light: argparse only until it runs

    auto_cli.add_parser(sub)

    p = sub.add_parser("data", help="the dataset registry: list, info, fetch, prepare")
    p.add_argument("action", choices=("list", "info", "fetch", "prepare"))
    p.add_argument("name", nargs="?", help="dataset name (see `data list`)")
    p.set_defaults(func=_data)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except OSError as err:
        print(f"error: {explain_os_error(err)}", file=sys.stderr)
        return 2
    except (ValueError, ImportError, KeyError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def explain_os_error(err: OSError) -> str:
    """One paragraph for an error of the file system: the path, what went wrong and what to do
    (the project's own errors already say it; permission and read-only errors get advice)."""
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = err.filename or "a file"
        return (f"{where}: {err.strerror or 'permission denied'}; nothing was written there. "
                "For an output (--out, IM2IM_DATA), choose a folder you can write to; for an "
                "input, check that you can read it.")
    if err.errno == errno.ENOSPC:
        return (f"{err.filename or 'the disk'}: no space left on the device. Free some space "
                "or choose an output folder on another disk.")
    return str(err)


if __name__ == "__main__":
    sys.exit(main())
