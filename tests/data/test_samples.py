"""The offline samples: real images and labels that line up, images without ground truth, the
restoration and stain-transfer samples, and the extra that provides them
(:mod:`im2im_helpers.data.samples`)."""

import numpy as np
import pytest

from im2im_helpers import data
from im2im_helpers.data import samples


@pytest.mark.parametrize("name,shape,labels", [
    ("ndev-nuclei", (1, 210, 576), (59, 83)),
    ("ndev-cytoplasm", (1, 210, 576), (66, 103)),
    ("stardist-nuclei-2d", (1, 512, 512), (125, 125)),
    ("stardist-nuclei-3d", (1, 31, 61, 57), (51, 51)),
])
def test_real_label_samples(name, shape, labels):
    pairs = data.load(name, normalize_target=False)
    assert not pairs.simulated
    for p in pairs:
        assert p.input.shape == p.target.shape == shape
        count = len(np.unique(p.target)) - 1
        assert labels[0] <= count <= labels[1]


def test_ndev_frames_line_up():
    nuclei = data.load("ndev-nuclei", normalize_percentiles=None)
    labelfree = data.load("ndev-labelfree", normalize_percentiles=None)
    def contrast(hoechst, labels):
        mask = labels[0] > 0
        return hoechst[0][mask].mean() / hoechst[0][~mask].mean()

    for t, other in ((0, 9), (9, 0)):
        # frame t's nuclei are bright in frame t's Hoechst image, much less so in another frame's
        same = contrast(nuclei[t].input, nuclei[t].target)
        assert same > 1.5 and contrast(nuclei[other].input, nuclei[t].target) < 1.3
        np.testing.assert_array_equal(labelfree[t].target, nuclei[t].input)
    assert not np.array_equal(nuclei[0].target, nuclei[9].target)


def test_ndev_sample_is_a_real_labelfree_time_lapse():
    pairs = data.load("ndev-labelfree", normalize_percentiles=None)
    assert pairs.names == [f"t{t:02d}" for t in range(10)]
    assert pairs[0].input.shape == (1, 210, 576)
    assert pairs[0].pixel_sizes[2] == pytest.approx(0.619)
    assert not pairs.simulated
    r = np.corrcoef(pairs[9].input.ravel(), pairs[9].target.ravel())[0, 1]
    assert abs(r) < 0.2  # transmitted light is not the nuclear stain: the task is not trivial


def test_nuclei_sample_has_labels_from_two_microscopes():
    pairs = samples.nuclei_instances_2d()
    assert pairs.names[:2] == ["ndev-t00", "ndev-t01"] and pairs.names[-2:] == [
        "stardist-left", "stardist-right"]
    assert not pairs.simulated
    left, right = pairs[-2], pairs[-1]
    assert left.input.shape == right.input.shape == (1, 512, 256)
    assert 55 <= len(np.unique(pairs[0].target)) - 1 <= 90  # 59-83 nuclei per ndev frame
    assert float(pairs[0].target.max()) == int(pairs[0].target.max())  # integer labels


def test_restoration_samples_are_clean_and_held_out_by_name():
    nuclei = samples.fluorescent_nuclei_2d()
    assert "stardist-left" in nuclei.names and "ndev-t09" in nuclei.names
    assert all(0 <= p.target.min() and p.target.max() <= 1 for p in nuclei)
    neuron = samples.neuron_sharp_2d()
    assert neuron.names == ["af568-train", "phalloidin-train", "phalloidin-val",
                            "phalloidin-test"]
    assert neuron[3].input.shape == (1, 623, 251) and not neuron.simulated


def test_ihc_regions_do_not_overlap_and_cover_the_image():
    covered = np.zeros((512, 512), int)
    for rows, cols in samples.IHC_REGIONS.values():
        covered[slice(*rows), slice(*cols)] += 1
    assert covered.max() == 1 and covered.min() == 1  # every pixel in exactly one region


def test_ihc_target_is_the_normalised_hematoxylin_channel_of_rgb2hed():
    from skimage import data as skdata
    from skimage.color import rgb2hed

    rgb = skdata.immunohistochemistry()  # the same file, read by scikit-image
    hematoxylin = rgb2hed(rgb)[..., 0]
    lo, hi = np.percentile(hematoxylin, samples.IHC_PERCENTILES)
    expected = np.clip((hematoxylin - lo) / (hi - lo), 0, 1)
    pairs = data.load("ihc-hematoxylin", normalize_percentiles=None)
    assert pairs.names == ["ihc-train", "ihc-val", "ihc-test"]
    assert pairs.simulated is False  # a real image ...
    assert pairs.config["targets"]["by"] == "skimage.color.rgb2hed"  # ... with a computed target
    for pair in pairs:
        rows, cols = (slice(*r) for r in samples.IHC_REGIONS[pair.name])
        assert pair.input.dtype == pair.target.dtype == np.float32
        assert pair.input.shape[0] == 3 and pair.target.shape[0] == 1
        np.testing.assert_allclose(pair.input, np.moveaxis(rgb[rows, cols], -1, 0) / 255.0,
                                   atol=1e-6)
        np.testing.assert_allclose(pair.target[0], expected[rows, cols], atol=1e-5)
        assert pair.origin["target"]["kind"] == "computed"
    assert pairs.subset(["ihc-test"])[0].target.shape == (1, 256, 256)


def test_sample_images_without_ground_truth():
    assert samples.image("skimage-ihc").data.shape == (1, 3, 1, 512, 512)
    assert samples.image("ndev-neuron").data.shape == (1, 4, 1, 623, 502)
    with pytest.raises(KeyError, match="choose one of"):
        samples.image("nope")


def test_missing_package_names_the_extra():
    with pytest.raises(ImportError, match=r"im2im-helpers\[samples\]"):
        samples.package_file("not_a_package_xyz", "a.tif")
