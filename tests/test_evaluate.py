"""Evaluation helpers of the restoration tutorials: the noise sweep reports every method at
every light level (:mod:`im2im_helpers.evaluate`)."""

from im2im_helpers import baselines
from im2im_helpers import evaluate as restoration
from tests.helpers import texture_image


def test_noise_sweep_reports_every_method_at_every_level():
    sweep = restoration.noise_sweep([texture_image(0)], [texture_image(1)], photons=(3, 30),
                                    networks={"smooth": lambda x: baselines.gaussian_denoise(x, 1)})
    psnr = sweep["psnr"]
    assert set(psnr) == {"noisy", "gaussian", "nl_means", "smooth"}
    assert all(set(v) == {3.0, 30.0} for v in psnr.values())
    assert psnr["noisy"][30.0] > psnr["noisy"][3.0] + 5  # ten times the light: much less noise
    assert psnr["gaussian"][3.0] > psnr["noisy"][3.0]
