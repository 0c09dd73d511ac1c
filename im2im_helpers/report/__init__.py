"""Quality-control report of a trained run: one self-contained HTML file (and optionally a PDF)
with the headline against the baselines, the intended use and limits, the metrics, loss curves,
example figures, the uncertainty summary, the split with content hashes, the configuration,
the environment, the git commit and the provenance.

``write_report(OUT_DIR / "run")`` reads the run folder and the tutorial's files beside it
(``metrics.json``, the split file, ``figures/``, ``uncertainty.json``); a missing file makes its
section say so and how to make it. ``python -m im2im_helpers report RUN`` does the same.

Modules: :mod:`~im2im_helpers.report.sources` (reading the files),
:mod:`~im2im_helpers.report.images` (content hashes of the split's images),
:mod:`~im2im_helpers.report.environment` (versions, machine, git),
:mod:`~im2im_helpers.report.sections` and :mod:`~im2im_helpers.report.domain` (the sections),
:mod:`~im2im_helpers.report.plots` (pictures), :mod:`~im2im_helpers.report.document` (the
report as data), :mod:`~im2im_helpers.report.html` and :mod:`~im2im_helpers.report.pdf`
(rendering), :mod:`~im2im_helpers.report.cli` (the command).
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

from im2im_helpers import io
from im2im_helpers.report import html, sections
from im2im_helpers.report.document import Document
from im2im_helpers.report.sections import SECTIONS
from im2im_helpers.report.sources import ReportError, check_run, gather

__all__ = ["REPORT_NAME", "SECTIONS", "ReportError", "default_output", "write_report"]

#: The report's file name beside the run folder (in the tutorial's output folder).
REPORT_NAME = "report.html"
#: The ``<meta>`` name recording which run a report describes (relative to the report).
RUN_META = "im2im-report-run"


def default_output(run: str | os.PathLike) -> Path:
    """Where the report of ``run`` goes by default: ``report.html`` beside the run folder, in
    the tutorial's output folder with ``metrics.json`` and ``figures/`` (inside the run folder
    it would be a foreign file that stops ``train.fit`` from resuming or replacing the run)."""
    return Path(run).parent / REPORT_NAME


def _run_id(run: Path, out: Path) -> str:
    """The run folder as the report names it: relative to the report's folder when it can be."""
    try:
        return Path(os.path.relpath(run.resolve(), out.parent.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return run.resolve().as_posix()


def _check_replace(out: Path, run_id: str, overwrite: bool) -> None:
    """Refuse to replace a file that is not this run's report."""
    if not out.exists():
        return
    if out.is_dir():
        raise ReportError(f"{out}: is a folder; give the report a file name (e.g. report.html).")
    if not overwrite:
        raise FileExistsError(f"{out}: already exists and was left untouched; pass "
                              "overwrite=True (--overwrite) or another file name.")
    head = out.read_text(encoding="utf-8", errors="replace")[:4000]
    found = re.search(rf'<meta name="{RUN_META}" content="([^"]*)">', head)
    if found is None:
        raise FileExistsError(f"{out}: exists and is not a report written by im2im_helpers; it "
                              "was left untouched. Choose another file name for the report.")
    from html import unescape

    if unescape(found.group(1)) != run_id:
        raise ReportError(
            f"{out}: holds the report of the run {unescape(found.group(1))!r}, not of "
            f"{run_id!r}; it was left untouched. Give this run's report another name, e.g. "
            f"out=OUT_DIR / 'report-{Path(run_id).name}.html' (--out).")


def write_report(
    run: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    metrics: str | os.PathLike | None = None,
    figures=None,
    uncertainty: str | os.PathLike | None = None,
    split=None,
    title: str | None = None,
    hashes: bool = True,
    pdf: bool = False,
    overwrite: bool = True,
    command: str | None = None,
) -> Path:
    """Write the quality-control report of a run as one self-contained HTML file.

    Parameters
    ----------
    run : path-like
        The run folder (what :func:`im2im_helpers.train.fit` wrote: ``config.yaml``, logs,
        checkpoints).
    out : path-like, optional
        The HTML file; by default :func:`default_output` (``report.html`` beside the run).
    metrics : path-like, optional
        ``metrics.json`` (:func:`im2im_helpers.metrics.write_json`); by default beside the run.
    figures : path-like or list of path-like, optional
        A folder of PNG files, or the files; by default ``figures/`` beside the run.
    uncertainty : path-like, optional
        The uncertainty summary (JSON); by default ``uncertainty.json`` beside the run.
    split : Split or path-like, optional
        The :class:`~im2im_helpers.data.Split` the run trained on (its pairs in memory are
        hashed), or a split file; by default the split file the run's configuration names (else
        ``split.json`` beside the run), its pairs read again from the configuration when they
        are on this machine (nothing is downloaded).
    title : str, optional
        The report's title.
    hashes : bool
        Hash the content of every image pair of the split (``False``: names only, no data read).
    pdf : bool
        Also write the same report as a PDF beside the HTML file (same name, ``.pdf``).
    overwrite : bool
        Replace an earlier report of the same run; a report of another run, or any other file,
        is never replaced.
    command : str, optional
        How the report was asked for, recorded in its provenance.

    Returns
    -------
    pathlib.Path
        The HTML file.

    Raises
    ------
    FileNotFoundError
        If ``run`` does not exist.
    ReportError
        If ``run`` is not a run folder, or ``out`` is another run's report.
    FileExistsError
        If ``out`` exists and may not be replaced.
    """
    import im2im_helpers

    run = check_run(run)
    out = Path(out) if out is not None else default_output(run)
    run_id = _run_id(run, out)
    _check_replace(out, run_id, overwrite)
    src = gather(run, metrics=metrics, figures=figures, uncertainty=uncertainty, split=split,
                 hashes=hashes)
    record = src.metrics.record or {}
    tutorial = record.get("tutorial") or run.parent.name
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = Document(
        title=title or f"Quality-control report: {tutorial} — {run.name}",
        subtitle=f"Run {run.resolve()} · written {when} · im2im_helpers "
                 f"{im2im_helpers.__version__}",
        sections=sections.build(src, command or f"write_report({str(run)!r}) in Python"),
        meta={"generator": f"im2im_helpers {im2im_helpers.__version__}", RUN_META: run_id})
    if pdf:
        from im2im_helpers.report import pdf as pdf_renderer

        target = out.with_suffix(".pdf")
        io.write_bytes(target, lambda f: f.write(pdf_renderer.render(doc)))
    return io.write_text(out, html.render(doc))
