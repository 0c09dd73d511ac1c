"""Lightning modules: what is learned, with which loss (and the post-processing each owns).

``Supervised`` learns from input/target pairs (regression and semantic segmentation);
``Noise2Void`` learns denoising from noisy images alone; ``InstanceEmbedding`` learns instance
segmentation as spatial embeddings (EmbedSeg-style, 2D and 3D, any object shape); ``Pix2Pix``
learns from pairs with a conditional GAN (L1 + PatchGAN) and ``CycleGAN`` from unpaired images
of two domains (cycle consistency), both 2D and 3D, sharing :mod:`~im2im_helpers.tasks.gan`.
``Registration`` learns to align a moving image to a fixed one (a displacement field, MONAI's
registration networks and losses). ``Diffusion`` learns input -> target as a conditional
denoising diffusion model (MONAI's diffusion network, schedulers and inferer); each prediction is
one sample.
:mod:`~im2im_helpers.tasks.instances` clusters embeddings into objects.

A task keeps its hyperparameters in Lightning's ``hparams`` only: a run's ``config.yaml``
(``task.hparams``), its checkpoints and the object report the same values
(:func:`hyperparameters`).
"""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L

from im2im_helpers.tasks import instances
from im2im_helpers.tasks.cyclegan import CycleGAN
from im2im_helpers.tasks.diffusion import Diffusion
from im2im_helpers.tasks.embedding import InstanceEmbedding
from im2im_helpers.tasks.gan import ReplayBuffer
from im2im_helpers.tasks.noise2void import Noise2Void, blind_spot, masked_loss
from im2im_helpers.tasks.pix2pix import Pix2Pix
from im2im_helpers.tasks.registration import Registration
from im2im_helpers.tasks.supervised import Supervised

__all__ = ["TASKS", "CycleGAN", "Diffusion", "InstanceEmbedding", "Noise2Void", "Pix2Pix",
           "Registration", "ReplayBuffer", "Supervised", "blind_spot", "hyperparameters",
           "instances", "masked_loss"]

#: Task names used in YAML configs (``task.kind``), mapped to their classes.
TASKS: dict[str, type[L.LightningModule]] = {
    cls.KIND: cls for cls in (Supervised, Noise2Void, InstanceEmbedding, Pix2Pix, CycleGAN,
                                 Registration, Diffusion)}

#: Hyperparameters that describe the network(s), kept in a config's ``model`` section (the
#: generator) or inside ``task.hparams`` (the others).
MODEL_KEY = "model"


def plain(value):
    """``value`` with tuples as lists, recursively (what YAML and a checkpoint hold)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def hyperparameters(task: L.LightningModule) -> dict:
    """A task's hyperparameters as plain values, without its network (``config.yaml``'s
    ``task.hparams``): every argument its class takes except ``model``."""
    return {k: plain(v) for k, v in task.hparams.items() if k != MODEL_KEY}
