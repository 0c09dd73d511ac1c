"""``Registration``: learn to align a moving image to a fixed one (deformable or affine), 2D
and 3D, with MONAI's registration networks and losses.

The network sees ``moving`` and ``fixed`` as two channels and predicts a displacement field
in the convention of :mod:`im2im_helpers.data.deform` (MONAI's ``Warp``): ``(dims, *spatial)``
in pixels, channels in the image's axis order, ``warped(x) = moving(x + u(x)) ~ fixed(x)``.

Training batches are the patches of :class:`~im2im_helpers.data.patches.PatchDataModule`:
with ``deform`` set, each ``input`` patch is the moving image and the fixed image is made by
warping it with a random field drawn on the fly (so the true displacement is known and an
endpoint-error term and metric are available); with ``deform=None`` the batch's ``input`` is
the moving and its ``target`` the fixed image, e.g. consecutive time-lapse frames from
:func:`im2im_helpers.data.deform.consecutive` (no ground truth: similarity and smoothness
only).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import BendingEnergyLoss, LocalNormalizedCrossCorrelationLoss
from monai.networks.blocks import DVF2DDF
from torch import nn

from im2im_helpers import models
from im2im_helpers.data import deform
from im2im_helpers.tasks.supervised import SCHEDULERS, adam

SIMILARITIES = ("lncc", "mse")
#: Registration networks of :func:`im2im_helpers.models.build` (MONAI's); any other network
#: there works too (e.g. ``"unet"``: a VoxelMorph-style U-Net).
NETWORKS = ("localnet", "globalnet", "voxelmorph")
#: Random fields the task draws for training when ``deform`` is given (see
#: :func:`im2im_helpers.data.deform.random_fields`).
DEFAULT_DEFORM = {"kind": "smooth", "max_displacement": 4.0,
                  "smoothness": deform.DEFAULT_SMOOTHNESS}
#: Seed stream of the fixed validation fields (the same fields every epoch).
VALIDATION_SEED = 12345


def network(name: str, dims: int, in_channels: int = 2, out_channels: int | None = None,
            seed: int = 0, **options) -> nn.Module:
    """A registration network taking ``moving`` and ``fixed`` as two channels and returning a
    displacement field (``dims`` channels, pixels; see the module's convention).

    Parameters
    ----------
    name : str
        ``"localnet"`` (MONAI's LocalNet: dense field; options ``num_channel_initial=16``,
        ``depth=3``), ``"globalnet"`` (GlobalNet: an affine map as a dense field; options
        ``image_size`` (the patch size, required), ``num_channel_initial``, ``depth``),
        ``"voxelmorph"`` (VoxelMorphUNet; options ``channels``, ``final_conv_channels``) or any
        network of :func:`im2im_helpers.models.build` (``"unet"``, ...).
    dims : {2, 3}
        Spatial dimensions.
    in_channels : int
        2 (moving and fixed).
    out_channels : int, optional
        ``dims`` (the default); the displacement's channels.
    seed : int
        Seed of the initial weights (the global random state is left as it was).
    **options
        The network's options.

    Returns
    -------
    torch.nn.Module
        With ``im2im_spec``, the arguments that rebuild it.
    """
    out_channels = dims if out_channels is None else out_channels
    if in_channels != 2 or out_channels != dims:
        raise ValueError(f"in_channels={in_channels}, out_channels={out_channels}: a registration "
                         f"network takes 2 channels (moving, fixed) and returns {dims} (one "
                         "displacement per spatial axis).")
    return models.build(name, dims, in_channels, out_channels, seed, **options)


def _check_deform(values: Mapping | None) -> dict | None:
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise ValueError(f"deform={values!r}: give a mapping such as {DEFAULT_DEFORM} or None.")
    unknown = set(values) - {"kind", "max_displacement", "smoothness"}
    if unknown:
        raise ValueError(f"deform: unknown setting {sorted(unknown)}; the settings are 'kind', "
                         "'max_displacement' and 'smoothness'.")
    merged = {**DEFAULT_DEFORM, **values}
    deform.check_kind(merged["kind"], float(merged["max_displacement"]),
                      float(merged["smoothness"]))
    return merged


class Registration(L.LightningModule):
    """Learn a displacement field that warps ``moving`` onto ``fixed``.

    Loss: ``similarity(warp(moving, u), fixed) + bending * BendingEnergy(u) + supervised *
    mean(|u - u_true|^2)`` (the last term only where the true field is known; the endpoint
    error ``mean(|u - u_true|)`` is logged as ``train_epe``/``val_epe``).

    Parameters
    ----------
    model : torch.nn.Module or dict
        A network from :func:`network` (2 input channels, ``dims`` output channels), or the
        dict that builds one, e.g. ``{"name": "localnet", "dims": 2}``.
    similarity : {"lncc", "mse"}
        ``"lncc"``: MONAI's local normalised cross-correlation (robust to intensity changes
        between frames); ``"mse"``: mean squared difference.
    bending : float
        Weight of MONAI's bending energy of the field (smoothness).
    supervised : float
        Weight of the mean squared difference to the true field, in pixels squared (synthetic
        deformations).
    deform : dict or None
        Random fields that make the fixed image from each ``input`` patch:
        ``{"kind": "smooth" | "translation" | "affine", "max_displacement": 4.0,
        "smoothness": 8.0}`` (each field's longest vector is uniform in
        ``[0, max_displacement]``). ``None``: the batches hold real pairs (``input`` moving,
        ``target`` fixed).
    integration_steps : int
        0: the network predicts the displacement; ``> 0``: a velocity field integrated by
        scaling and squaring (MONAI's ``DVF2DDF``, diffeomorphic as in VoxelMorph).
    lncc_kernel : int
        Window of the LNCC similarity (odd, pixels).
    lr, weight_decay, scheduler
        Adam's settings (see :func:`im2im_helpers.tasks.supervised.adam`).
    """

    #: The task's name in a run's ``config.yaml`` (``task.kind``).
    KIND = "registration"
    #: The network's input holds two images (moving, fixed) of the pairs' one channel each.
    IMAGES_PER_INPUT = 2

    def __init__(self, model: nn.Module | Mapping, similarity: str = "lncc",
                 bending: float = 1.0, supervised: float = 0.0,
                 deform: Mapping | None = DEFAULT_DEFORM, integration_steps: int = 0,
                 lncc_kernel: int = 9, lr: float = 1e-3, weight_decay: float = 0.0,
                 scheduler: str | None = None):
        super().__init__()
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity={similarity!r}: choose one of {SIMILARITIES}.")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler={scheduler!r}: choose one of {SCHEDULERS}.")
        for name, value in (("bending", bending), ("supervised", supervised)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}={value!r}: give a weight >= 0.")
        if integration_steps < 0:
            raise ValueError(f"integration_steps={integration_steps}: give 0 or more steps.")
        if lncc_kernel < 1 or lncc_kernel % 2 == 0:
            raise ValueError(f"lncc_kernel={lncc_kernel}: give an odd window size in pixels.")
        deform_settings = _check_deform(deform)
        self.net = network(**model) if isinstance(model, Mapping) else model
        spec = getattr(self.net, "im2im_spec", None)
        self.save_hyperparameters(ignore=["model"])
        self.hparams["model"] = spec
        self.hparams["deform"] = deform_settings
        self.dims = int(spec["dims"]) if spec else None
        with warnings.catch_warnings():  # "Using PyTorch native grid_sample": expected
            warnings.simplefilter("ignore")
            self.dvf2ddf = DVF2DDF(integration_steps, padding_mode="border") \
                if integration_steps else None
        self.bending_energy = BendingEnergyLoss()

    def _dims(self, x: torch.Tensor) -> int:
        return self.dims or x.ndim - 2

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """The displacement ``(B, dims, *spatial)`` that registers ``moving`` to ``fixed``
        (both ``(B, 1, *spatial)``; the network sees them standardised by one mean and standard
        deviation per pair)."""
        if moving.shape != fixed.shape:
            raise ValueError(f"moving has shape {tuple(moving.shape)} but fixed has shape "
                             f"{tuple(fixed.shape)}: register batches of one shape.")
        pair = torch.cat([moving, fixed], dim=1)
        # standardised per pair (one mean and spread for both images): faint contrast, as in
        # transmitted light, and bright fluorescence train alike
        flat = pair.flatten(1)
        mean = flat.mean(1).reshape(-1, *[1] * (pair.ndim - 1))
        std = flat.std(1).clamp_min(1e-6).reshape(-1, *[1] * (pair.ndim - 1))
        u = self.net((pair - mean) / std)
        return self.dvf2ddf(u) if self.dvf2ddf is not None else u

    def similarity_loss(self, warped: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """The dissimilarity of ``warped`` and ``fixed`` (lower is better)."""
        if self.hparams.similarity == "mse":
            return F.mse_loss(warped, fixed)
        lncc = LocalNormalizedCrossCorrelationLoss(spatial_dims=self._dims(fixed),
                                                   kernel_size=self.hparams.lncc_kernel)
        return lncc(warped, fixed)

    def synthesize(self, image: torch.Tensor, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(moving, fixed, displacement)`` from a batch of images: ``fixed`` is ``image``
        warped by random fields of ``deform`` (drawn from ``generator``, else torch's global
        random state, which :func:`im2im_helpers.train.fit` seeds every epoch)."""
        d = self.hparams.deform
        u = deform.random_fields(image.shape[0], image.shape[2:], d["kind"],
                                 float(d["max_displacement"]), float(d["smoothness"]),
                                 random_scale=True, generator=generator, device="cpu")
        u = u.to(image.device, image.dtype)
        return image, deform.warp_tensor(image, u), u

    def _triplet(self, batch: dict, generator: torch.Generator | None = None):
        if self.hparams.deform is not None:
            return self.synthesize(batch["input"], generator)
        if "target" not in batch:
            raise ValueError("deform=None: the batches need an 'input' (moving) and a 'target' "
                             "(fixed) image, e.g. pairs of data.deform.consecutive.")
        return batch["input"], batch["target"], batch.get("displacement")

    def losses(self, moving: torch.Tensor, fixed: torch.Tensor,
               true: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The loss and its terms: ``loss``, ``similarity``, ``bending`` and, when ``true`` is
        given, ``epe`` (mean endpoint error in pixels, not differentiated) and ``field_mse``."""
        u = self(moving, fixed)
        warped = deform.warp_tensor(moving, u)
        with warnings.catch_warnings():  # MONAI indexes with lists, which torch deprecates
            warnings.filterwarnings("ignore", message=".*non-tuple sequence.*")
            bending = self.bending_energy(u)
        terms = {"similarity": self.similarity_loss(warped, fixed), "bending": bending}
        loss = terms["similarity"] + self.hparams.bending * terms["bending"]
        if true is not None:
            squared = (u - true).pow(2).sum(1)
            terms["epe"] = squared.detach().sqrt().mean()
            # squared: the mean endpoint error's gradient has one length everywhere and pulls
            # an untrained network to the zero field (the geometric median of random fields)
            terms["field_mse"] = squared.mean()
            loss = loss + self.hparams.supervised * terms["field_mse"]
        terms["loss"] = loss
        return terms

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        terms = self.losses(*self._triplet(batch))
        n = batch["input"].shape[0]
        self.log("train_loss", terms["loss"], on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=n)
        if "epe" in terms:
            self.log("train_epe", terms["epe"], on_step=False, on_epoch=True, batch_size=n)
        return terms["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        # the same fields every epoch: a generator seeded by the batch's position
        generator = torch.Generator().manual_seed(VALIDATION_SEED + batch_idx)
        terms = self.losses(*self._triplet(batch, generator))
        n = batch["input"].shape[0]
        self.log("val_loss", terms["loss"], on_epoch=True, prog_bar=True, batch_size=n)
        self.log("val_similarity", terms["similarity"], on_epoch=True, batch_size=n)
        if "epe" in terms:
            self.log("val_epe", terms["epe"], on_epoch=True, prog_bar=True, batch_size=n)
        return terms["loss"]

    def configure_optimizers(self):
        return adam(self, self.hparams.lr, self.hparams.weight_decay, self.hparams.scheduler)

    @torch.no_grad()
    def register(self, moving, fixed) -> tuple[np.ndarray, np.ndarray]:
        """Register one pair of images.

        Parameters
        ----------
        moving, fixed : array
            One image each, of one shape: ``(Y, X)``, ``(1, Y, X)`` or ``(1, Z, Y, X)``.

        Returns
        -------
        displacement : numpy.ndarray
            ``(dims, *spatial)`` float32, pixels (see the module's convention).
        warped : numpy.ndarray
            ``moving`` warped by it, of ``moving``'s shape.

        Images are padded (edge values) to a multiple of the network's size divisor; a
        GlobalNet, built for one patch size, sees both images resized to it and its affine field
        is scaled back to the images' grid (exact for an affine map).
        """
        deform.check_pair(moving, fixed)
        dims = deform.spatial_dims_of(moving, "moving")
        shape = np.shape(moving)[-dims:]
        was_training = self.training
        self.eval()
        device = models.device_of(self)
        m = torch.as_tensor(np.asarray(moving, np.float32).reshape(1, 1, *shape), device=device)
        f = torch.as_tensor(np.asarray(fixed, np.float32).reshape(1, 1, *shape), device=device)
        spec = self.hparams.model or {}
        if spec.get("name") == "globalnet":
            size = [int(s) for s in spec["image_size"]]
            mode = "bilinear" if dims == 2 else "trilinear"
            resize = lambda x: F.interpolate(x, size=size, mode=mode, align_corners=True)  # noqa: E731
            u = F.interpolate(self(resize(m), resize(f)), size=list(shape), mode=mode,
                              align_corners=True)
            scale = torch.tensor([(s - 1) / max(r - 1, 1) for s, r in zip(shape, size)],
                                 device=device, dtype=u.dtype)
            u = u * scale.reshape(1, dims, *[1] * dims)
        else:
            multiple = models.size_divisor(dict(spec)) if spec else 1
            pad = [(-s) % multiple for s in shape]
            flat = [p for extra in reversed(pad) for p in (0, extra)]
            mode = "replicate"
            u = self(F.pad(m, flat, mode=mode), F.pad(f, flat, mode=mode))
            u = u[(slice(None), slice(None), *(slice(0, s) for s in shape))]
        warped = deform.warp_tensor(m, u)
        self.train(was_training)
        return (u[0].float().cpu().numpy(),
                warped[0].float().cpu().numpy().reshape(np.shape(moving)))
