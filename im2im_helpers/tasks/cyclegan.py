"""``CycleGAN``: image-to-image translation learned from *unpaired* images of two domains (Zhu et
al., ICCV 2017).

Two generators translate ``G: A -> B`` and ``F: B -> A``; two unconditional PatchGAN
discriminators judge whether an image looks like domain A (``D_A``) or B (``D_B``). Without
pairs, the adversarial losses alone would allow any mapping onto the other domain, so the
generators must also undo each other: ``F(G(a)) ~ a`` and ``G(F(b)) ~ b`` (cycle consistency,
L1). An optional identity term (``G(b) ~ b``, ``F(a) ~ a``) keeps intensities and colours that
need not change. The discriminators learn from a replay buffer of past generated images. 2D
and 3D.

Written here rather than taken from the authors' code: the method is a few losses and an
alternating update on top of the project's networks, data and training loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from im2im_helpers import models
from im2im_helpers.tasks.gan import (
    GANTask,
    ReplayBuffer,
    adversarial_loss,
    discriminator_loss,
    make_discriminator,
    options_of,
    set_requires_grad,
)


def _reverse_generator(net_ab: nn.Module, model_ba: nn.Module | Mapping | None) -> nn.Module:
    """``F: B -> A``: as given, built from a dict, or else like ``net_ab`` with its channels
    swapped and seed + 1."""
    if isinstance(model_ba, Mapping):
        return models.build(**model_ba)
    if model_ba is not None:
        return model_ba
    spec = getattr(net_ab, "im2im_spec", None)
    if spec is None:
        raise ValueError("CycleGAN: the A -> B generator was not made by models.build; pass the "
                         "B -> A generator as model_ba.")
    return models.build(**{**spec, "in_channels": spec["out_channels"],
                           "out_channels": spec["in_channels"], "seed": spec["seed"] + 1})


def cycle_term(images: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Cycle-consistency loss of :meth:`CycleGAN.translate`'s images:
    ``mean |F(G(a)) - a| + mean |G(F(b)) - b|``."""
    return F.l1_loss(images["rec_a"], images["a"]) + F.l1_loss(images["rec_b"], images["b"])


class CycleGAN(GANTask):
    """Translate between two domains learned from unpaired images (CycleGAN), 2D or 3D.

    ``batch["input"]`` holds images of domain A, ``batch["target"]`` images of domain B; the two
    are *not* assumed to correspond (a pair's patches are used, their correspondence is not; a
    ``cost`` map is ignored). The pairs of :func:`im2im_helpers.data.patches` work as they are;
    for unrelated collections, pair images of the two domains arbitrarily.

    Each training batch is one step of each optimiser: the generators' on
    ``adversarial + cycle_weight * (cycle + identity_weight * identity)`` (discriminators frozen),
    then the discriminators' on half the sum of their losses on real images and on generated
    images drawn from a :class:`~im2im_helpers.tasks.gan.ReplayBuffer`.

    Logged: ``train_g_adv`` (both generators' adversarial terms), ``train_cycle`` (both cycle L1
    terms, unweighted), ``train_identity`` (unweighted), ``train_d_a``, ``train_d_b``,
    ``train_loss`` (= ``train_cycle``) and ``val_loss`` (cycle loss on the validation tiles, which
    selects the best checkpoint). ``forward`` is ``G: A -> B``.

    Parameters
    ----------
    model : torch.nn.Module or dict
        ``G: A -> B``, a network from :func:`im2im_helpers.models.build` or the dict that builds
        one.
    loss : {"lsgan", "bce"}
        Adversarial loss: least squares (default, as in the paper) or binary cross-entropy.
    lr : float
        Adam learning rate of generators and discriminators (paper: 2e-4).
    weight_decay, scheduler
        As for :class:`~im2im_helpers.tasks.Supervised`; for both optimisers.
    model_ba : torch.nn.Module or dict, optional
        ``F: B -> A``; by default built like ``model`` with input and output channels swapped
        and seed + 1.
    cycle_weight : float
        Weight of the cycle loss (paper: 10).
    identity_weight : float, optional
        Weight of the identity loss *relative to* ``cycle_weight`` (paper: 0.5, i.e. 5). It
        needs domains with the same channels: by default 0.5 when they have, else 0 (off); a
        non-zero value with different channels is a ``ValueError``.
    pool_size : int
        Generated images kept per domain in the replay buffer (paper: 50; 0 turns it off).
    discriminator : dict or pair of torch.nn.Module, optional
        Options of :func:`im2im_helpers.models.patch_discriminator` for both (``D_B`` gets seed
        + 1; default the 70 x 70 PatchGAN, 64 features, instance norm), or the modules
        ``(D_A, D_B)`` taking A's and B's channels (a config keeps ``D_A``'s options). Options
        need a generator from ``models.build`` (its spec gives dims and channels).
    betas, samples
        As for :class:`~im2im_helpers.tasks.gan.GANTask`: Adam betas (paper: 0.5, 0.999) and
        images per epoch in ``<run folder>/samples/`` (columns A, G(A), F(G(A)), B, F(B)).
    seed : int
        Seed of the replay buffers.
    """

    #: The task's name in a run's ``config.yaml`` (``task.kind``).
    KIND = "cyclegan"

    def __init__(self, model: nn.Module | Mapping, loss: str = "lsgan", lr: float = 2e-4,
                 weight_decay: float = 0.0, scheduler: str | None = None,
                 model_ba: nn.Module | Mapping | None = None, cycle_weight: float = 10.0,
                 identity_weight: float | None = None, pool_size: int = 50,
                 discriminator: Mapping | Sequence[nn.Module] | None = None,
                 betas: Sequence[float] = (0.5, 0.999), samples: int = 4, seed: int = 0):
        super().__init__(loss, lr, weight_decay, scheduler, betas, samples)
        self.net = models.build(**model) if isinstance(model, Mapping) else model
        self.net_ba = _reverse_generator(self.net, model_ba)
        spec = getattr(self.net, "im2im_spec", None) or {}
        channels = spec.get("in_channels"), spec.get("out_channels")
        if discriminator is None or isinstance(discriminator, Mapping):
            self.disc_a, self.disc_b = (make_discriminator(discriminator, spec.get("dims"), c, i)
                                        for i, c in enumerate(channels))
        else:
            self.disc_a, self.disc_b = discriminator
        same = channels[0] == channels[1]
        if identity_weight is None:
            identity_weight = 0.5 if same else 0.0
        elif identity_weight and not same:
            raise ValueError(f"identity_weight={identity_weight}: the identity loss feeds B "
                             f"images ({channels[1]} channels) to A -> B ({channels[0]} input "
                             "channels); set identity_weight=0.")
        self.save_hyperparameters(ignore=["model", "model_ba", "discriminator"])
        self.hparams["model"] = spec or None
        self.hparams["model_ba"] = getattr(self.net_ba, "im2im_spec", None)
        self.hparams["discriminator"] = options_of(self.disc_a) if options_of(self.disc_b) \
            else None
        self.hparams["identity_weight"] = identity_weight
        self.pool_a = ReplayBuffer(pool_size, seed=seed)  # generated A images, for D_A
        self.pool_b = ReplayBuffer(pool_size, seed=seed + 1)


    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def generator_parameters(self) -> list[nn.Parameter]:
        return [*self.net.parameters(), *self.net_ba.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [*self.disc_a.parameters(), *self.disc_b.parameters()]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # a resumed run replays the same past images
        checkpoint["replay_buffers"] = {"a": self.pool_a.state_dict(),
                                        "b": self.pool_b.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "replay_buffers" in checkpoint:
            self.pool_a.load_state_dict(checkpoint["replay_buffers"]["a"])
            self.pool_b.load_state_dict(checkpoint["replay_buffers"]["b"])

    def translate(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both translations and round trips: ``a``, ``fake_b = G(a)``, ``rec_a = F(G(a))``,
        ``b``, ``fake_a = F(b)``, ``rec_b = G(F(b))``."""
        fake_b, fake_a = self.net(a), self.net_ba(b)
        return {"a": a, "fake_b": fake_b, "rec_a": self.net_ba(fake_b),
                "b": b, "fake_a": fake_a, "rec_b": self.net(fake_a)}

    def cycle_loss(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``mean |F(G(a)) - a| + mean |G(F(b)) - b|`` (zero when ``F`` undoes ``G`` exactly)."""
        return cycle_term(self.translate(a, b))

    def identity_loss(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``mean |G(b) - b| + mean |F(a) - a|``: each generator leaves its own target domain
        alone."""
        if a.shape[1] != b.shape[1]:
            raise ValueError(f"The identity loss needs domains with the same channels (A has "
                             f"{a.shape[1]}, B {b.shape[1]}); set identity_weight=0.")
        return F.l1_loss(self.net(b), b) + F.l1_loss(self.net_ba(a), a)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        opt_g, opt_d = self.optimizers()
        a, b = batch["input"], batch["target"]
        images = self.translate(a, b)
        set_requires_grad([self.disc_a, self.disc_b], False)
        h = self.hparams
        g_adv = adversarial_loss(self.disc_b(images["fake_b"]), True, h.loss) \
            + adversarial_loss(self.disc_a(images["fake_a"]), True, h.loss)
        cycle = cycle_term(images)
        identity = self.identity_loss(a, b) if h.identity_weight else cycle.new_zeros(())
        opt_g.zero_grad()
        self.manual_backward(g_adv + h.cycle_weight * (cycle + h.identity_weight * identity))
        opt_g.step()
        set_requires_grad([self.disc_a, self.disc_b], True)
        d_a = discriminator_loss(self.disc_a, a, self.pool_a.replay(images["fake_a"]), h.loss)
        d_b = discriminator_loss(self.disc_b, b, self.pool_b.replay(images["fake_b"]), h.loss)
        opt_d.zero_grad()
        self.manual_backward(d_a + d_b)
        opt_d.step()
        self.log_terms({"train_loss": cycle, "train_g_adv": g_adv, "train_cycle": cycle,
                        "train_identity": identity, "train_d_a": d_a, "train_d_b": d_b},
                       a.shape[0])
        self._remember(batch_idx, images)
        return cycle

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        images = self.translate(batch["input"], batch["target"])
        loss = cycle_term(images)
        self.log_terms({"val_loss": loss}, batch["input"].shape[0])
        self._remember(batch_idx, images)
        return loss

    def _remember(self, batch_idx: int, images: Mapping[str, torch.Tensor]) -> None:
        self.remember(batch_idx, {"A": images["a"], "G(A)": images["fake_b"],
                                  "F(G(A))": images["rec_a"], "B": images["b"],
                                  "F(B)": images["fake_a"]})
