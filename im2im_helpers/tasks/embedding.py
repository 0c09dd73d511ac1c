"""``InstanceEmbedding``: instance segmentation by spatial embeddings, after EmbedSeg (Lalit et
al., MIDL 2021), which builds on the spatial embeddings of Neven et al. (CVPR 2019).

The network predicts per pixel an offset to its object's centre, a bandwidth sigma and a
seediness (see :mod:`im2im_helpers.tasks.instances`). Training needs only label images: for every
object of a patch, the Gaussian score of each pixel's embedding around the object's centre is
a soft mask, compared with the object's true mask by the Lovász hinge (a convex surrogate of
the intersection over union). Prediction clusters the embeddings around seeds. Objects may be
any shape (curved, branched, touching), in 2D and 3D.

Written here rather than taken from EmbedSeg: that package brings its own data layout, training
loop and crops; the method itself is a loss and a clustering on top of a MONAI network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import lightning as L
import numpy as np
import torch
from torch import nn

from im2im_helpers import models, predict
from im2im_helpers.metrics import ap50
from im2im_helpers.tasks import instances
from im2im_helpers.tasks.supervised import SCHEDULERS, adam
from im2im_helpers.tuning import Tuned, tune

#: Loss weights of EmbedSeg: Lovász hinge 1, sigma variance 10, seediness 1.
VARIANCE_WEIGHT = 10.0
SEED_WEIGHT = 1.0
#: Weight of object pixels in the seed term (EmbedSeg's ``foreground_weight``): background
#: pixels far outnumber object pixels, so without it the seediness of objects stays low.
FOREGROUND_WEIGHT = 10.0
#: Pixels per object among which the loss searches each object's medoid (see
#: :func:`im2im_helpers.tasks.instances.medoids`): the search costs ``objects x points^2``
#: distances per batch; 64 evenly spaced pixels find a centre within a pixel or two of the one
#: 256 find, four times faster per training step on nuclei patches.
LOSS_MEDOID_POINTS = 64
#: Clustering thresholds tried by :meth:`InstanceEmbedding.tune_clustering`.
SEED_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
FG_THRESHOLDS = (0.3, 0.4, 0.5)
MIN_SIZES = (10, 25, 50)
#: The task's hyperparameters that :meth:`InstanceEmbedding.cluster` uses (tuned on validation).
CLUSTER_OPTIONS = ("fg_threshold", "seed_threshold", "min_size")


def n_outputs(dims: int, sigma_per_axis: bool = True) -> int:
    """Output channels of the network: ``dims`` offsets, ``dims`` (or 1) sigmas, 1 seediness."""
    return dims + (dims if sigma_per_axis else 1) + 1


def split_outputs(y: torch.Tensor, sigma_per_axis: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split raw outputs ``(B, C, *spatial)`` into offset, sigma and seed channels (raw)."""
    dims = y.ndim - 2
    if y.shape[1] != n_outputs(dims, sigma_per_axis):
        raise ValueError(
            f"Expected {n_outputs(dims, sigma_per_axis)} output channels for {dims}D embeddings "
            f"(sigma_per_axis={sigma_per_axis}), got {y.shape[1]}."
        )
    n_sigma = dims if sigma_per_axis else 1
    return y[:, :dims], y[:, dims:dims + n_sigma], y[:, dims + n_sigma:]


def lovasz_hinge(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Lovász hinge loss (Berman et al., CVPR 2018) of each row: a convex, piecewise-linear
    extension of the Jaccard loss ``1 - IoU`` to real-valued scores.

    Parameters
    ----------
    logits : torch.Tensor
        ``(K, N)`` scores; positive means "in the object". A margin of 1 is asked for.
    labels : torch.Tensor
        ``(K, N)`` true masks (bool or 0/1).

    Returns
    -------
    torch.Tensor
        ``(K,)`` losses. Zero when every pixel is on its correct side with margin 1; equal to
        ``e`` when every pixel has the same hinge error ``e``.

    Notes
    -----
    The hinge errors ``max(0, 1 - logit * sign)`` are sorted in decreasing order; each is
    weighted by how much the Jaccard loss grows when its pixel is added to the set of errors
    (the discrete gradient of the Jaccard loss along that order).
    """
    labels = labels.to(logits.dtype)
    errors = 1 - logits * (2 * labels - 1)
    errors, order = torch.sort(errors, dim=1, descending=True)
    gt = labels.gather(1, order)
    positives = gt.sum(1, keepdim=True)
    intersection = positives - gt.cumsum(1)
    union = positives + (1 - gt).cumsum(1)
    jaccard = 1 - intersection / union.clamp(min=1)
    weights = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], dim=1)
    return (torch.relu(errors) * weights).sum(1)


def _chunks(k: int, n: int, budget: int = 2**24) -> list[slice]:
    """Slices over ``k`` objects so each chunk's ``(chunk, n)`` tensors stay below ``budget``."""
    step = max(1, budget // max(n, 1))
    return [slice(lo, lo + step) for lo in range(0, k, step)]


def embedding_loss(
    y: torch.Tensor,
    target: torch.Tensor,
    sigma_per_axis: bool = True,
    pixel_size: float = instances.PIXEL_SIZE,
    sigma_init: float = 8.0,
    variance_weight: float = VARIANCE_WEIGHT,
    seed_weight: float = SEED_WEIGHT,
    foreground_weight: float = FOREGROUND_WEIGHT,
    medoid_points: int = LOSS_MEDOID_POINTS,
) -> torch.Tensor:
    """The EmbedSeg loss of raw network outputs against label patches.

    For each image and each object ``k`` (label) of its target:

    * centre ``c_k``: the object's medoid (:func:`im2im_helpers.tasks.instances.medoids`) in
      embedding units -- a fixed point inside the object, also for curved objects;
    * bandwidth ``s_k = sigma_init * pixel_size * exp(mean of the sigma channel over k)``, one per
      axis (or one);
    * soft mask ``phi_k = exp(-sum_d (e_d - c_k,d)^2 / (2 s_k,d^2))`` over all pixels, where
      ``e = grid + tanh(offset channels)``;
    * instance term: Lovász hinge of ``2 phi_k - 1`` against the object's mask;
    * variance term: mean squared deviation of the sigma channel over ``k`` from its (detached)
      mean, so all pixels of an object predict the same bandwidth.

    Both are averaged over the objects of the image. The seed term is the mean over all pixels of
    ``foreground_weight * (seed - phi_k)^2`` on object pixels (``phi_k`` detached) and ``seed^2``
    on background
    (``seed = sigmoid(seed channel)``). Image loss = instance + ``variance_weight`` * variance
    + ``seed_weight`` * seed; the batch loss is the mean over images. An image without objects
    contributes its seed term only.

    Parameters
    ----------
    y : torch.Tensor
        Raw outputs ``(B, C, *spatial)`` (see :func:`split_outputs`).
    target : torch.Tensor
        Label patches ``(B, 1, *spatial)``: integer-valued (float accepted), 0 = background.
    sigma_per_axis : bool
        One bandwidth per axis (anisotropic objects or voxels) or one for all axes.
    pixel_size : float
        Embedding units per pixel (see :func:`im2im_helpers.tasks.instances.coordinate_grid`).
    sigma_init : float
        Bandwidth, in pixels, of a sigma channel at 0 (the start of training).
    variance_weight, seed_weight : float
        Weights of the variance and seed terms (EmbedSeg: 10 and 1).
    foreground_weight : float
        Weight of object pixels in the seed term (:data:`FOREGROUND_WEIGHT`).
    medoid_points : int
        Pixels per object among which its medoid is searched (:data:`LOSS_MEDOID_POINTS`).

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    offset_raw, sigma_raw, seed_raw = split_outputs(y, sigma_per_axis)
    b, dims, *spatial = offset_raw.shape
    grid = instances.coordinate_grid(spatial, y.device, pixel_size).reshape(1, dims, -1)
    emb = grid + torch.tanh(offset_raw.reshape(b, dims, -1))  # (B, D, N)
    log_sig = sigma_raw.reshape(b, sigma_raw.shape[1], -1)  # (B, S, N)
    seed = torch.sigmoid(seed_raw.reshape(b, -1))  # (B, N)
    log_scale = float(np.log(sigma_init * pixel_size))
    labels = torch.round(target[:, 0]).long().clamp(min=0)
    # every object of the batch gets its own id; the batch index is an extra (leading) axis of
    # the label image, constant within an object, so each medoid is that of its own image
    stride = int(labels.max()) + 1
    batch_index = torch.arange(b, device=y.device).reshape(b, *([1] * len(spatial)))
    unique = torch.where(labels > 0, labels + batch_index * stride, 0)
    ids, centres = instances.medoids(unique, medoid_points)
    owner = ids // stride  # the image of each object
    flat = unique.reshape(b, -1)
    instance_sum = y.new_zeros(b)
    variance_sum = y.new_zeros(b)
    score = torch.zeros_like(seed)  # each object pixel's phi for its own object
    for part in _chunks(len(ids), flat.shape[1] * dims):
        images = owner[part]
        masks = flat[images] == ids[part, None]  # (k, N)
        counts = masks.sum(1, keepdim=True)
        own_sig = log_sig[images]  # (k, S, N)
        mean_log = (masks[:, None].to(own_sig.dtype) * own_sig).sum(-1) / counts
        sig = torch.exp(mean_log + log_scale)  # (k, S)
        c = centres[part, 1:].to(emb.dtype) * pixel_size  # (k, D)
        d2 = (emb[images] - c[..., None]).square() / (2 * sig[..., None].square())
        phi = torch.exp(-d2.sum(1))  # (k, N)
        instance_sum = instance_sum.index_add(0, images, lovasz_hinge(2 * phi - 1, masks))
        dev = (own_sig - mean_log.detach()[..., None]).square().mean(1)  # (k, N)
        variance_sum = variance_sum.index_add(0, images, (dev * masks).sum(1) / counts[:, 0])
        score = score.index_add(0, images, phi.detach() * masks)
    n_objects = torch.bincount(owner, minlength=b).clamp(min=1).to(y.dtype)
    seed_term = torch.where(flat > 0, foreground_weight * (seed - score).square(),
                            seed.square()).mean(1)
    per_image = (instance_sum / n_objects + variance_weight * variance_sum / n_objects
                 + seed_weight * seed_term)
    return per_image.mean()


class InstanceEmbedding(L.LightningModule):
    """Instance segmentation by spatial embeddings (EmbedSeg), 2D or 3D, any object shape.

    Targets are label images (0 = background, one integer per object). The network's outputs
    are offsets, bandwidths and a seediness; :meth:`segment` turns them into a label image.

    Parameters
    ----------
    model : torch.nn.Module or dict
        A network from :func:`im2im_helpers.models.build`, or the dict that builds one; a dict's
        ``out_channels`` is set to :func:`n_outputs` (``dims`` offsets + ``dims`` or 1 sigmas +
        1 seediness).
    loss : {"lovasz"}
        The EmbedSeg loss (see :func:`embedding_loss`); the only choice.
    lr, weight_decay, scheduler
        As for :class:`~im2im_helpers.tasks.Supervised`.
    sigma_per_axis : bool
        One bandwidth per axis (elongated objects, anisotropic voxels) or one for all.
    pixel_size : float
        Embedding units per pixel; offsets reach about ``0.95 / pixel_size`` pixels.
    sigma_init : float
        Bandwidth in pixels at the start of training.
    variance_weight, seed_weight, foreground_weight : float
        Weights of the loss terms (the Lovász term has weight 1; see :func:`embedding_loss`).
    fg_threshold, seed_threshold, min_size
        Defaults of the clustering in :meth:`segment` (see
        :func:`im2im_helpers.tasks.instances.cluster`).
    """

    #: The task's name in a run's ``config.yaml`` (``task.kind``).
    KIND = "embedding"

    def __init__(self, model: nn.Module | Mapping, loss: str = "lovasz", lr: float = 1e-3,
                 weight_decay: float = 0.0, scheduler: str | None = None,
                 sigma_per_axis: bool = True, pixel_size: float = instances.PIXEL_SIZE,
                 sigma_init: float = 8.0, variance_weight: float = VARIANCE_WEIGHT,
                 seed_weight: float = SEED_WEIGHT,
                 foreground_weight: float = FOREGROUND_WEIGHT, fg_threshold: float = 0.5,
                 seed_threshold: float = 0.9, min_size: int = 10):
        super().__init__()
        if loss != "lovasz":
            raise ValueError(f"loss={loss!r}: InstanceEmbedding trains with its own loss; set "
                             "loss='lovasz' (task.hparams.loss: lovasz in a config).")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler={scheduler!r}: choose one of {SCHEDULERS}.")
        if isinstance(model, Mapping):
            need = n_outputs(int(model["dims"]), sigma_per_axis)
            if model.get("out_channels", need) != need:
                raise ValueError(
                    f"model out_channels={model['out_channels']}: embeddings need {need} "
                    f"({model['dims']}D, sigma_per_axis={sigma_per_axis}); leave it out."
                )
            model = models.build(**{**model, "out_channels": need})
        spec = getattr(model, "im2im_spec", None)
        if spec and spec["out_channels"] != n_outputs(spec["dims"], sigma_per_axis):
            raise ValueError(
                f"The network has {spec['out_channels']} output channels; {spec['dims']}D "
                f"embeddings need {n_outputs(spec['dims'], sigma_per_axis)}."
            )
        self.net = model
        self.save_hyperparameters(ignore=["model"])
        self.hparams["model"] = spec
        #: Called with the task after tuning changed its hyperparameters; set by
        #: :func:`im2im_helpers.train.fit` to write them into the run folder.
        self.persist_hparams: Callable[[L.LightningModule], None] | None = None


    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def postprocess(self, y: torch.Tensor) -> torch.Tensor:
        """Raw outputs -> ``tanh`` offsets and bandwidths (embedding units) and seediness.

        Channels stay in order: ``D`` offsets, ``D`` (or 1) sigmas, 1 seediness in [0, 1].
        """
        offset, sigma, seed = split_outputs(y, self.hparams.sigma_per_axis)
        sigma = torch.exp(sigma) * (self.hparams.sigma_init * self.hparams.pixel_size)
        return torch.cat([torch.tanh(offset), sigma, torch.sigmoid(seed)], dim=1)

    def compute_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """:func:`embedding_loss` of raw outputs ``pred`` against label patches ``target``."""
        h = self.hparams
        return embedding_loss(pred, target, h.sigma_per_axis, h.pixel_size, h.sigma_init,
                              h.variance_weight, h.seed_weight, h.foreground_weight)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.compute_loss(self(batch["input"]), batch["target"])
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=batch["input"].shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.compute_loss(self(batch["input"]), batch["target"])
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=batch["input"].shape[0])
        return loss

    def configure_optimizers(self):
        return adam(self, self.hparams.lr, self.hparams.weight_decay, self.hparams.scheduler)

    def embed(self, x: np.ndarray, roi: Sequence[int] | None = None, overlap: float = 0.25,
              batch_size: int = 4, device: str | torch.device | None = None,
              tta: bool = False) -> np.ndarray:
        """The network's embeddings of a whole ``(C, *spatial)`` image (see :meth:`postprocess`),
        predicted in overlapping windows (:func:`im2im_helpers.predict.image`; offsets are
        relative, so windows blend).

        With ``tta``, the image is also embedded flipped along every combination of axes (4 in
        2D, 8 in 3D); each result is flipped back, the offsets along a flipped axis change sign
        (an offset pointing left in the flipped image points right in the original), and the
        results are averaged: steadier offsets, fewer objects cut in two. (The generic
        :func:`~im2im_helpers.predict.image` test-time augmentation would average the offsets
        without changing their signs, so embeddings do their own.)
        """
        dims = x.ndim - 1
        combos = [()]
        if tta:
            combos = [tuple(a for a in range(dims) if mask >> a & 1) for mask in range(2**dims)]
        total = None
        for axes in combos:
            flipped = np.ascontiguousarray(np.flip(x, [1 + a for a in axes])) if axes else x
            out = predict.image(self, flipped, roi, overlap=overlap, batch_size=batch_size,
                                device=device)
            if axes:
                out = np.flip(out, [1 + a for a in axes]).copy()
                out[list(axes)] *= -1  # offset channel a belongs to axis a
            total = out if total is None else total + out
        return total / len(combos)
    def cluster(self, embeddings: np.ndarray, device: str | torch.device | None = None,
                **cluster_options) -> np.ndarray:
        """Label image from :meth:`embed`'s output by :func:`im2im_helpers.tasks.instances.cluster`;
        ``cluster_options`` (``fg_threshold``, ``seed_threshold``, ``min_size``,
        ``min_unclustered``) override the task's defaults."""
        dims = embeddings.ndim - 1
        n_sigma = dims if self.hparams.sigma_per_axis else 1
        options = {name: self.hparams[name] for name in CLUSTER_OPTIONS}
        options.update(cluster_options)
        return instances.cluster(embeddings[:dims], embeddings[dims:dims + n_sigma],
                                 embeddings[-1], pixel_size=self.hparams.pixel_size, device=device,
                                 **options)

    def segment(self, x: np.ndarray, roi: Sequence[int] | None = None, overlap: float = 0.25,
                batch_size: int = 4, device: str | torch.device | None = None,
                tta: bool = False, **cluster_options) -> np.ndarray:
        """Label image of a whole ``(C, *spatial)`` image: :meth:`embed` (with ``tta``: averaged
        over flips), then :meth:`cluster` with ``cluster_options``.

        Returns
        -------
        numpy.ndarray
            Int32 label image ``(*spatial)``: 0 background, objects ``1..N``.
        """
        out = self.embed(x, roi, overlap, batch_size, device, tta)
        return self.cluster(out, device, **cluster_options)

    def tune_clustering(self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                        roi: Sequence[int] | None = None,
                        seed_thresholds: Sequence[float] = SEED_THRESHOLDS,
                        fg_thresholds: Sequence[float] = FG_THRESHOLDS,
                        min_sizes: Sequence[int] = MIN_SIZES, tta: bool = False) -> Tuned:
        """Choose the clustering parameters by AP@0.5 on *validation* images, and keep them.

        The network runs once per image; every ``(seed_threshold, fg_threshold, min_size)`` is
        then scored by the mean AP (TP/(TP+FP+FN) at IoU 0.5) of the clustered labels against
        ``labels`` (use the ``roi`` and ``tta`` that :meth:`segment` will use). The best one
        (the first tried on a tie) becomes the task's hyperparameters, so :meth:`segment` uses
        it from then on; a task trained by :func:`im2im_helpers.train.fit` (or loaded by
        :func:`~im2im_helpers.train.load_run_model`) also writes it into its run folder's
        checkpoints and ``config.yaml``, so that the reloaded model segments the same way.

        Returns
        -------
        Tuned
            Segments one image (with ``roi`` and ``tta``); ``value`` is ``(seed_threshold,
            fg_threshold, min_size)``, scores are AP@0.5.
        """
        outputs = [self.embed(x, roi, tta=tta) for x in images]
        truths = [np.asarray(y).reshape(o.shape[1:]) for y, o in zip(labels, outputs)]
        values = [(float(s), float(f), int(m)) for s in seed_thresholds for f in fg_thresholds
                  for m in min_sizes if f <= s]
        tuned = tune(lambda out, v: self.cluster(out, seed_threshold=v[0], fg_threshold=v[1],
                                                 min_size=v[2]),
                     outputs, truths, values, metric=ap50,
                     parameters=("seed_threshold", "fg_threshold", "min_size"))
        self.hparams.update(tuned.chosen)
        if self.persist_hparams is not None:
            self.persist_hparams(self)
        return tuned.with_method(
            lambda x, v: self.segment(x, roi, tta=tta, seed_threshold=v[0], fg_threshold=v[1],
                                      min_size=v[2]))
