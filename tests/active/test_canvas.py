"""Correcting masks: the editing logic on arrays, the ipycanvas widget, the static figure."""

import numpy as np
import pytest

from im2im_helpers.active import (
    BUTTONS,
    AnnotationCanvas,
    AnnotationStore,
    MaskEditor,
    static_figure,
    stroke_pixels,
)
from im2im_helpers.active.canvas import display_size


def two_discs(touching: bool = True) -> np.ndarray:
    """One object (label 1) made of two discs joined by a neck, or two separate objects."""
    yy, xx = np.indices((24, 40))
    left, right = np.hypot(yy - 12, xx - 11) <= 7, np.hypot(yy - 12, xx - 28) <= 7
    labels = np.zeros((24, 40), np.uint32)
    if touching:
        labels[left | right | ((abs(yy - 12) <= 1) & (xx > 11) & (xx < 28))] = 1
    else:
        labels[left], labels[right] = 1, 2
    return labels


def test_a_stroke_covers_the_disks_along_its_line():
    mask = stroke_pixels([(5, 5), (5, 15)], 2, (20, 20))
    assert mask[5, 5:16].all() and mask[3, 10] and mask[7, 10] and not mask[8, 10]
    assert stroke_pixels([(5, 5)], 0, (20, 20)).sum() == 1


def test_paint_starts_a_new_object_or_grows_the_one_under_it():
    editor = MaskEditor(np.zeros((24, 40)), two_discs(False))
    assert editor.paint([(12, 11), (20, 11)], radius=1) == 1
    assert editor.labels[20, 11] == 1
    assert editor.paint([(2, 35)], radius=1) == 3
    assert (editor.labels == 3).sum() == 5


def test_erase_clears_foreground_and_undo_restores_it():
    editor = MaskEditor(np.zeros((24, 40)), two_discs(False))
    before = editor.labels.copy()
    assert editor.erase([(12, 5), (12, 15)], radius=2) > 0
    assert not editor.labels[12, 5:16].any()
    assert editor.undo()
    np.testing.assert_array_equal(editor.labels, before)
    assert not editor.undo()


def test_split_cuts_an_object_in_two_and_keeps_the_foreground():
    editor = MaskEditor(np.zeros((24, 40)), two_discs(True))
    made = editor.split([(2, 20), (22, 20)])
    assert made == [2]
    assert set(np.unique(editor.labels)) == {0, 1, 2}
    np.testing.assert_array_equal(editor.labels > 0, two_discs(True) > 0)
    assert editor.labels[12, 11] != editor.labels[12, 28]


def test_a_line_that_separates_nothing_changes_nothing():
    editor = MaskEditor(np.zeros((24, 40)), two_discs(True))
    assert editor.split([(12, 8), (12, 14)]) == []
    np.testing.assert_array_equal(editor.labels, two_discs(True))
    assert not editor.history


def test_merge_joins_the_objects_a_stroke_touches():
    editor = MaskEditor(np.zeros((24, 40)), two_discs(False))
    assert editor.merge([(12, 11), (12, 28)]) == 1
    assert set(np.unique(editor.labels)) == {0, 1}
    assert editor.merge([(12, 11)]) == 0


def test_accept_saves_a_new_version_each_time(tmp_path):
    store = AnnotationStore(tmp_path)
    editor = MaskEditor(np.zeros((1, 24, 40)), two_discs(True), "img0-y0-x0", store, round=2)
    first = editor.accept()
    editor.split([(2, 20), (22, 20)])
    second = editor.accept()
    assert [v.version for v in editor.saved_versions] == [1, 2]
    assert (first.objects, second.objects, second.round) == (1, 2, 2)
    np.testing.assert_array_equal(store.read("img0-y0-x0"), editor.labels)
    with pytest.raises(RuntimeError, match="no annotation store"):
        MaskEditor(np.zeros((4, 4))).accept()


def test_the_widget_draws_forwards_strokes_and_saves_on_accept(tmp_path):
    store = AnnotationStore(tmp_path)
    editor = MaskEditor(np.random.default_rng(0).random((1, 24, 40)), two_discs(False),
                        "img0-y0-x0", store)
    canvas = AnnotationCanvas(editor, scale=4, radius=1)
    assert set(canvas.buttons) == set(BUTTONS)
    assert [b.description for b in canvas.buttons.values()] == list(BUTTONS)
    assert (canvas.canvas.width, canvas.canvas.height) == (160, 96)
    # paint a new object at image pixel (20, 36): canvas x = 4 * (36 + 0.5), y = 4 * (20 + 0.5)
    canvas.mouse_down(146, 82)
    canvas.mouse_move(146, 90)
    canvas.mouse_up(146, 90)
    assert canvas.labels[20, 36] == 3 and canvas.labels[22, 36] == 3
    canvas.buttons["merge"].click()
    assert canvas.tool == "merge"
    canvas.mouse_down(4 * 11.5, 4 * 12.5)
    canvas.mouse_move(4 * 28.5, 4 * 12.5)
    canvas.mouse_up(4 * 28.5, 4 * 12.5)
    assert canvas.labels[12, 11] == canvas.labels[12, 28] == 1
    canvas.buttons["undo"].click()
    assert canvas.labels[12, 28] == 2
    canvas.buttons["accept"].click()
    assert [v.version for v in canvas.saved_versions] == [1]
    assert "saved version 1" in canvas.status.value
    np.testing.assert_array_equal(store.read("img0-y0-x0"), canvas.labels)


def test_the_widget_is_shown_large_while_strokes_stay_in_image_pixels(tmp_path):
    """A 64-pixel crop is shown 448 screen pixels wide (CSS size) by default; the canvas keeps
    its own pixels (scale chosen to fill the shown size) and the mouse, which ipycanvas reports
    in canvas pixels, still lands on the image pixel under it."""
    editor = MaskEditor(np.zeros((1, 64, 32)), crop="c", store=AnnotationStore(tmp_path))
    canvas = AnnotationCanvas(editor, radius=0)
    assert canvas.scale == 7 and (canvas.canvas.width, canvas.canvas.height) == (224, 448)
    assert canvas.display_size == (448, 224)
    assert (canvas.canvas.layout.width, canvas.canvas.layout.height) == ("224px", "448px")
    canvas.mouse_down(7 * 20.5, 7 * 50.5)  # image pixel (50, 20)
    canvas.mouse_up(7 * 20.5, 7 * 50.5)
    assert np.argwhere(canvas.labels).tolist() == [[50, 20]]
    own = AnnotationCanvas(editor, scale=2, display=None)
    assert own.display_size == (128, 64) and own.canvas.layout.width == "64px"
    assert display_size((24, 40), 4, 400) == (240, 400)
    with pytest.raises(ValueError, match="display=0"):
        AnnotationCanvas(editor, display=0)


def test_the_static_figure_shows_crop_and_mask(tmp_path):
    import matplotlib.pyplot as plt

    fig = static_figure(np.random.default_rng(0).random((1, 24, 40)), two_discs(False),
                        tmp_path / "mask.png", title="crop img0")
    assert (tmp_path / "mask.png").stat().st_size > 0
    assert len(fig.axes) == 2 and "2 objects" in fig.axes[1].get_title()
    plt.close(fig)
