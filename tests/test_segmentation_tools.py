"""Semantic-segmentation helpers: instance -> foreground / 3-class targets, image halves, the
tuned Otsu baseline, overlays coloured by agreement and by instance, the threshold explorer,
and the embedding task's clustering tuned on validation images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from im2im_helpers import data, overlays, samples, tasks
from im2im_helpers.baselines import fit_otsu, otsu_mask
from im2im_helpers.metrics import dice
from im2im_helpers.pairs import Pair, Pairs


def _blobs(seed: int, dark: bool = False, shape=(64, 64)):
    """An image of bright (or dark) discs on a noisy background, and their label image."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    yy, xx = np.indices(shape)
    for k in range(1, 6):
        cy, cx = rng.integers(8, shape[0] - 8, 2)
        labels[np.hypot(yy - cy, xx - cx) <= 5] = k
    signal = (labels > 0).astype(np.float32)
    image = (1 - signal if dark else signal) + rng.normal(0, 0.3, shape).astype(np.float32)
    return image[None], labels[None].astype(np.float32)


def _pairs(n: int, dark: bool = False) -> Pairs:
    return Pairs([Pair(f"img{i}", *_blobs(i, dark)) for i in range(n)],
                 {"source": {"sample": "blobs"}}, simulated=True)


def test_foreground_and_three_class_targets_from_labels():
    pairs = _pairs(2)
    fg = data.foreground(pairs)
    np.testing.assert_array_equal(fg[0].target, pairs[0].target > 0)
    assert fg.simulated and fg.config["targets"] == {"kind": "foreground"}
    three = data.three_class(pairs)
    assert set(np.unique(three[0].target)) == {0, 1, 2}
    np.testing.assert_array_equal(three[0].target > 0, pairs[0].target > 0)
    assert pairs[0].target.max() == 5  # the source pairs are unchanged


def test_halves_cut_inputs_and_labels_along_x():
    whole = _pairs(1)
    parts = data.halves(whole)
    assert parts.names == ["img0-left", "img0-right"]
    np.testing.assert_array_equal(np.concatenate([p.target for p in parts], axis=-1),
                                  whole[0].target)
    assert parts[1].origin["half"] == "right" and parts[0].input.flags["C_CONTIGUOUS"]


def test_nuclei_sample_has_labels_from_two_microscopes():
    pairs = samples.nuclei_instances_2d()
    assert pairs.names[:2] == ["ndev-t00", "ndev-t01"] and pairs.names[-2:] == [
        "stardist-left", "stardist-right"]
    assert not pairs.simulated
    left, right = pairs[-2], pairs[-1]
    assert left.input.shape == right.input.shape == (1, 512, 256)
    assert 55 <= len(np.unique(pairs[0].target)) - 1 <= 90  # 59-83 nuclei per ndev frame
    assert float(pairs[0].target.max()) == int(pairs[0].target.max())  # integer labels


def test_otsu_baseline_learns_the_polarity_from_training_images():
    bright, dark = _pairs(3), _pairs(3, dark=True)
    fitted = fit_otsu([p.input for p in dark], [p.target > 0 for p in dark])
    assert fitted["value"][1] is True  # dark objects
    test_image, test_labels = _blobs(10, dark=True)
    assert dice(fitted["apply"](test_image), test_labels > 0) > 0.8
    assert dice(otsu_mask(test_image, 1.0), test_labels > 0) < 0.3  # wrong polarity
    fitted_bright = fit_otsu([p.input for p in bright], [p.target > 0 for p in bright])
    assert fitted_bright["value"][1] is False
    assert otsu_mask(np.zeros((1, 8, 8))).sum() == 0  # a flat image has no objects


def test_rgb_input_is_averaged_over_channels():
    image, labels = _blobs(1)
    rgb = np.concatenate([image, image, image])
    np.testing.assert_array_equal(otsu_mask(rgb, 1.0), otsu_mask(image, 1.0))


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


class _PerfectEmbedding(torch.nn.Module):
    """Outputs the raw values of a perfect embedding of a fixed label image (see
    :func:`test_embedding.perfect_raw`), with the seediness of one object lowered to 0.6."""

    def __init__(self, raw: np.ndarray):
        super().__init__()
        self.raw = torch.nn.Parameter(torch.as_tensor(raw)[None], requires_grad=False)

    def forward(self, x):
        return self.raw.expand(x.shape[0], -1, -1, -1).clone()


def test_clustering_thresholds_are_tuned_on_validation_images():
    from test_embedding import perfect_raw

    labels = np.zeros((32, 32), np.int32)
    labels[4:12, 4:14], labels[18:28, 6:16], labels[16:30, 20:28] = 1, 2, 3
    raw = perfect_raw(labels)[0].numpy()
    raw[-1][labels == 3] = np.log(0.6 / 0.4)  # object 3: seediness 0.6 only
    task = tasks.InstanceEmbedding(_PerfectEmbedding(raw))
    image = np.zeros((1, 32, 32), np.float32)
    assert len(np.unique(task.segment(image))) - 1 == 2  # the default threshold 0.9 misses it
    tuned = task.tune_clustering([image], [labels], seed_thresholds=(0.9, 0.5),
                                 fg_thresholds=(0.5,), min_sizes=(10, 200))
    assert tuned["value"] == (0.5, 0.5, 10) and tuned["scores"][(0.9, 0.5, 10)] < 1.0
    assert tuned["scores"][(0.5, 0.5, 200)] == 0  # every object is smaller than 200 pixels
    assert task.seed_threshold == 0.5
    assert len(np.unique(task.segment(image))) - 1 == 3  # kept for later calls


class _GradientEmbedding(torch.nn.Module):
    """Offsets = the image's gradient along each axis (antisymmetric: they change sign when
    the image is flipped along that axis), bandwidth 0, seediness = the image: a network that
    is exactly equivariant to flips."""

    def forward(self, x):
        grads = torch.gradient(x[:, 0], dim=tuple(range(1, x.ndim - 1)))
        dims = x.ndim - 2
        return torch.cat([torch.stack(grads, 1), torch.zeros_like(x).expand(-1, dims, *x.shape[2:]),
                          x], 1)


@pytest.mark.parametrize("shape", [(32, 32), (8, 16, 16)])
def test_embedding_tta_turns_offsets_back_with_the_flips(shape):
    rng = np.random.default_rng(0)
    image = ndi.gaussian_filter(rng.random(shape), 2)[None].astype(np.float32) * 10
    task = tasks.InstanceEmbedding(_GradientEmbedding())
    plain, averaged = task.embed(image), task.embed(image, tta=True)
    dims = len(shape)
    assert np.abs(plain[:dims]).mean() > 0.05  # offsets that a wrong sign would cancel
    np.testing.assert_allclose(averaged, plain, atol=1e-5)
