"""Segmentation overlays: masks coloured by agreement with the truth, instance outlines with a
colour per object, and the threshold explorer (:mod:`im2im_helpers.viz.overlays`)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

from im2im_helpers.viz import overlays  # noqa: E402


def test_agreement_colours_correct_extra_and_missed_pixels():
    image = np.zeros((1, 4, 4), np.float32)
    truth, mask = np.zeros((4, 4)), np.zeros((4, 4))
    truth[0, :2] = 1  # (0,0) found, (0,1) missed
    mask[0, 0] = mask[3, 3] = 1  # (3,3) extra
    rgb = overlays.agreement(image, mask, truth, alpha=1.0)
    assert tuple(rgb[0, 0]) == pytest.approx(overlays.AGREEMENT_COLOURS["correct"])
    assert tuple(rgb[0, 1]) == pytest.approx(overlays.AGREEMENT_COLOURS["missed"])
    assert tuple(rgb[3, 3]) == pytest.approx(overlays.AGREEMENT_COLOURS["extra"])
    assert tuple(rgb[2, 2]) == (0, 0, 0)


def test_outlines_give_touching_objects_their_own_colours(tmp_path):
    labels = np.zeros((20, 20), np.int32)
    labels[2:10, 2:10], labels[2:10, 10:18] = 1, 2
    rgb = overlays.label_outlines(np.zeros((1, 20, 20)), labels)
    assert not np.allclose(rgb[5, 9], rgb[5, 10])  # two sides of the contact, two colours
    assert np.allclose(rgb[5, 5], 0)  # inside an object: the image itself
    fig = overlays.instances(np.zeros((1, 20, 20)), {"truth": labels}, path=tmp_path / "o.png")
    assert fig.axes[0].get_title() == "truth (2 objects)" and (tmp_path / "o.png").stat().st_size
    with pytest.raises(ValueError, match="differ in shape"):
        overlays.label_outlines(np.zeros((1, 20, 20)), labels[:10])


def test_threshold_explorer_draws_a_static_figure_and_a_slider(tmp_path):
    truth = np.zeros((32, 32))
    truth[8:24, 8:24] = 1
    probability = ndi.gaussian_filter(truth, 3)[None]
    widget = overlays.threshold_explorer(np.zeros((1, 32, 32)), probability, truth,
                                         path=tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 0
    slider, picture = widget.children
    before = picture.value
    slider.value = slider.options[-1]
    assert picture.value != before  # the slider redrew the mask
    curve = overlays.dice_by_threshold([probability[0]], [truth], (0.1, 0.5, 0.95))
    assert curve[1] > 0.9 and curve[2] < curve[1]
