"""Richardson-Lucy deconvolution with a Gaussian PSF, and its parameters tuned on training
images (:mod:`im2im_helpers.baselines.deconvolution`)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from im2im_helpers import baselines, metrics
from im2im_helpers.data import simulate
from tests.helpers import blob_image


def test_richardson_lucy_sharpens_a_blurred_point():
    sharp = np.zeros((1, 41, 41), np.float32)
    sharp[0, 20, 20] = 100
    psf = baselines.gaussian_psf(2.0)
    assert psf.sum() == pytest.approx(1) and psf.shape == (13, 13)
    blurred = ndi.convolve(sharp[0], psf)[None]
    restored = baselines.richardson_lucy(blurred, psf, iterations=50)
    assert restored[0, 20, 20] > 3 * blurred[0, 20, 20]


def test_richardson_lucy_with_the_true_psf_reduces_the_error_of_a_blurred_image():
    sharp = [blob_image(3, (64, 64)) ** 4, blob_image(4, (64, 64)) ** 4]  # small, bright points
    blurred = simulate.confocal_like(sharp, psf_sigma=2, photons=1e4, read_noise=0, seed=0)
    fitted = baselines.fit_deconvolution([blurred[0].input], [sharp[0]], psf_sigmas=[2],
                                         iterations=(1, 10, 30))
    assert fitted.chosen["psf_sigma"] == 2 and fitted.chosen["iterations"] > 1
    x, y = blurred[1].input, sharp[1]  # an image not used for tuning
    assert metrics.nrmse(fitted(x), y) < 0.8 * metrics.nrmse(x, y)
    assert metrics.ssim(fitted(x), y) > metrics.ssim(x, y)
