"""The displacement convention, known fields, the classical baselines and the metrics, on real
offline images (no training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from im2im_helpers.baselines.registration import phase_correlation, tvl1
from im2im_helpers.data import deform
from im2im_helpers.metrics.registration import (
    endpoint_error,
    folding_fraction,
    jacobian_determinant,
    ncc,
    scores,
    ssim,
)


def crop(image: np.ndarray, y: int, x: int, size: int = 64) -> np.ndarray:
    return np.ascontiguousarray(image[:, y:y + size, x:x + size])


def test_warp_samples_the_moving_image_at_x_plus_u_in_axis_order(nuclei):
    image = crop(nuclei["stardist-left"], 100, 60)
    u = deform.translation_field((64, 64), (3, -5))  # 3 rows down, 5 columns left
    warped = deform.warp(image, u)
    assert warped.shape == image.shape
    # warped(y, x) = image(y + 3, x - 5), away from the border
    np.testing.assert_allclose(warped[0, 10:-10, 10:-10], image[0, 13:-7, 5:-15], atol=1e-5)


def test_random_fields_are_seeded_and_scaled_to_their_longest_vector():
    for kind in deform.KINDS:
        a = deform.random_field((40, 48), kind, max_displacement=3.0, seed=7)
        b = deform.random_field((40, 48), kind, max_displacement=3.0, seed=7)
        assert a.shape == (2, 40, 48) and a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
        assert np.sqrt((a**2).sum(0)).max() == pytest.approx(3.0, rel=1e-5)
    c = deform.random_field((40, 48), "smooth", 3.0, seed=8)
    assert not np.allclose(c, deform.random_field((40, 48), "smooth", 3.0, seed=7))
    shift = deform.random_field((8, 8), "translation", 2.0, seed=1)
    assert np.ptp(shift.reshape(2, -1), axis=1).max() == 0  # one vector everywhere


def test_an_affine_field_is_its_matrix_about_the_centre():
    assert np.abs(deform.affine_field((9, 9), np.eye(2))).max() == 0
    u = deform.affine_field((9, 9), [[1.1, 0], [0, 1.0]], translation=(0, 2))
    assert u[0, 4, 4] == pytest.approx(0) and u[0, 8, 0] == pytest.approx(0.4)
    assert np.all(u[1] == 2)


def test_phase_correlation_recovers_a_whole_pixel_translation_exactly(nuclei):
    image = nuclei["stardist-right"]
    moving, fixed = crop(image, 200, 80), crop(image, 203, 76)  # fixed(x) = moving(x + (3, -4))
    u, warped = phase_correlation(moving, fixed)
    np.testing.assert_array_equal(u, deform.translation_field((64, 64), (3, -4)))
    assert ncc(warped[:, 8:-8, 8:-8], fixed[:, 8:-8, 8:-8]) > 0.999


def test_tvl1_returns_the_field_in_the_package_convention(nuclei):
    """skimage's (row, col) flow needs no sign change: it recovers a known smooth field."""
    (t,) = deform.deformed([crop(nuclei["stardist-left"], 300, 100)], "smooth", 2.0, seed=3)
    u, warped = tvl1(t.moving, t.fixed)
    inner = np.zeros((64, 64), bool)
    inner[8:-8, 8:-8] = True
    zero = endpoint_error(np.zeros_like(t.displacement), t.displacement, inner)
    assert endpoint_error(u, t.displacement, inner) < 0.6 * zero  # 0.50 measured
    assert endpoint_error(-u, t.displacement, inner) > zero  # the opposite sign is worse
    assert ncc(warped, t.fixed) > ncc(t.moving, t.fixed)


def test_warping_with_the_true_field_reproduces_the_fixed_image(transmitted):
    triplets = deform.deformed(transmitted[:2], "smooth", 4.0, per_image=2, crop=(64, 96), seed=0)
    assert [t.name for t in triplets] == ["t00-0", "t00-1", "t01-0", "t01-1"]
    for t in triplets:
        assert t.moving.shape == t.fixed.shape == (1, 64, 96)
        assert t.displacement.shape == (2, 64, 96)
        result = scores(t.displacement, deform.warp(t.moving, t.displacement), t.fixed,
                        t.displacement)
        assert result["ncc"] > 0.9999 and result["epe"] == 0 and result["folding"] == 0
        assert ncc(t.moving, t.fixed) < result["ncc"]
        assert ssim(deform.warp(t.moving, t.displacement), t.fixed) > 0.999


def test_the_folding_fraction_flags_a_folding_field_and_passes_smooth_ones():
    assert folding_fraction(np.zeros((2, 16, 16))) == 0
    np.testing.assert_allclose(jacobian_determinant(deform.translation_field((8, 8), (2, 1))), 1)
    y = np.arange(16, dtype=np.float32)[:, None] * np.ones((1, 16), np.float32)
    folds = np.stack([-2.5 * y, np.zeros_like(y)])  # x + u = -1.5 y: the rows reverse
    assert folding_fraction(folds) == 1.0
    half = folds.copy()
    half[:, :, :8] = 0
    assert folding_fraction(half) == pytest.approx(0.5)
    assert folding_fraction(deform.random_field((32, 32), "smooth", 2.0, seed=0)) == 0
    assert folding_fraction(np.zeros((3, 4, 8, 8))) == 0  # 3D


def test_3d_fields_warps_and_baselines():
    rng = np.random.default_rng(0)
    from scipy import ndimage

    volume = ndimage.gaussian_filter(rng.random((1, 16, 24, 24)), 2).astype(np.float32)
    u = deform.random_field((16, 24, 24), "affine", 1.5, seed=2)
    assert u.shape == (3, 16, 24, 24)
    fixed = deform.warp(volume, u)
    assert fixed.shape == volume.shape
    flow, warped = tvl1(volume, fixed)
    assert flow.shape == (3, 16, 24, 24) and warped.shape == volume.shape
    shift, _ = phase_correlation(volume, np.roll(volume, (1, -2, 3), axis=(1, 2, 3)))
    np.testing.assert_array_equal(shift[:, 0, 0, 0], [-1, 2, -3])
    assert deform.random_fields(2, (8, 8, 8), "smooth", 1.0).shape == (2, 3, 8, 8, 8)


def test_consecutive_frames_pair_each_time_point_with_the_next(transmitted):
    pairs = deform.consecutive(transmitted)
    assert pairs.names[:2] == ["t00-t01", "t01-t02"] and len(pairs) == len(transmitted) - 1
    np.testing.assert_array_equal(pairs[0].target, transmitted[1].input)
    assert pairs.config["transforms"][-1] == {"kind": "consecutive", "step": 1,
                                              "channel": "input"}
    triplets = deform.frame_triplets(pairs)
    assert triplets[0].displacement is None and triplets[0].moving.shape == (1, 210, 576)
    with pytest.raises(ValueError, match="step=10"):
        deform.consecutive(transmitted, step=10)


def test_images_of_different_shapes_are_refused_naming_both_parameters(nuclei):
    moving, fixed = crop(nuclei["stardist-left"], 0, 0), crop(nuclei["stardist-left"], 0, 0, 32)
    for register in (phase_correlation, tvl1):
        with pytest.raises(ValueError, match=r"moving has shape \(1, 64, 64\) but fixed has "
                                             r"shape \(1, 32, 32\)"):
            register(moving, fixed)
    with pytest.raises(ValueError, match="pred has shape .* but true has shape"):
        endpoint_error(np.zeros((2, 8, 8)), np.zeros((2, 8, 9)))
    with pytest.raises(ValueError, match="displacement has shape"):
        deform.warp(moving, np.zeros((2, 32, 32)))
    with pytest.raises(ValueError, match="kind='elastic'"):
        deform.random_fields(1, (8, 8), "elastic")
    with pytest.raises(ValueError, match="image has shape"):
        deform.warp_tensor(torch.zeros(1, 1, 8, 8), torch.zeros(1, 2, 8, 9))
