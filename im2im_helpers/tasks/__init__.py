"""Lightning modules: what is learned, with which loss.

``Supervised`` learns from input/target pairs (regression and semantic segmentation);
``Noise2Void`` learns denoising from noisy images alone; ``InstanceEmbedding`` learns instance
segmentation as spatial embeddings (EmbedSeg-style, 2D and 3D, any object shape).
"""

from __future__ import annotations

import lightning as L

from im2im_helpers.tasks.embedding import InstanceEmbedding
from im2im_helpers.tasks.noise2void import Noise2Void, blind_spot, masked_loss
from im2im_helpers.tasks.supervised import Supervised

__all__ = ["TASKS", "InstanceEmbedding", "Noise2Void", "Supervised", "blind_spot", "masked_loss"]

#: Task names used in YAML configs, mapped to their classes.
TASKS: dict[str, type[L.LightningModule]] = {"supervised": Supervised, "noise2void": Noise2Void,
                                              "embedding": InstanceEmbedding}
