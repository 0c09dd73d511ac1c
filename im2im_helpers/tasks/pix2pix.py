"""``Pix2Pix``: a conditional GAN learning ``input -> target`` from pairs (Isola et al., CVPR 2017).

A generator (any network of :func:`im2im_helpers.models.build`, a U-Net in the paper) maps the
input to an output; a PatchGAN discriminator (:func:`im2im_helpers.models.patch_discriminator`)
sees the input concatenated with either the target or the output and judges every patch real or
fake. The generator minimises the adversarial loss plus ``l1_weight`` times the L1 distance to
the target: the L1 term gets the low frequencies right, the discriminator penalises blur at the
scale of its patches. 2D and 3D.

Written here rather than taken from the authors' code: the method is two losses and an
alternating update on top of the project's networks, data and training loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from im2im_helpers import models
from im2im_helpers.tasks.gan import (
    GANTask,
    adversarial_loss,
    discriminator_loss,
    make_discriminator,
    options_of,
    set_requires_grad,
)


class Pix2Pix(GANTask):
    """Learn ``input -> target`` from pairs with a conditional GAN (pix2pix), 2D or 3D.

    Each training batch is one step of each optimiser: the generator's on
    ``adversarial + l1_weight * L1`` (the discriminator frozen), then the discriminator's on half
    the sum of its losses on ``(input, target)`` (real) and ``(input, output)`` (fake).

    Logged: ``train_g_adv`` (generator's adversarial term), ``train_g_l1`` (L1 to the target,
    unweighted), ``train_d`` (discriminator), ``train_loss`` (= ``train_g_l1``, the curve every
    task has) and ``val_loss`` (L1 on the validation tiles, which selects the best checkpoint).

    Parameters
    ----------
    model : torch.nn.Module or dict
        The generator: a network from :func:`im2im_helpers.models.build`, or the dict that builds
        one. Only networks made by ``models.build`` can be reloaded from a checkpoint by name.
    loss : {"lsgan", "bce"}
        Adversarial loss: least squares (default, as in CycleGAN: its gradients do not vanish
        for outputs the discriminator rejects confidently) or the paper's binary cross-entropy.
    lr : float
        Adam learning rate of generator and discriminator (paper: 2e-4).
    weight_decay, scheduler
        As for :class:`~im2im_helpers.tasks.Supervised`; for both optimisers.
    l1_weight : float
        Weight of the L1 term (paper: 100). Pixels are weighted by the batch's ``cost`` map when
        it has one.
    discriminator : dict or torch.nn.Module, optional
        Options of :func:`im2im_helpers.models.patch_discriminator` (``features``, ``n_layers``,
        ``norm``, ``seed``; default the paper's 70 x 70 PatchGAN with 64 features and instance
        norm, which is the paper's batch norm at its batch size of 1), or a discriminator module
        taking ``in_channels + out_channels`` channels (one not made by
        ``patch_discriminator`` cannot be reloaded by name). Options need a generator from
        ``models.build`` (its spec gives dims and channels).
    betas, samples
        As for :class:`~im2im_helpers.tasks.gan.GANTask`: Adam betas (paper: 0.5, 0.999) and
        images per epoch in ``<run folder>/samples/``.

    Notes
    -----
    The discriminator's patch (:func:`im2im_helpers.models.receptive_field`) should be smaller
    than the training patch, and each patch side at least ``3 * 2**n_layers``. Dropout in the
    generator (the paper's only source of noise, which it found to add little stochasticity) is
    an option of the network (``dropout`` of :func:`im2im_helpers.models.build`), off by default.
    """

    #: The task's name in a run's ``config.yaml`` (``task.kind``).
    KIND = "pix2pix"

    def __init__(self, model: nn.Module | Mapping, loss: str = "lsgan", lr: float = 2e-4,
                 weight_decay: float = 0.0, scheduler: str | None = None,
                 l1_weight: float = 100.0, discriminator: Mapping | nn.Module | None = None,
                 betas: Sequence[float] = (0.5, 0.999), samples: int = 4):
        super().__init__(loss, lr, weight_decay, scheduler, betas, samples)
        self.net = models.build(**model) if isinstance(model, Mapping) else model
        spec = getattr(self.net, "im2im_spec", None)
        self.discriminator = make_discriminator(
            discriminator, spec and spec["dims"],
            spec and spec["in_channels"] + spec["out_channels"])
        self.save_hyperparameters(ignore=["model", "discriminator"])
        self.hparams["model"] = spec
        self.hparams["discriminator"] = options_of(self.discriminator)


    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def generator_parameters(self) -> list[nn.Parameter]:
        return list(self.net.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    def l1(self, pred: torch.Tensor, target: torch.Tensor,
           cost: torch.Tensor | None = None) -> torch.Tensor:
        """Mean absolute error of ``pred`` against ``target``, pixels weighted by ``cost``."""
        pointwise = F.l1_loss(pred, target, reduction="none")
        return (pointwise * cost if cost is not None else pointwise).mean()

    def judge(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Discriminator scores of ``y`` (a target or an output) as the image of input ``x``."""
        return self.discriminator(torch.cat([x, y], dim=1))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        opt_g, opt_d = self.optimizers()
        x, y = batch["input"], batch["target"]
        fake = self(x)
        set_requires_grad(self.discriminator, False)
        g_adv = adversarial_loss(self.judge(x, fake), True, self.hparams.loss)
        l1 = self.l1(fake, y, batch.get("cost"))
        opt_g.zero_grad()
        self.manual_backward(g_adv + self.hparams.l1_weight * l1)
        opt_g.step()
        set_requires_grad(self.discriminator, True)
        d = discriminator_loss(partial(self.judge, x), y, fake, self.hparams.loss)
        opt_d.zero_grad()
        self.manual_backward(d)
        opt_d.step()
        self.log_terms({"train_loss": l1, "train_g_adv": g_adv, "train_g_l1": l1, "train_d": d},
                       x.shape[0])
        self.remember(batch_idx, {"input": x, "output": fake, "target": y})
        return l1

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x, y = batch["input"], batch["target"]
        fake = self(x)
        loss = self.l1(fake, y, batch.get("cost"))
        self.log_terms({"val_loss": loss}, x.shape[0])
        self.remember(batch_idx, {"input": x, "output": fake, "target": y})
        return loss
