"""The network a package holds: a run's trained network rebuilt by the package's own
architecture file, what its outputs are, and the context (receptive field, halo, valid sizes)
that sliding windows need."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import lightning as L

from im2im_helpers import models
from im2im_helpers.export import architecture
from im2im_helpers.export.errors import ExportError
from im2im_helpers.stream.tiling import receptive_field  # noqa: F401 - the export's halo uses it
from im2im_helpers.tasks import CycleGAN, InstanceEmbedding, Noise2Void, Pix2Pix, Supervised
from im2im_helpers.tasks.supervised import SEGMENTATION_LOSSES

#: Spec keys of :func:`im2im_helpers.models.build` that are not network options.
_NOT_OPTIONS = ("name", "dims", "in_channels", "out_channels", "seed")



@dataclass
class Exportable:
    """A trained network as a package holds it.

    Attributes
    ----------
    network : architecture.ExportedNetwork
        Built by the package's architecture file with the run's weights, in eval mode.
    kwargs : dict or None
        Arguments of :func:`~im2im_helpers.export.architecture.build_network` that rebuild it;
        ``None`` for a network the architecture file does not know (such a package holds
        TorchScript and ONNX weights only).
    postprocessing : {"none", "sigmoid", "softmax"}
        What the package's postprocessing applies to the network's outputs (the task's
        ``postprocess``; an embedding network's is part of the network).
    role : str
        What the outputs are: ``"regression"``, ``"denoising"``, ``"segmentation"``,
        ``"instance embedding"`` or ``"generator"``.
    spec : dict
        The network's ``im2im_spec`` (see :func:`im2im_helpers.models.build`).
    output_names : list of str
        One name per output channel.
    """

    network: architecture.ExportedNetwork
    kwargs: dict
    postprocessing: str
    role: str
    spec: dict
    output_names: list[str]


def _role(task: L.LightningModule, spec: dict) -> tuple[str, str, dict | None, list[str]]:
    """``(role, postprocessing, head, output channel names)`` of a task's network."""
    dims, out = int(spec["dims"]), int(spec["out_channels"])
    axes = "zyx"[3 - dims:]
    if isinstance(task, InstanceEmbedding):
        h = task.hparams
        n_sigma = dims if h.sigma_per_axis else 1
        head = {"kind": "embedding", "n_sigma": n_sigma,
                "sigma_scale": float(h.sigma_init * h.pixel_size)}
        sigmas = [f"sigma_{a}" for a in axes] if n_sigma == dims else ["sigma"]
        return "instance embedding", "none", head, [f"offset_{a}" for a in axes] + sigmas + [
            "seediness"]
    if isinstance(task, Supervised):  # Noise2Void is a Supervised task
        if task.hparams.loss in SEGMENTATION_LOSSES:
            names = ["foreground"] if out == 1 else [f"class{i}" for i in range(out)]
            return "segmentation", "sigmoid" if out == 1 else "softmax", None, names
        role = "denoising" if isinstance(task, Noise2Void) else "regression"
        return role, "none", None, [f"prediction{i}" for i in range(out)] if out > 1 else [
            "prediction"]
    if isinstance(task, (Pix2Pix, CycleGAN)):
        return "generator", "none", None, [f"output{i}" for i in range(out)] if out > 1 else [
            "output"]
    raise ExportError(f"{type(task).__name__}: no export is defined for this task; export a "
                      "Supervised, Noise2Void, InstanceEmbedding, Pix2Pix or CycleGAN run.")


def exportable(task: L.LightningModule) -> Exportable:
    """The network of a trained task (a GAN's generator: ``A -> B`` for CycleGAN) as a package
    holds it, rebuilt by :func:`~im2im_helpers.export.architecture.build_network` and loaded
    strictly with the task's weights (any difference of architecture is an error here). A
    network of :func:`~im2im_helpers.models.build` that the architecture file does not know
    is kept as it is (``kwargs`` is ``None``)."""
    spec = task.hparams.get("model") or getattr(task.net, "im2im_spec", None)
    if not spec or not spec.get("name") or not spec.get("dims"):
        raise ExportError(f"{type(task.net).__name__}: the network was not made by "
                          "models.build, so its package could not say how to rebuild it; "
                          "build it with im2im_helpers.models.build.")
    role, post, head, names = _role(task, spec)
    kwargs = None
    if spec["name"] in architecture.NETWORKS:
        options = {k: v for k, v in spec.items() if k not in _NOT_OPTIONS}
        kwargs = {"name": spec["name"], "dims": int(spec["dims"]),
                  "in_channels": int(spec.get("in_channels", 1)),
                  "out_channels": int(spec.get("out_channels", 1)), "options": options,
                  "head": head}
        network = architecture.build_network(**kwargs)
        network.net.load_state_dict(task.net.state_dict(), strict=True)
    else:
        dims = int(spec["dims"])
        network = architecture.ExportedNetwork(
            copy.deepcopy(task.net), head and architecture.EmbeddingHead(
                dims, head["n_sigma"], head["sigma_scale"]))
    return Exportable(network.eval(), kwargs, post, role, dict(spec), names)


def halo(field: Sequence[int], patch: Sequence[int]) -> list[int]:
    """The halo of each output axis: the receptive-field radius, at most a quarter of the
    training patch (the network never saw more context than its patch; a larger halo only
    enlarges every tile)."""
    return [max(0, min(int(r), int(p) // 4)) for r, p in zip(field, patch)]


def min_sizes(halos: Sequence[int], step: int) -> list[int]:
    """The smallest valid input size per axis: a multiple of ``step`` (the network's size
    divisor) that leaves at least one pixel after cropping the halo from both sides."""
    return [step * max(1, math.ceil((2 * h + 1) / step)) for h in halos]


def size_step(spec: dict) -> int:
    """The network's size divisor (:func:`im2im_helpers.models.size_divisor`): every valid
    input size is a multiple of it."""
    return models.size_divisor(spec)
