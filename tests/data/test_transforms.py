"""Targets and inputs made from other pairs: foreground and 3-class targets from instance
labels, masks as inputs, synthetic images, and recorded transforms redone from a config
(:mod:`im2im_helpers.data.transforms`)."""

import numpy as np
import pytest
from skimage.measure import label

from im2im_helpers import data
from im2im_helpers.data import transforms
from tests.helpers import blob_pairs


def test_recorded_transforms_are_redone_from_a_config():
    pairs = data.load("nuclei-instances-2d", normalize_target=False)
    made = data.three_class(data.halves(pairs.subset(["ndev-t00"])), boundary_width=2)
    assert made.config["transforms"] == [{"kind": "halves"},
                                         {"kind": "three_class", "boundary_width": 2}]
    again = data.apply_transforms(pairs.subset(["ndev-t00"]), made.config["transforms"])
    assert again.names == made.names
    np.testing.assert_array_equal(again[1].target, made[1].target)
    with pytest.raises(ValueError, match="unknown transform.*known kinds"):
        data.apply_transforms(pairs, [{"kind": "blur"}])


def test_synthetic_images_replace_the_inputs_and_are_marked():
    masks = data.masks_to_images(data.load("ndev-nuclei", normalize_target=False).subset(["t00"]))
    synthetic = data.synthetic_images(masks, lambda m: 0.5 + m, {"generator": "offset"})
    assert synthetic.simulated
    assert synthetic.config["source"]["simulated"] == {"kind": "synthetic_images",
                                                       "generator": "offset"}
    np.testing.assert_array_equal(synthetic[0].target, masks[0].input)  # the mask is the target
    np.testing.assert_array_equal(synthetic[0].input, 0.5 + masks[0].input)


def test_foreground_and_three_class_targets_from_labels():
    pairs = blob_pairs(2)
    fg = data.foreground(pairs)
    np.testing.assert_array_equal(fg[0].target, pairs[0].target > 0)
    assert fg.simulated and fg.config["targets"] == {"kind": "foreground"}
    three = data.three_class(pairs)
    assert set(np.unique(three[0].target)) == {0, 1, 2}
    np.testing.assert_array_equal(three[0].target > 0, pairs[0].target > 0)
    assert pairs[0].target.max() == 5  # the source pairs are unchanged


def test_masks_to_images_make_the_labels_binary_inputs():
    pairs = data.load("ndev-nuclei", normalize_target=False)
    synth = data.masks_to_images(pairs)
    assert not synth.simulated and set(np.unique(synth[0].input)) == {0.0, 1.0}
    np.testing.assert_array_equal(synth[0].target, pairs[0].input)
    assert synth.config["transforms"] == [{"kind": "masks_to_images"}]


def test_three_class_targets_of_a_square():
    labels = np.zeros((12, 12), np.int32)
    labels[2:7, 2:7] = 5
    t = transforms.three_class_targets(labels)
    assert t.dtype == np.uint8 and t.shape == labels.shape
    assert (t == 2).sum() == 16 and (t == 1).sum() == 9  # 5x5: ring of 16, 3x3 inside
    assert (t[labels == 0] == 0).all() and (t[labels > 0] > 0).all()
    assert (t[3:6, 3:6] == 1).all()
    wide = transforms.three_class_targets(labels, boundary_width=2)
    assert (wide == 2).sum() == 24 and (wide == 1).sum() == 1
    cube = np.zeros((7, 7, 7), np.int32)
    cube[1:6, 1:6, 1:6] = 1
    t3 = transforms.three_class_targets(cube)
    assert (t3 == 2).sum() == 125 - 27 and (t3 == 1).sum() == 27
    with_channel = transforms.three_class_targets(labels[None].astype(np.float32))
    assert with_channel.shape == (1, 12, 12)
    np.testing.assert_array_equal(with_channel[0], t)


def test_three_class_targets_separate_touching_objects():
    labels = np.zeros((10, 12), np.int32)
    labels[2:8, 2:6] = 1
    labels[2:8, 6:10] = 2  # touches object 1 along a whole side
    t = transforms.three_class_targets(labels)
    assert (t[2:8, 5:7] == 2).all()  # both sides of the contact are boundary
    assert label(t == 1, connectivity=1).max() == 2  # two separate interiors
    assert label(t > 0).max() == 1  # while the foreground is one blob
