"""The tasks :func:`im2im_helpers.auto.run` configures: what is learned, with which losses, and
which metric chooses between candidates."""

from __future__ import annotations

from dataclasses import dataclass


class AutoError(ValueError):
    """Automatic configuration cannot go on as asked: the message names the input (folder,
    task, budget, output folder), what was expected and what to do."""


@dataclass(frozen=True)
class AutoTask:
    """One task of automatic configuration.

    Attributes
    ----------
    name : str
        The name given on the command line (``--task``).
    losses : tuple of str
        Losses of :class:`~im2im_helpers.tasks.Supervised` the candidates use, the first one
        preferred.
    metric : str
        Name in :data:`im2im_helpers.metrics.METRICS` that scores a prediction on held-out
        pairs; higher is better for every metric used here.
    metrics : tuple of str
        Every metric reported on the test pairs.
    segmentation : bool
        Targets are masks (or label images, turned into foreground masks); the network
        predicts a probability per pixel.
    description : str
        What the task is, for reports.
    """

    name: str
    losses: tuple[str, ...]
    metric: str
    metrics: tuple[str, ...]
    segmentation: bool
    description: str


#: Tasks by name (``--task``); aliases in :data:`ALIASES`.
AUTO_TASKS: dict[str, AutoTask] = {
    "labelfree": AutoTask("labelfree", ("mse", "l1"), "pearson",
                          ("pearson", "ssim", "psnr", "nrmse"), False,
                          "label-free prediction (regression of one image from another)"),
    "denoising": AutoTask("denoising", ("l1", "mse"), "psnr",
                          ("psnr", "ssim", "pearson", "nrmse"), False,
                          "restoration from noisy/clean pairs (regression)"),
    "semantic": AutoTask("semantic", ("dice_ce",), "dice", ("dice", "iou"), True,
                         "semantic segmentation (binary foreground masks)"),
}
#: Other spellings of the task names.
ALIASES = {"label-free": "labelfree", "regression": "labelfree", "restoration": "denoising",
           "segmentation": "semantic", "semantic-segmentation": "semantic",
           "semantic_segmentation": "semantic"}


def get_task(name: str) -> AutoTask:
    """The :class:`AutoTask` called ``name`` (or one of its :data:`ALIASES`).

    Raises
    ------
    AutoError
        For an unknown name, listing the known ones.
    """
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in AUTO_TASKS:
        raise AutoError(f"task {name!r} is not one automatic configuration knows; choose one of "
                        f"{sorted(AUTO_TASKS)} (aliases: {sorted(ALIASES)}). Instance "
                        "segmentation, Noise2Void and GANs are configured by hand (tutorials "
                        "02, 05-08).")
    return AUTO_TASKS[key]
