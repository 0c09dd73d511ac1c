"""Real-browser tests: the app served by Voilà trains, predicts and exports from clicks; a stroke
drawn with the mouse on the annotation canvas reaches the versioned mask on disk."""

from __future__ import annotations

import json
import shutil

import nbformat
import numpy as np
import pytest

import im2im_helpers.app as app_package
from im2im_helpers.active.annotations import AnnotationStore
from im2im_helpers.io import read

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Seconds the app may take from the click on "train" to "done" (import, 1 epoch, prediction).
TRAIN_S = 240


def click_and_wait(page, button: str, text: str, timeout_s: float) -> str:
    """Click the app's ``button``; return the status line once it is done (holding ``text``);
    fail on an error."""
    status = page.locator(".im2im-app-status")
    before = status.inner_text()
    page.locator(f".im2im-app-{button}").click()
    page.wait_for_function(
        """([text, before]) => { const s = document.querySelector('.im2im-app-status');
                       return s && s.innerText !== before &&
                              (s.querySelector('.im2im-app-error') ||
                               (s.querySelector('.im2im-app-done') &&
                                s.innerText.includes(text))); }""",
        arg=[text, before], timeout=timeout_s * 1000)
    message = status.inner_text()
    assert page.locator(".im2im-app-status .im2im-app-error").count() == 0, message
    return message


def test_the_app_trains_predicts_and_exports_from_clicks(voila, page, tmp_path):
    notebook = tmp_path / "served" / "app.ipynb"
    notebook.parent.mkdir()
    shutil.copy(app_package.NOTEBOOK, notebook)
    out = tmp_path / "out"
    page.goto(voila(notebook))
    page.wait_for_selector(".im2im-app-train", timeout=120_000)

    page.locator(".im2im-app-train").click()  # nothing chosen yet: a clear message, nothing made
    page.wait_for_selector(".im2im-app-status .im2im-app-error")
    assert "no data selected" in page.locator(".im2im-app-status").inner_text()

    page.locator(".im2im-app-source select").select_option("ndev-labelfree")
    page.locator(".im2im-app-task select").select_option("labelfree")
    for name, value in (("epochs", "1"), ("patch", "32")):
        box = page.locator(f".im2im-app-{name} input")
        box.fill(value)
        box.press("Enter")
    out_box = page.locator(".im2im-app-out input")
    out_box.fill(str(out))
    out_box.press("Tab")
    plot = page.locator(".im2im-app-loss")
    empty_plot = plot.get_attribute("src")
    message = click_and_wait(page, "train", "run in", TRAIN_S)
    assert plot.get_attribute("src") != empty_plot  # redrawn from the training thread
    assert "pearson" in message
    assert sorted(p.name for p in (out / "run" / "checkpoints").glob("*.ckpt"))
    settings = json.loads((out / "im2im-app.json").read_text())["settings"]
    assert settings["epochs"] == 1 and settings["source"] == "ndev-labelfree"
    width = page.locator(".im2im-app-comparison").evaluate("img => img.naturalWidth")
    assert width > 100  # the held-out prediction next to its input and target is shown

    click_and_wait(page, "write", "prediction(s) written", 60)
    written = sorted((out / "predictions").glob("*_pred.ome.tiff"))
    assert written and read(written[0]).data.shape[1] == 1
    click_and_wait(page, "export", "model exported", 180)
    assert (out / "model.zip").stat().st_size > 1000


CANVAS_CELL = """\
import numpy as np
from im2im_helpers.active.annotations import AnnotationStore
from im2im_helpers.active.canvas import AnnotationCanvas, MaskEditor

image = np.zeros((1, 32, 32), np.float32)
image[0, 8:24, 8:24] = 1
editor = MaskEditor(image, crop="c0", store=AnnotationStore({store!r}))
editor.accept("initial")  # version 1: the empty mask
AnnotationCanvas(editor, scale=4, radius=1).widget
"""


def test_a_stroke_drawn_with_the_mouse_reaches_the_saved_mask(voila, page, tmp_path):
    store = tmp_path / "store"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CANVAS_CELL.format(store=str(store)))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    notebook = tmp_path / "canvas" / "canvas.ipynb"
    notebook.parent.mkdir()
    nbformat.write(nb, notebook)
    page.goto(voila(notebook))
    canvas = page.locator(".im2im-annotation-canvas")
    canvas.wait_for(timeout=120_000)
    box = canvas.bounding_box()  # the page may show the canvas larger than its pixels

    def screen(row: float, column: float) -> tuple[float, float]:
        return (box["x"] + (column + 0.5) / 32 * box["width"],
                box["y"] + (row + 0.5) / 32 * box["height"])

    page.mouse.move(*screen(16, 4))  # along image row 16, from column 4 to 27
    page.mouse.down()
    page.mouse.move(*screen(16, 27), steps=8)
    page.mouse.up()
    page.locator(".im2im-annotation button", has_text="accept").click()
    page.wait_for_function("() => document.querySelector('.im2im-annotation')"
                           ".innerText.includes('saved version 2')", timeout=30_000)

    saved = AnnotationStore(store)
    assert [v.version for v in saved.versions("c0")] == [1, 2]
    before, after = saved.read("c0", 1), saved.read("c0", 2)
    changed = np.argwhere(after != before)
    assert not before.any() and len(changed)
    assert set(np.unique(changed[:, 0])) <= {14, 15, 16, 17, 18}  # around the stroke's row
    assert changed[:, 1].min() <= 6 and changed[:, 1].max() >= 25  # along its length
    assert after[16, 5:26].all()
