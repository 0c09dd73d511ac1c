"""Networks written here rather than taken from MONAI, for methods whose network MONAI lacks;
one module per network, each built by name through :func:`im2im_helpers.models.build`.

:mod:`~im2im_helpers.nets.n2v2`: N2V2's U-Net (Höck et al. 2022), without the full-resolution
skip connection and with max-blur pooling, 2D and 3D (``models.build("n2v2_unet", ...)``).
:mod:`~im2im_helpers.nets.recurrent`: a U-Net with ConvGRU skip connections for time-lapse clips
(``models.build("recurrent_unet", ...)``).
"""

from __future__ import annotations

from im2im_helpers.nets.n2v2 import MaxBlurPool, N2V2UNet, binomial_kernel
from im2im_helpers.nets.recurrent import ConvGRUCell, RecurrentUNet

__all__ = ["ConvGRUCell", "MaxBlurPool", "N2V2UNet", "RecurrentUNet", "binomial_kernel"]
