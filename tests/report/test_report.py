"""The quality-control report: one self-contained HTML file with every section (each checked
for its real content), explanations instead of crashes for missing inputs, clear errors."""

from __future__ import annotations

import argparse
import base64
import importlib.metadata
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import im2im_helpers
from im2im_helpers import metrics
from im2im_helpers.__main__ import main
from im2im_helpers.report import SECTIONS, ReportError, cli, default_output, write_report
from im2im_helpers.report.images import digest

HASH = re.compile(r"\b[0-9a-f]{64}\b")
PNG = b"\x89PNG\r\n\x1a\n"


class Report(HTMLParser):
    """The parts of a report page the tests look at, per section."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, dict] = {}
        self.current: dict | None = None
        self.stack: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.stack.append(tag)
        for name in ("href", "src"):
            if name in attrs:
                self.links.append(attrs[name])
        if tag == "section":
            self.current = self.sections.setdefault(attrs["id"], {
                "h2": "", "text": "", "imgs": [], "rows": [], "pre": "", "captions": []})
        elif self.current is not None and tag == "img":
            self.current["imgs"].append(attrs["src"])
        elif self.current is not None and tag == "tr":
            self.current["rows"].append({"class": attrs.get("class", ""), "cells": []})

    def handle_endtag(self, tag):
        if self.current is not None and tag in ("td", "th", "p", "li", "caption", "pre"):
            self.current["text"] += "\n"  # cells and paragraphs apart, as on the page
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        if tag == "section":
            self.current = None

    def handle_data(self, data):
        if self.current is None:
            return
        self.current["text"] += data
        where = self.stack[-1] if self.stack else ""
        if where == "h2":
            self.current["h2"] += data
        elif where == "pre":
            self.current["pre"] += data
        elif where == "figcaption":
            self.current["captions"].append(data)
        elif where in ("td", "th") and self.current["rows"]:
            self.current["rows"][-1]["cells"].append(data)


def read(path: Path) -> Report:
    return Report(path.read_text(encoding="utf-8"))


def pictures(section: dict) -> list[bytes]:
    prefix = "data:image/png;base64,"
    assert all(src.startswith(prefix) for src in section["imgs"]), section["imgs"]
    return [base64.b64decode(src[len(prefix):]) for src in section["imgs"]]


def copy_run(tutorial, tmp_path: Path) -> Path:
    """The tutorial's run folder alone, in a new output folder."""
    return Path(shutil.copytree(tutorial.run, tmp_path / "out" / "run"))


def test_the_report_holds_every_section_with_its_content(tutorial, tmp_path):
    out = write_report(tutorial.run, tmp_path / "report.html")
    page = read(out)
    assert list(page.sections) == [key for key, _ in SECTIONS]
    for key, title in SECTIONS:
        assert page.sections[key]["h2"] == title
    s = page.sections
    # self-contained: only in-page links, pictures inline, no script or external style
    assert all(link.startswith(("#", "data:image/png;base64,")) for link in page.links)
    assert not {"script", "link", "iframe"} & page.tags

    assert "unet beats ridge on pearson" in s["summary"]["text"]
    domain = s["intended-use"]["text"]
    assert "Must not be used for" in domain and "report-pairs" in domain
    assert "Y 0.65 µm, X 0.65 µm" in domain and "48 × 64" in domain
    assert "percentile 1.0" in domain and "simulated" in domain and "smoke-level" in domain

    rows = {r["cells"][0]: r for r in s["metrics"]["rows"] if r["cells"]}
    assert rows["★ unet"]["class"] == "headline" and rows["◆ ridge"]["class"] == "baseline"
    assert rows["★ unet"]["cells"][1:] == ["0.8765", "0.1"]
    assert rows["◆ ridge"]["cells"][1] == "0.6123"

    losses = pictures(s["loss-curves"])
    assert losses and all(p.startswith(PNG) for p in losses)
    assert "train_loss_epoch" in s["loss-curves"]["text"]
    figures = pictures(s["figures"])
    assert figures == [(tutorial.out / "figures" / n).read_bytes()
                       for n in ("comparison.png", "loss.png")]
    assert s["figures"]["captions"] == ["comparison.png", "loss.png"]

    assert pictures(s["uncertainty"])[0].startswith(PNG)  # the sparsification curve
    cells = {r["cells"][0]: r["cells"][1:] for r in s["uncertainty"]["rows"] if r["cells"]}
    assert cells["method"] == ["tta"] and cells["patch"] == ["16 × 16 pixels"]
    assert cells["Spearman ρ of uncertainty and error (over patches, n = 12)"] == [
        "0.8 (p = 0.2)"]
    assert cells["objects: AUROC of the uncertainty for wrongly found objects"] == [
        "0.71 (n = 12, 9 matched)"]
    assert cells["img1"] == ["0.11", "0.25"] and cells["AUSE relative to random"] == ["—"]

    split = json.loads((tutorial.out / "split.json").read_text())["names"]
    hashes = {r["cells"][1]: r["cells"][-1] for r in s["split"]["rows"][1:]}
    assert sorted(hashes) == sorted(n for part in split.values() for n in part)
    # read again from config.yaml, the pairs hash as those the tutorial trained on
    in_memory = {p.name: digest(p) for part in ("train", "val", "test")
                 for p in getattr(tutorial.split, part)}
    assert hashes == in_memory and all(HASH.fullmatch(h) for h in hashes.values())

    assert s["configuration"]["pre"] == (tutorial.run / "config.yaml").read_text()

    versions = dict(r["cells"] for r in s["environment"]["rows"] if len(r["cells"]) == 2)
    for package in ("torch", "numpy", "lightning", "monai", "bioio"):
        assert versions[package] == importlib.metadata.version(package)
    assert "python" in versions

    head = subprocess.run(["git", "-C", str(Path(im2im_helpers.__file__).parent), "rev-parse",
                           "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert head.stdout.strip() in s["git"]["text"]
    else:
        assert "not a git checkout" in s["git"]["text"]

    assert f"im2im_helpers {im2im_helpers.__version__}" in s["provenance"]["text"]
    assert len(HASH.findall(s["provenance"]["text"])) >= 5  # config, weights, 3 JSON, figures


def test_missing_inputs_are_explained_in_their_sections(tutorial, tmp_path):
    run = copy_run(tutorial, tmp_path)
    out = write_report(run, hashes=False)
    assert out == default_output(run) == tmp_path / "out" / "report.html"
    s = read(out).sections
    assert list(s) == [key for key, _ in SECTIONS]
    assert "No metrics for this run" in s["metrics"]["text"]
    assert "metrics.write_json" in s["metrics"]["text"]
    assert "No metrics for this run" in s["summary"]["text"]
    assert "No uncertainty summary for this run" in s["uncertainty"]["text"]
    assert "write_summary" in s["uncertainty"]["text"]
    assert "No example figures" in s["figures"]["text"] and not s["figures"]["imgs"]
    assert s["loss-curves"]["imgs"]  # the run's own log is still there


def test_unreachable_images_are_said_to_be_so_not_hashed(tutorial, tmp_path):
    run = copy_run(tutorial, tmp_path)
    config = run / "config.yaml"
    source = str(tutorial.out / "pairs")
    config.write_text(config.read_text().replace(source, str(tmp_path / "moved")))
    s = read(write_report(run)).sections
    assert "Content hashes: not available" in s["split"]["text"]
    assert "not reachable" in s["split"]["text"]
    assert not HASH.search(s["split"]["text"])
    for name in tutorial.split.test.names + tutorial.split.train.names:
        assert name in s["split"]["text"]  # the names are still listed, from split.json
    # the tutorial's split in memory still gives the hashes
    s = read(write_report(run, split=tutorial.split)).sections
    assert "the pairs in memory" in s["split"]["text"]
    hashes = {r["cells"][1]: r["cells"][-1] for r in s["split"]["rows"][1:]}
    assert hashes == {p.name: digest(p) for p in tutorial.split.train + tutorial.split.val
                      + tutorial.split.test}


def test_an_older_configuration_still_gives_a_report(tutorial, tmp_path):
    run = copy_run(tutorial, tmp_path)
    header = (run / "config.yaml").read_text().splitlines()[0]
    old = f"{header}\ndata:\n  source: somewhere\n  patch: [128, 128]\nmodel: {{name: unet}}\n"
    (run / "config.yaml").write_text(old)
    s = read(write_report(run, split=tutorial.out / "split.json")).sections
    assert s["configuration"]["pre"] == old
    assert "not a configuration this version reads" in s["split"]["text"]
    assert "128 × 128" in s["intended-use"]["text"]


def test_text_from_the_files_is_escaped(tutorial, tmp_path):
    run = copy_run(tutorial, tmp_path)
    table = {"<script>alert(1)</script>": {"psnr": 1.0}, "ridge & co": {"psnr": 0.5}}
    metrics.write_json(tmp_path / "out" / "metrics.json", "t", "<b>data</b>", table, False,
                       "default", metrics.Headline("psnr", "<script>alert(1)</script>",
                                                   "ridge & co"))
    figure = tutorial.out / "figures" / "loss.png"
    text = write_report(run, hashes=False, figures=[figure]).read_text()
    assert "<script>" not in text and "<b>data" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "ridge &amp; co" in text
    page = read(tmp_path / "out" / "report.html")
    assert pictures(page.sections["figures"]) == [figure.read_bytes()]
    rows = page.sections["metrics"]["rows"]
    assert [r["class"] for r in rows if r["cells"][:1] == ["★ <script>alert(1)</script>"]] == [
        "headline"]


def test_a_folder_that_is_not_a_run_is_a_clear_error(tutorial, tmp_path):
    with pytest.raises(ReportError, match=r"out: not a run folder .*config\.yaml.*OUT_DIR/run"):
        write_report(tutorial.out, tmp_path / "r.html")
    with pytest.raises(FileNotFoundError, match=r"nowhere: no such folder"):
        write_report(tmp_path / "nowhere")
    assert not (tmp_path / "r.html").exists()


def test_only_this_runs_own_report_is_replaced(tutorial, tmp_path):
    run = copy_run(tutorial, tmp_path)
    out = write_report(run, hashes=False)
    write_report(run, hashes=False)  # the same run: replaced
    other = Path(shutil.copytree(run, tmp_path / "out" / "other"))
    with pytest.raises(ReportError, match=r"report\.html: holds the report of the run 'run'"):
        write_report(other)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_report(run, overwrite=False)
    foreign = tmp_path / "notes.html"
    foreign.write_text("<p>mine</p>")
    with pytest.raises(FileExistsError, match="not a report written by im2im_helpers"):
        write_report(run, foreign)
    assert foreign.read_text() == "<p>mine</p>" and out.is_file()


def test_the_command_writes_the_report_and_the_pdf(tutorial, tmp_path, capsys):
    out = tmp_path / "qc.html"
    assert main(["report", str(tutorial.run), "--out", str(out), "--no-hashes", "--pdf"]) == 0
    assert capsys.readouterr().out.split() == [str(out), str(out.with_suffix(".pdf"))]
    s = read(out).sections
    assert "python -m im2im_helpers report" in s["provenance"]["text"]
    assert "--no-hashes" in s["provenance"]["text"]
    assert "hashes=False" in s["split"]["text"] and not HASH.search(s["split"]["text"])
    pdf = out.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(
        b"/Type /Page ") + pdf.count(b"/Type /Page>") >= 3


def test_the_command_names_a_folder_that_is_not_a_run(tutorial, capsys):
    assert main(["report", str(tutorial.out)]) == 2
    assert f"error: {tutorial.out}: not a run folder" in capsys.readouterr().err


def test_the_command_module_works_with_the_arguments_every_version_has(tutorial, tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--out")
    args = parser.parse_args([str(tutorial.run), "--out", str(tmp_path / "r.html")])
    assert cli.run(args) == 0 and (tmp_path / "r.html").is_file()
