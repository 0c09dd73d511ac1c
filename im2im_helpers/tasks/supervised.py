"""``Supervised``: learn input -> target from pairs; regression (label-free prediction,
restoration) and semantic segmentation."""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L
import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import nn

from im2im_helpers import models

REGRESSION_LOSSES = ("mse", "l1")
SEGMENTATION_LOSSES = ("dice_ce",)
SCHEDULERS = (None, "cosine", "onecycle")


class Supervised(L.LightningModule):
    """Learn ``input -> target`` from pairs, optionally weighted per pixel by a cost map.

    Parameters
    ----------
    model : torch.nn.Module or dict
        A network from :func:`im2im_helpers.models.build`, or the dict that builds one. Only
        networks made by ``models.build`` can be reloaded from a checkpoint by name.
    loss : {"mse", "l1", "dice_ce"}
        Regression losses compare intensities; ``"dice_ce"`` is Dice + cross-entropy for
        segmentation (targets hold class indices; one output channel means binary, sigmoid).
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam weight decay.
    scheduler : {None, "cosine", "onecycle"}
        ``"cosine"`` decays the learning rate to zero over the run's ``max_epochs``;
        ``"onecycle"`` warms up to ``lr`` and anneals, stepped per batch (see :func:`adam`).
    """

    #: The task's name in a run's ``config.yaml`` (``task.kind``).
    KIND = "supervised"

    def __init__(self, model: nn.Module | Mapping, loss: str = "mse", lr: float = 1e-3,
                 weight_decay: float = 0.0, scheduler: str | None = None):
        super().__init__()
        if loss not in REGRESSION_LOSSES + SEGMENTATION_LOSSES:
            raise ValueError(
                f"loss={loss!r}: choose one of {REGRESSION_LOSSES + SEGMENTATION_LOSSES}."
            )
        self.net = models.build(**model) if isinstance(model, Mapping) else model
        self.save_hyperparameters(ignore=["model"])
        self.hparams["model"] = getattr(self.net, "im2im_spec", None)
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler={scheduler!r}: choose one of {SCHEDULERS}.")
        self.dice = DiceLoss(sigmoid=True) if self._binary else DiceLoss(
            to_onehot_y=True, softmax=True)

    @property
    def _binary(self) -> bool:
        spec = self.hparams.get("model") or {}
        return spec.get("out_channels", 1) == 1


    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def postprocess(self, y: torch.Tensor) -> torch.Tensor:
        """Turn network outputs into predictions: identity for regression, probabilities for
        segmentation."""
        if self.hparams.loss in REGRESSION_LOSSES:
            return y
        return torch.sigmoid(y) if self._binary else torch.softmax(y, dim=1)

    def compute_loss(self, pred: torch.Tensor, target: torch.Tensor,
                     cost: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of ``pred`` against ``target``, pixels weighted by ``cost`` when given."""
        if self.hparams.loss == "mse":
            pointwise = F.mse_loss(pred, target, reduction="none")
        elif self.hparams.loss == "l1":
            pointwise = F.l1_loss(pred, target, reduction="none")
        elif self._binary:
            pointwise = F.binary_cross_entropy_with_logits(pred, target.float(), reduction="none")
        else:
            pointwise = F.cross_entropy(pred, target[:, 0].long(), reduction="none")[:, None]
        if cost is not None:
            pointwise = pointwise * cost
        value = pointwise.mean()
        if self.hparams.loss == "dice_ce":
            value = value + self.dice(pred, target)
        return value

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.compute_loss(self(batch["input"]), batch["target"], batch.get("cost"))
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=batch["input"].shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.compute_loss(self(batch["input"]), batch["target"], batch.get("cost"))
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=batch["input"].shape[0])
        return loss

    def configure_optimizers(self):
        return adam(self, self.hparams.lr, self.hparams.weight_decay, self.hparams.scheduler)


def adam(task: L.LightningModule, lr: float, weight_decay: float = 0.0,
         scheduler: str | None = None):
    """Adam over ``task``'s parameters (what every task's ``configure_optimizers`` returns).

    ``scheduler="cosine"``: the learning rate decays to zero over the trainer's ``max_epochs``.
    ``scheduler="onecycle"``: it rises from ``lr / 25`` to ``lr`` over the first 30 % of the
    run's optimizer steps, then anneals to near zero (Smith's one-cycle policy: a high ``lr``
    for short runs, stepped every batch)."""
    optimizer = torch.optim.Adam(task.parameters(), lr=lr, weight_decay=weight_decay)
    if scheduler is None:
        return optimizer
    if scheduler == "onecycle":
        steps = max(1, int(task.trainer.estimated_stepping_batches))
        one_cycle = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps,
                                                        pct_start=0.3)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": one_cycle, "interval": "step"}}
    epochs = max(1, task.trainer.max_epochs or 1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "epoch"}}
