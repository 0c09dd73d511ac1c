"""``Diffusion``: image-to-image translation by a conditional denoising diffusion model.

The target image is destroyed step by step with Gaussian noise (a fixed schedule of ``timesteps``
steps); a network learns to undo it — predicting the velocity, a mix of the added noise and the
clean target (or the noise itself, or the target: ``prediction_type``) — given the noisy target
*and the input image* concatenated as channels (Saharia et al., "Palette", 2022; Ho et al., DDPM,
2020). To predict, sampling starts from pure noise and removes the noise step by step, here
with DDIM (Song et al., 2021: ``sampling_steps`` steps instead of ``timesteps``, deterministic
once the starting noise is drawn). Each start gives another plausible target: the spread of
several samples is an uncertainty map (:func:`im2im_helpers.uncertainty.diffusion`).

Built on MONAI's own components (in MONAI core since 1.4): ``DiffusionModelUNet`` (the
network, :func:`im2im_helpers.models.build` with ``"diffusion_unet"``), ``DDPMScheduler`` and
``DDIMScheduler`` (the noise schedules) and ``DiffusionInferer`` (training step and sampling
loop, ``mode="concat"``).

Targets are scaled from the pairs' normalised range (about 0–1) to about −1–1 for the network,
as diffusion models expect, and back in :meth:`Diffusion.postprocess`.
"""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L
import torch
import torch.nn.functional as F
from monai.inferers import DiffusionInferer
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler
from torch import nn

from im2im_helpers import models
from im2im_helpers.tasks.supervised import SCHEDULERS, adam

#: Noise schedules of MONAI's schedulers that the task accepts.
NOISE_SCHEDULES = ("linear_beta", "scaled_linear_beta", "sigmoid_beta")
#: What the network predicts (MONAI's ``prediction_type``): the velocity
#: ``sqrt(alpha_bar) * noise - sqrt(1 - alpha_bar) * target`` (``"v_prediction"``, Salimans & Ho,
#: 2022; the default), the noise that was added (``"epsilon"``, DDPM's choice) or the clean target
#: (``"sample"``). From a predicted noise the clean image is recovered by dividing by
#: ``sqrt(alpha_bar)``, about 0.02 at the noisiest steps, so an imperfect network's error is
#: amplified fifty-fold exactly where DDIM starts; the velocity needs no such division, learns
#: faster and gives clean samples in few steps (``tests/tasks/test_diffusion_toy.py``).
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


def to_model_range(y: torch.Tensor) -> torch.Tensor:
    """A normalised target (about 0–1) in the network's range (about −1–1)."""
    return 2.0 * y - 1.0


def from_model_range(y: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`to_model_range`."""
    return (y + 1.0) / 2.0


def network(dims: int, in_channels: int = 1, out_channels: int = 1,
            channels: tuple[int, ...] = (32, 64, 64), seed: int = 0, **options) -> nn.Module:
    """A ``DiffusionModelUNet`` for ``in_channels`` condition channels and ``out_channels``
    target channels (its own input is both, concatenated).

    Parameters
    ----------
    dims : {2, 3}
        Spatial dimensions.
    in_channels, out_channels : int
        Channels of the condition (input image) and of the target.
    channels : tuple of int
        Features per level (one fewer halving than levels: a size divisor of
        ``2 ** (len(channels) - 1)``).
    seed : int
        Seed of the initial weights.
    **options
        Other ``DiffusionModelUNet`` options (``num_res_blocks``, ``attention_levels``,
        ``norm_num_groups``, ``num_head_channels``).
    """
    return models.build("diffusion_unet", dims, in_channels=in_channels + out_channels,
                        out_channels=out_channels, channels=tuple(channels), seed=seed,
                        **options)


def check_steps(steps, timesteps: int) -> int:
    """``steps`` as an int when it is a number of sampling steps from 1 to ``timesteps``.

    Raises
    ------
    ValueError
        Naming ``sampling_steps`` and the range, otherwise (0 or fewer steps, more than the
        schedule has, or not a whole number).
    """
    try:
        whole = int(steps) == steps
    except (TypeError, ValueError):
        whole = False
    if not whole or not 1 <= int(steps) <= int(timesteps):
        raise ValueError(f"sampling_steps={steps!r}: give a whole number from 1 to timesteps "
                         f"({timesteps}); DDIM needs 20-50 for a good sample.")
    return int(steps)


class Diffusion(L.LightningModule):
    """Learn ``input -> target`` as a conditional denoising diffusion model.

    Parameters
    ----------
    model : torch.nn.Module or dict
        A ``DiffusionModelUNet`` from :func:`network` (its input channels are the target's plus
        the condition's), or the dict that builds one with :func:`im2im_helpers.models.build`.
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam weight decay.
    scheduler : {None, "cosine", "onecycle"}
        Learning-rate schedule, as for :class:`~im2im_helpers.tasks.Supervised`.
    timesteps : int
        Steps of the noise schedule in training (DDPM's ``T``).
    noise_schedule : {"linear_beta", "scaled_linear_beta", "sigmoid_beta"}
        How the noise grows over the steps (MONAI's ``schedule``).
    beta_start, beta_end : float
        Noise variance added at the first and at the last step.
    sampling_steps : int
        DDIM steps of one sample at prediction time (each is one pass of the network).
    seed : int
        Seed of the starting noise of the samples (:meth:`reseed` starts the sequence again).
    prediction_type : {"v_prediction", "epsilon", "sample"}
        What the network learns to predict (:data:`PREDICTION_TYPES`); the loss is the mean
        squared error of that quantity.

    Notes
    -----
    Called on an image batch (what :func:`im2im_helpers.predict.image` does for each window),
    the task draws one sample per image: the starting noise comes from the task's own
    generator, so predictions are reproducible after :meth:`reseed` and independent of the
    global random state.
    """

    #: The task's name in a run's ``config.yaml`` (``task.kind``).
    KIND = "diffusion"
    #: The network's input holds the (noisy) target's channels after the input image's.
    TARGET_IN_INPUT = True

    def __init__(self, model: nn.Module | Mapping, lr: float = 1e-3, weight_decay: float = 0.0,
                 scheduler: str | None = "cosine", timesteps: int = 1000,
                 noise_schedule: str = "scaled_linear_beta", beta_start: float = 0.0005,
                 beta_end: float = 0.0195, sampling_steps: int = 50, seed: int = 0,
                 prediction_type: str = "v_prediction"):
        super().__init__()
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler={scheduler!r}: choose one of {SCHEDULERS}.")
        if noise_schedule not in NOISE_SCHEDULES:
            raise ValueError(f"noise_schedule={noise_schedule!r}: choose one of "
                             f"{NOISE_SCHEDULES}.")
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type={prediction_type!r}: choose one of "
                             f"{PREDICTION_TYPES}.")
        check_steps(sampling_steps, timesteps)
        self.net = models.build(**model) if isinstance(model, Mapping) else model
        spec = getattr(self.net, "im2im_spec", None) or {}
        if spec and spec.get("name") != "diffusion_unet":
            raise ValueError(f"Diffusion needs a 'diffusion_unet' network (tasks.diffusion."
                             f"network), got {spec.get('name')!r}.")
        self.save_hyperparameters(ignore=["model"])
        self.hparams["model"] = spec or None
        schedule = dict(schedule=noise_schedule, beta_start=beta_start, beta_end=beta_end,
                        prediction_type=prediction_type)
        self.training_noise = DDPMScheduler(num_train_timesteps=timesteps, clip_sample=False,
                                            **schedule)
        self.sampling_noise = DDIMScheduler(num_train_timesteps=timesteps, clip_sample=False,
                                            **schedule)
        self.inferer = DiffusionInferer(self.training_noise)
        self.generator = torch.Generator().manual_seed(int(seed))

    @property
    def target_channels(self) -> int:
        """Channels of the target (the network's output)."""
        return int(self.hparams["model"]["out_channels"]) if self.hparams["model"] else 1

    def reseed(self, seed: int | None = None) -> None:
        """Start the sequence of sampling noise again from ``seed`` (default: the task's)."""
        self.generator.manual_seed(int(self.hparams.seed if seed is None else seed))

    def sample(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """One sample of the target for each condition image of ``x``, in the network's range.

        Parameters
        ----------
        x : torch.Tensor
            Condition images ``(B, C, *spatial)``.
        steps : int, optional
            DDIM steps (default ``sampling_steps``): 1 to ``timesteps``.

        Raises
        ------
        ValueError
            If the steps are not between 1 and ``timesteps``.
        """
        steps = check_steps(self.hparams.sampling_steps if steps is None else steps,
                            self.hparams.timesteps)
        self.sampling_noise.set_timesteps(steps, device=x.device)
        shape = (x.shape[0], self.target_channels, *x.shape[2:])
        noise = torch.randn(shape, generator=self.generator).to(x.device, x.dtype)
        return self.inferer.sample(input_noise=noise, diffusion_model=self.net,
                                   scheduler=self.sampling_noise, conditioning=x,
                                   mode="concat", verbose=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sample(x)

    def postprocess(self, y: torch.Tensor) -> torch.Tensor:
        """A sample in the targets' normalised range."""
        return from_model_range(y)

    def noise_loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean squared error of the network's prediction at random steps (DDPM's simple loss).

        ``generator`` draws the steps and the noise (validation: the same for every epoch);
        without it the global random state does (training: seeded per epoch by the run). The
        predicted quantity is the task's ``prediction_type`` (the velocity by default)."""
        x, y = batch["input"], to_model_range(batch["target"])
        steps = torch.randint(0, int(self.hparams.timesteps), (y.shape[0],),
                              generator=generator).to(y.device)
        noise = torch.randn(y.shape, generator=generator).to(y.device, y.dtype)
        predicted = self.inferer(inputs=y, diffusion_model=self.net, noise=noise,
                                 timesteps=steps, condition=x, mode="concat")
        kind = self.hparams.prediction_type
        if kind == "sample":
            wanted = y
        elif kind == "v_prediction":
            wanted = self.training_noise.get_velocity(y, noise, steps)
        else:
            wanted = noise
        return F.mse_loss(predicted, wanted)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.noise_loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=batch["input"].shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.noise_loss(batch, torch.Generator().manual_seed(batch_idx))
        self.log("val_loss", loss, on_epoch=True, prog_bar=True,
                 batch_size=batch["input"].shape[0])
        return loss

    def configure_optimizers(self):
        return adam(self, self.hparams.lr, self.hparams.weight_decay, self.hparams.scheduler)
