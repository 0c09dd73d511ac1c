"""Classical baselines a network must beat, with their parameters chosen on training data only.

- :mod:`~im2im_helpers.baselines.filters` — ridge regression on filter responses (label-free
  prediction); Gaussian and non-local means denoising;
- :mod:`~im2im_helpers.baselines.deconvolution` — Richardson–Lucy with a Gaussian PSF;
- :mod:`~im2im_helpers.baselines.threshold` — Otsu's threshold (semantic segmentation);
- :mod:`~im2im_helpers.baselines.watershed` — Otsu + distance transform + watershed (instances),
  and the watershed of 3-class probabilities (its threshold tuned on validation);
- :mod:`~im2im_helpers.baselines.colour` — a per-pixel colour model (stain transfer);
- :mod:`~im2im_helpers.baselines.synthesis` — a blurred mask at real grey levels (images drawn
  from masks).

Every ``fit_*``/``tune_*`` function returns a :class:`~im2im_helpers.tuning.Tuned` method: call
it on an image; its ``value`` and ``scores`` say what was chosen and why.
"""

from im2im_helpers.baselines import (
    colour,
    deconvolution,
    filters,
    registration,
    synthesis,
    threshold,
    watershed,
)
from im2im_helpers.baselines.colour import ColourRidge
from im2im_helpers.baselines.deconvolution import fit_deconvolution, gaussian_psf, richardson_lucy
from im2im_helpers.baselines.filters import (
    FilterRidge,
    filter_features,
    fit_denoisers,
    gaussian_denoise,
    nl_means,
    nl_means_relative,
    noise_sigma,
)
from im2im_helpers.baselines.registration import phase_correlation, tvl1
from im2im_helpers.baselines.synthesis import blurred_mask, fit_blurred_mask
from im2im_helpers.baselines.threshold import fit_otsu, otsu_mask
from im2im_helpers.baselines.watershed import (
    otsu_watershed,
    three_class_watershed,
    tune_otsu_watershed,
    tune_three_class_watershed,
)
from im2im_helpers.tuning import Tuned, tune

__all__ = [
    "ColourRidge", "FilterRidge", "Tuned", "blurred_mask", "colour", "deconvolution",
    "filter_features", "filters", "fit_blurred_mask", "fit_deconvolution", "fit_denoisers",
    "fit_otsu", "gaussian_denoise", "gaussian_psf", "nl_means", "nl_means_relative",
    "noise_sigma", "otsu_mask", "otsu_watershed", "phase_correlation", "registration",
    "richardson_lucy", "synthesis", "threshold", "tvl1",
    "three_class_watershed", "tune", "tune_otsu_watershed", "tune_three_class_watershed",
    "watershed",
]
