"""What the GAN tasks (``Pix2Pix``, ``CycleGAN``) share: adversarial losses, freezing networks,
the replay buffer of generated images, discriminators from options, sample figures, and
:class:`GANTask`, the training frame with one optimiser for the generators and one for the
discriminators.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from im2im_helpers import models

#: ``"lsgan"``: least squares (Mao et al. 2017), as in CycleGAN; ``"bce"``: the original GAN's
#: binary cross-entropy on logits, as in the pix2pix paper.
ADVERSARIAL_LOSSES = ("lsgan", "bce")

#: Learning-rate schedules of the adversarial tasks (both optimizers, stepped per epoch).
GAN_SCHEDULERS = (None, "cosine")


def adversarial_loss(scores: torch.Tensor, real: bool, kind: str = "lsgan") -> torch.Tensor:
    """How far the discriminator's ``scores`` are from saying ``real`` (or fake) everywhere.

    Parameters
    ----------
    scores : torch.Tensor
        Raw discriminator outputs, one per patch.
    real : bool
        The label the scores are compared with: 1 (real) or 0 (fake).
    kind : {"lsgan", "bce"}
        ``"lsgan"``: mean of ``(score - label)^2``; ``"bce"``: binary cross-entropy of
        ``sigmoid(score)`` against the label.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    label = torch.full_like(scores, 1.0 if real else 0.0)
    if kind == "lsgan":
        return F.mse_loss(scores, label)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(scores, label)
    raise ValueError(f"Adversarial loss {kind!r}: choose one of {ADVERSARIAL_LOSSES}.")


def discriminator_loss(disc: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                       fake: torch.Tensor, kind: str = "lsgan") -> torch.Tensor:
    """Half the loss of ``disc`` (a discriminator, or any function of an image to scores)
    calling ``real`` real and ``fake`` (detached) fake: both papers halve the discriminator's
    objective so it learns slower than the generator."""
    return 0.5 * (adversarial_loss(disc(real), True, kind)
                  + adversarial_loss(disc(fake.detach()), False, kind))


def set_requires_grad(nets: nn.Module | Iterable[nn.Module], flag: bool) -> None:
    """Switch gradients of every parameter of ``nets`` on or off (freezes the discriminators
    while the generators learn)."""
    for net in [nets] if isinstance(nets, nn.Module) else nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class ReplayBuffer:
    """A pool of past generated images for the discriminator (Shrivastava et al. 2017, used by
    CycleGAN): it learns from a history of the generator's outputs, not only the latest ones,
    which damps oscillations between generator and discriminator.

    Parameters
    ----------
    size : int
        Images kept (CycleGAN: 50); 0 turns the buffer off (every image passes through).
    p : float
        Once the pool is full, probability that a new image is swapped for a random stored one
        (which is returned instead and replaced by the new image).
    seed : int
        Seed of the buffer's own random generator.
    """

    def __init__(self, size: int = 50, p: float = 0.5, seed: int = 0):
        if size < 0 or not 0 <= p <= 1:
            raise ValueError(f"ReplayBuffer(size={size}, p={p}): need size >= 0, 0 <= p <= 1.")
        self.size, self.p = size, p
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def replay(self, images: torch.Tensor) -> torch.Tensor:
        """Store the new ``images`` (a batch, detached) and return as many for the discriminator.

        While the pool fills up, every image is stored and returned. Once it is full, each image
        is, with probability ``p``, stored in place of a random past image, which is returned
        instead; otherwise it is returned and not stored.
        """
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator) < self.p:
                i = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[i].to(image.device))
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        """Stored images and random state (a resumed run replays the same images)."""
        return {"images": [im.cpu() for im in self.images], "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.images = list(state["images"])
        self.generator.set_state(state["generator"])


def discriminator_options(options: Mapping | None = None) -> dict:
    """The arguments of :func:`im2im_helpers.models.patch_discriminator` apart from ``dims`` and
    ``in_channels``, defaults filled in; an unknown key is a ``ValueError``."""
    params = inspect.signature(models.patch_discriminator).parameters
    defaults = {k: p.default for k, p in params.items() if k not in ("dims", "in_channels")}
    unknown = set(options or {}) - set(defaults)
    if unknown:
        raise ValueError(f"discriminator has no option {sorted(unknown)}; its options are "
                         f"{sorted(defaults)}.")
    return {**defaults, **(options or {})}


def make_discriminator(discriminator: Mapping | nn.Module | None, dims: int | None,
                       in_channels: int | None, seed_offset: int = 0) -> nn.Module:
    """A discriminator module as given, or built from options (see
    :func:`discriminator_options`) for images of ``dims`` and ``in_channels``;
    ``seed_offset`` is added to the options' seed (two discriminators start differently)."""
    if isinstance(discriminator, nn.Module):
        return discriminator
    if dims is None or in_channels is None:
        raise ValueError("The generator does not say its dims and channels (it was not made by "
                         "models.build): pass discriminator modules from "
                         "models.patch_discriminator instead of options.")
    options = discriminator_options(discriminator)
    options["seed"] += seed_offset
    return models.patch_discriminator(dims, in_channels, **options)


def options_of(disc: nn.Module) -> dict | None:
    """The options that rebuild ``disc`` with :func:`make_discriminator`, if it has a spec."""
    spec = getattr(disc, "im2im_spec", None)
    if spec is None:
        return None
    return {k: v for k, v in spec.items() if k not in ("dims", "in_channels")}


def save_samples(path: str | os.PathLike, columns: Mapping[str, torch.Tensor]) -> Path:
    """Write a PNG grid atomically: one row per image, one column per entry of ``columns``.

    Each value is a batch ``(N, C, *spatial)``; the first channel is shown, and the middle Z
    slice of 3D images. Every panel has its own grey scale (domains may differ in range).
    """
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = min(len(v) for v in columns.values())
    fig = Figure(figsize=(2 * len(columns), 2 * rows), layout="constrained")
    axes = fig.subplots(rows, len(columns), squeeze=False)
    for j, (name, images) in enumerate(columns.items()):
        for i in range(rows):
            image = images[i, 0].float()
            image = image[image.shape[0] // 2] if image.ndim == 3 else image
            axes[i, j].imshow(image.numpy(), cmap="gray")
            axes[i, j].set_axis_off()
        axes[0, j].set_title(name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=72)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class GANTask(L.LightningModule):
    """Frame of the GAN tasks: manual optimisation with one Adam for the generators and one for
    the discriminators, the learning rate schedule, logging, sample figures.

    Subclasses define :meth:`generator_parameters`, :meth:`discriminator_parameters` and the
    steps. With manual optimisation, Lightning counts every optimiser step: a batch is two steps
    (``max_steps`` and ``global_step`` count both).

    Parameters
    ----------
    loss : {"lsgan", "bce"}
        Adversarial loss (see :func:`adversarial_loss`).
    lr : float
        Adam learning rate of both optimisers.
    weight_decay : float
        Adam weight decay.
    scheduler : {None, "cosine"}
        ``"cosine"`` decays both learning rates to zero over the run's ``max_epochs``.
    betas : sequence of float
        Adam's ``(beta1, beta2)``; the GAN papers lower beta1 to 0.5.
    samples : int
        Images shown per epoch in ``<run folder>/samples/epoch_XXX.png`` (the first validation
        batch, else the first training batch of the epoch); 0 writes none. Written only when
        the trainer has a logger (as in :func:`im2im_helpers.train.fit`), into its
        ``default_root_dir``.
    """

    def __init__(self, loss: str = "lsgan", lr: float = 2e-4, weight_decay: float = 0.0,
                 scheduler: str | None = None, betas: Sequence[float] = (0.5, 0.999),
                 samples: int = 4):
        super().__init__()
        if loss not in ADVERSARIAL_LOSSES:
            raise ValueError(f"loss={loss!r}: {type(self).__name__}'s adversarial loss is one of "
                             f"{ADVERSARIAL_LOSSES} (task.hparams.loss in a config).")
        if scheduler not in GAN_SCHEDULERS:
            raise ValueError(f"scheduler={scheduler!r}: choose one of {GAN_SCHEDULERS}.")
        self.automatic_optimization = False
        self._sample_images: dict[str, torch.Tensor] | None = None


    def generator_parameters(self) -> list[nn.Parameter]:
        """Parameters of the generator(s)."""
        raise NotImplementedError

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """Parameters of the discriminator(s)."""
        raise NotImplementedError

    def postprocess(self, y: torch.Tensor) -> torch.Tensor:
        """Generator outputs are the predictions (identity, as for regression)."""
        return y

    def log_terms(self, terms: Mapping[str, torch.Tensor], batch_size: int) -> None:
        """Log each loss term under its name (per step and per epoch while training)."""
        for name, value in terms.items():
            self.log(name, value, on_step=self.training, on_epoch=True,
                     prog_bar=name in ("train_loss", "val_loss"), batch_size=batch_size)

    def remember(self, batch_idx: int, columns: Mapping[str, torch.Tensor]) -> None:
        """Keep the first ``samples`` images of a first batch for the epoch's sample figure."""
        if self.hparams.samples > 0 and batch_idx == 0:
            self._sample_images = {k: v[:self.hparams.samples].detach().float().cpu()
                                   for k, v in columns.items()}

    def configure_optimizers(self):
        optimizers = [torch.optim.Adam(params, lr=self.hparams.lr, betas=tuple(self.hparams.betas),
                                       weight_decay=self.hparams.weight_decay)
                      for params in (self.generator_parameters(),
                                     self.discriminator_parameters())]
        if self.hparams.scheduler is None:
            return optimizers
        epochs = max(1, self.trainer.max_epochs or 1)
        return optimizers, [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs)
                            for o in optimizers]

    def on_train_epoch_end(self) -> None:
        # manual optimisation: Lightning leaves the schedulers to the task
        schedulers = self.lr_schedulers() or []
        for s in schedulers if isinstance(schedulers, list) else [schedulers]:
            s.step()
        trainer = self.trainer
        if self._sample_images and trainer.logger is not None and trainer.is_global_zero:
            save_samples(Path(trainer.default_root_dir) / "samples"
                         / f"epoch_{self.current_epoch:03d}.png", self._sample_images)
        self._sample_images = None
