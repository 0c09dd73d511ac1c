"""The book's generated data page and its checks (the build itself runs in `make book`)."""

from im2im_helpers.data import registry
from im2im_helpers.dev import book


def test_data_page_lists_every_dataset_and_sample():
    page = book.data_page()
    for name in registry.entries():
        assert f"`{name}`" in page
    assert "`ndev-labelfree`" in page and "`stardist-nuclei-3d`" in page


def test_check_finds_missing_pages_pictureless_tutorials_and_tracebacks(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - chapters:\n"
        "      - file: tutorials/a\n      - file: tutorials/b\n      - file: gone\n")
    html = tmp_path / "html"
    (html / "tutorials").mkdir(parents=True)
    (html / "intro.html").write_text("<p>hello</p>")
    (html / "tutorials" / "a.html").write_text("<img src='x.png'><pre>Traceback (most recent "
                                               "call last)</pre>")
    (html / "tutorials" / "b.html").write_text("<p>no picture</p>")
    found = "\n".join(book.check(html, src))
    assert "gone.html: missing" in found
    assert "b.html: a tutorial page without any image" in found
    assert "a.html: contains ['Traceback" in found
    assert "intro.html" not in found


def test_each_tutorial_page_opens_with_its_level_and_the_recorded_full_run(tmp_path):
    """Issue 15, item 6: the page says which level produced it and shows its headline numbers
    next to those of the recorded full run."""
    import json

    results = tmp_path / "results"
    (results / "full").mkdir(parents=True)
    head = {"metric": "pearson", "network": "unet", "baseline": "ridge"}
    (results / "full" / "01_x.json").write_text(json.dumps({
        "methods": {"ridge": {"pearson": 0.446}, "unet": {"pearson": 0.664}}, "headline": head,
        "run": {"commit": "abc1234"}}))
    mine = {"methods": {"ridge": {"pearson": 0.401}, "unet": {"pearson": 0.512}},
            "headline": head}
    banner = book.level_banner("default", "01_x", mine, results)
    assert "Produced at the **default** level" in banner
    assert "| unet | pearson | 0.512 | 0.664 |" in banner
    assert "| ridge | pearson | 0.401 | 0.446 |" in banner and "abc1234" in banner

    folder = tmp_path / "01_x"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps(mine))
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# 01"}],
                "metadata": {"papermill": {"parameters": {"LEVEL": "smoke"}}},
                "nbformat": 4, "nbformat_minor": 5}
    (folder / "01_x.ipynb").write_text(json.dumps(notebook))
    cells = json.loads(book.with_banner(folder / "01_x.ipynb", "01_x"))["cells"]
    assert cells[0]["source"] == "# 01" and "**smoke** level" in cells[1]["source"]


def one_tutorial_book(tmp_path):
    """A book source with one tutorial page ``tutorials/a`` and its built HTML folder (the
    intro page only): ``(src, html)``."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "_toc.yml").write_text("format: jb-book\nroot: intro\nparts:\n  - chapters:\n"
                                  "      - file: tutorials/a\n")
    html = tmp_path / "html"
    (html / "tutorials").mkdir(parents=True)
    (html / "intro.html").write_text("<p>hello</p>")
    return src, html


def test_check_finds_banners_warnings_and_pages_without_a_level(tmp_path):
    src, html = one_tutorial_book(tmp_path)
    (html / "tutorials" / "a.html").write_text(
        "<img src='x.png'><pre>GPU available: False, used: False</pre>"
        "<pre>Attempted file (img2d.tif) load with reader bioio_ome_tiff failed</pre>")
    found = "\n".join(book.check(html, src))
    assert "'GPU available:'" in found and "'Attempted file'" in found
    assert "a.html: does not say at which level it was produced" in found


def test_a_tutorial_page_links_its_quality_control_report_and_the_link_works(tmp_path):
    """Issue 16, item 5: every tutorial links its report; the book carries a copy of it."""
    banner = book.level_banner("default", "01_x", None, tmp_path, report="01_x_report.html")
    assert "{download}`01_x_report.html <01_x_report.html>`" in banner
    assert "report" not in book.level_banner("default", "01_x", None, tmp_path)

    src, html = one_tutorial_book(tmp_path)
    page = ("<img src='x.png'><p>Produced at the <strong>default</strong> level</p>"
            f"<p>{book.REPORT_LINK} of this page's main network: "
            "<a href=\"../_downloads/1f/a_report.html\">a_report.html</a></p>")
    (html / "tutorials" / "a.html").write_text(page)
    assert "without a working link" in "\n".join(book.check(html, src))
    (html / "_downloads" / "1f").mkdir(parents=True)
    (html / "_downloads" / "1f" / "a_report.html").write_text("<html></html>")
    assert book.check(html, src) == []
