"""The classical restoration baselines (what the restoration tutorials compare against)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from im2im_helpers import baselines, metrics


def test_tuning_picks_the_best_sigma_on_training_data():
    rng = np.random.default_rng(0)
    clean = [ndi.gaussian_filter(rng.random((1, 64, 64)), (0, 4, 4)) * 5 for _ in range(2)]
    noisy = [c + rng.normal(0, 0.05, c.shape) for c in clean]
    best, scores = baselines.tune(baselines.gaussian_denoise, noisy, clean, [0.5, 1, 2, 4, 8])
    assert best == max(scores, key=scores.get) and 1 <= best <= 4
    assert scores[best] > metrics.psnr(noisy[0], clean[0])


def test_nl_means_reduces_noise():
    rng = np.random.default_rng(1)
    clean = np.zeros((1, 48, 48), np.float32)
    clean[:, 12:36, 12:36] = 1
    noisy = clean + rng.normal(0, 0.2, clean.shape).astype(np.float32)
    assert metrics.psnr(baselines.nl_means(noisy, h=0.2), clean) > metrics.psnr(noisy, clean) + 3


def test_richardson_lucy_sharpens_a_blurred_point():
    sharp = np.zeros((1, 41, 41), np.float32)
    sharp[0, 20, 20] = 100
    psf = baselines.gaussian_psf(2.0)
    assert psf.sum() == pytest.approx(1) and psf.shape == (13, 13)
    blurred = ndi.convolve(sharp[0], psf)[None]
    restored = baselines.richardson_lucy(blurred, psf, iterations=50)
    assert restored[0, 20, 20] > 3 * blurred[0, 20, 20]
