"""Build the Jupyter Book (< 2) of the tutorials from the executed notebooks, and check it.

``book/`` holds the pages and table of contents; the data page is generated from the registry and
the tutorial chapters are the notebooks as papermill executed them (``make tutorials``), so the
book is built with execution off and shows exactly what ran.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

SOURCE = Path(__file__).resolve().parents[2] / "book"
ERROR_MARKS = ("Traceback (most recent call last)", "output traceback", "output error")
#: Text a reader should never meet on a page: Lightning's banners and summary tables, library
#: warnings, bioio's reader-fallback messages.
NOISE_MARKS = ("GPU available:", "TPU available", "Tip: For seamless", "litlogger", "litmodels",
               "LOCAL_RANK:", "Trainable params", "DeprecationWarning", "FutureWarning",
               "UserWarning", "PossibleUserWarning", "Attempted file", "Failed to parse XML")
RESULTS = Path(__file__).resolve().parents[2] / "results"
#: The words before the link to a tutorial's quality-control report (``report.html``).
REPORT_LINK = "Quality-control report"


def data_page() -> str:
    """The book's data chapter (Markdown), generated from the registry and the sample sets."""
    from im2im_helpers.data import registry, samples

    lines = ["# Data", "", "## Offline samples (no download)", "",
             "| name | what |", "|---|---|"]
    for name, loader in samples.SAMPLES.items():
        lines.append(f"| `{name}` | {(loader.__doc__ or '').strip().splitlines()[0]} |")
    lines += ["", "## The paper's datasets (`data_registry/`)", "",
              "Fetched on first use with a published checksum, organised once into pairs, split "
              "with the paper's policy (seeded, written to disk).", "",
              "| name | task | paper | size | licence | split |", "|---|---|---|---|---|---|"]
    sizes = {row[0]: row[2] for row in registry.table()}
    for name, entry in registry.entries().items():
        lines.append(f"| `{name}` | {entry.task} | {entry.paper_section} | {sizes[name]} | "
                     f"{entry.licence} | {entry.split.policy} |")
    lines += ["", "`python -m im2im_helpers data info NAME` prints everything about a dataset: "
              "URLs, hashes, raw layout and citation.", ""]
    return "\n".join(lines)


def toc_files(source: Path = SOURCE) -> list[str]:
    """The files of the table of contents (without suffix), root first."""
    toc = yaml.safe_load((source / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


def check(html: Path, source: Path = SOURCE) -> list[str]:
    """Problems of a built book: a missing chapter page, a tutorial page without an image, a
    page with an error output or a traceback."""
    found = []
    for name in toc_files(source):
        page = html / f"{name}.html"
        if not page.is_file():
            found.append(f"{page}: missing (in _toc.yml as {name!r})")
            continue
        text = page.read_text(errors="replace")
        if name.startswith("tutorials/") and "<img" not in text:
            found.append(f"{page}: a tutorial page without any image")
        marks = [m for m in ERROR_MARKS + NOISE_MARKS if m in text]
        if marks:
            found.append(f"{page}: contains {marks}")
        if name.startswith("tutorials/") and "Produced at the <strong>" not in text:
            found.append(f"{page}: does not say at which level it was produced")
        if name.startswith("tutorials/") and REPORT_LINK in text:
            links = re.findall(r'href="([^"#]*_report\.html)"', text)
            if not links or not all((page.parent / link).is_file() for link in links):
                found.append(f"{page}: names its quality-control report without a working link")
    return found


def level_banner(level: str, name: str, record: dict | None, results: Path = RESULTS,
                 report: str | None = None) -> str:
    """Markdown that opens a tutorial's page: the ``level`` its run used and, next to the
    headline numbers of its ``metrics.json`` (``record``), those of the recorded full run
    (``results/full/NAME.json``); with ``report`` (a file beside the page), a download link to
    the run's quality-control report."""
    from im2im_helpers.metrics import headline

    lines = [f"```{{note}}\nProduced at the **{level}** level "
             f"(`python -m im2im_helpers.dev.tutorials --level {level}`)."]
    recorded = results / "full" / f"{name}.json"
    if record is not None and recorded.is_file():
        full = json.loads(recorded.read_text())
        lines += ["", "| method | metric | this page | recorded full run |", "|---|---|---|---|"]
        for here, there in zip(headline.compare(record), headline.compare(full)):
            lines += [f"| {m} | {here.metric} | {a:.3f} | {b:.3f} |" for m, a, b in
                      ((here.method, here.value, there.value),
                       (here.reference, here.reference_value, there.reference_value))]
        lines.append(f"\nThe full run: `results/full/{name}.json` "
                     f"(commit {full.get('run', {}).get('commit', '?')}).")
    if report is not None:
        lines.append(f"\n{REPORT_LINK} of this page's main network: "
                     f"{{download}}`{report} <{report}>`.")
    return "\n".join(lines) + "\n```"


def with_banner(notebook: Path, name: str, report: str | None = None) -> str:
    """The executed ``notebook`` as JSON text, with :func:`level_banner` after its title cell
    (the level from papermill's parameters, the numbers from the ``metrics.json`` beside it,
    the link to ``report``)."""
    content = json.loads(notebook.read_text())
    parameters = content.get("metadata", {}).get("papermill", {}).get("parameters", {})
    metrics_file = notebook.parent / "metrics.json"
    record = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
    banner = level_banner(parameters.get("LEVEL", "default"), name, record, report=report)
    content["cells"].insert(1, {"cell_type": "markdown", "metadata": {}, "source": banner})
    return json.dumps(content)


def build(executed: Path, out: Path) -> Path:
    """Build the book into ``out`` from notebooks executed into ``executed/NAME/NAME.ipynb``;
    return the path of its index page. Raises ``RuntimeError`` listing what :func:`check` found.
    """
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(SOURCE, src)
    (src / "data.md").write_text(data_page())
    chapters = [n for n in toc_files(src) if n.startswith("tutorials/")]
    (src / "tutorials").mkdir()
    for name in chapters:
        notebook = executed / Path(name).name / f"{Path(name).name}.ipynb"
        if not notebook.is_file():
            raise FileNotFoundError(f"{notebook}: not executed yet; run `make tutorials` first.")
        report = None
        if (notebook.parent / "report.html").is_file():  # written by the tutorial (report/)
            report = f"{Path(name).name}_report.html"
            shutil.copyfile(notebook.parent / "report.html", src / "tutorials" / report)
        (src / f"{name}.ipynb").write_text(with_banner(notebook, Path(name).name, report))
    command = Path(sys.executable).parent / "jupyter-book"  # the one of this environment
    done = subprocess.run([str(command), "build", str(src), "--path-output", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        log = done.stdout[-3000:] + done.stderr[-3000:]
        raise RuntimeError(f"jupyter-book build failed:\n{log}")
    html = out / "_build" / "html"
    problems = check(html, src)
    if problems:
        raise RuntimeError("The built book has problems:\n  " + "\n  ".join(problems))
    return html / "index.html"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m im2im_helpers.dev.book --executed build/tutorials --out build/book``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executed", default="build/tutorials")
    parser.add_argument("--out", default="build/book")
    args = parser.parse_args(argv)
    index = build(Path(args.executed), Path(args.out))
    print(f"book: {index.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
