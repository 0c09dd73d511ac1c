"""Lightning modules: what is learned, with which loss.

``Supervised`` learns from input/target pairs (regression and semantic segmentation);
``Noise2Void`` learns denoising from noisy images alone; ``InstanceEmbedding`` learns instance
segmentation as spatial embeddings (EmbedSeg-style, 2D and 3D, any object shape); ``Pix2Pix``
learns from pairs with a conditional GAN (L1 + PatchGAN) and ``CycleGAN`` from unpaired images
of two domains (cycle consistency), both 2D and 3D, sharing :mod:`~im2im_helpers.tasks.gan`.
"""

from __future__ import annotations

import lightning as L

from im2im_helpers.tasks.cyclegan import CycleGAN
from im2im_helpers.tasks.embedding import InstanceEmbedding
from im2im_helpers.tasks.gan import ReplayBuffer
from im2im_helpers.tasks.noise2void import Noise2Void, blind_spot, masked_loss
from im2im_helpers.tasks.pix2pix import Pix2Pix
from im2im_helpers.tasks.supervised import Supervised

__all__ = ["TASKS", "CycleGAN", "InstanceEmbedding", "Noise2Void", "Pix2Pix", "ReplayBuffer",
           "Supervised", "blind_spot", "masked_loss"]

#: Task names used in YAML configs, mapped to their classes.
TASKS: dict[str, type[L.LightningModule]] = {"supervised": Supervised, "noise2void": Noise2Void,
                                              "embedding": InstanceEmbedding, "pix2pix": Pix2Pix,
                                              "cyclegan": CycleGAN}
