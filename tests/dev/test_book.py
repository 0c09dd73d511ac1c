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
