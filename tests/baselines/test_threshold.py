"""Otsu's threshold as the semantic-segmentation baseline: the polarity learned from training
images, colour images averaged (:mod:`im2im_helpers.baselines.threshold`)."""

import numpy as np

from im2im_helpers.baselines import fit_otsu, otsu_mask
from im2im_helpers.metrics import dice
from tests.helpers import blob_pairs, labelled_blobs


def test_otsu_baseline_learns_the_polarity_from_training_images():
    bright, dark = blob_pairs(3), blob_pairs(3, dark=True)
    fitted = fit_otsu([p.input for p in dark], [p.target > 0 for p in dark])
    assert fitted.chosen["dark_objects"] is True
    test_image, test_labels = labelled_blobs(10, dark=True)
    assert dice(fitted(test_image), test_labels > 0) > 0.8
    assert dice(otsu_mask(test_image, 1.0), test_labels > 0) < 0.3  # wrong polarity
    fitted_bright = fit_otsu([p.input for p in bright], [p.target > 0 for p in bright])
    assert fitted_bright.chosen["dark_objects"] is False
    assert otsu_mask(np.zeros((1, 8, 8))).sum() == 0  # a flat image has no objects


def test_rgb_input_is_averaged_over_channels():
    image, labels = labelled_blobs(1)
    rgb = np.concatenate([image, image, image])
    np.testing.assert_array_equal(otsu_mask(rgb, 1.0), otsu_mask(image, 1.0))
