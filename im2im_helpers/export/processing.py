"""A package's pre- and postprocessing applied to whole images by bioimageio.core's own
operators: the same code that ``bioimageio.core``'s model test, napari's and Python's
BioImage.IO predictions run, so a package's test outputs and our predictions agree exactly.

Our percentile normalisation (:func:`im2im_helpers.data.pairs.percentile_normalize`) maps to
the spec's ``scale_range`` with ``min_percentile``/``max_percentile`` over the spatial axes of
each image and channel (``axes`` without batch and channel). Both take the percentiles of the
whole image with linear interpolation (``numpy.percentile``; xarray's ``quantile(method=
"linear")`` in bioimageio.core). They differ in where the small constant goes:

* ours: ``(x - lo) / max(hi - lo, eps)``, ``eps = 1e-6``;
* the spec's: ``(x - lo) / (hi - lo + eps)``, ``eps = 1e-6`` (it must be > 0).

So for an image whose percentile range ``hi - lo`` is ``d`` the two results differ by the
factor ``1 + eps / d``: a relative difference of ``1e-6 / d`` (``1e-9`` for a 16-bit image
spanning 1000 grey values; ``1e-6`` for an image already in [0, 1]), and only a flat image
(``d <= eps``) is treated differently (ours divides by ``eps``, the spec's by ``d + eps``).
"""

from __future__ import annotations

import numpy as np
import torch
from bioimageio.core import Sample, Tensor
from bioimageio.core.proc_setup import setup_pre_and_postprocessing
from bioimageio.spec.model import v0_5

#: Axis ids of a 2D and a 3D image tensor, in the order every package of ours uses.
AXES = {2: ("batch", "channel", "y", "x"), 3: ("batch", "channel", "z", "y", "x")}

#: ``eps`` of the spec's ``scale_range`` used in exported packages (ours: the same value).
SCALE_RANGE_EPS = 1e-6


def preprocessing(percentiles: tuple[float, float] | None, dims: int) -> list:
    """The spec's preprocessing for our percentile normalisation with ``(low, high)``: cast to
    float32, ``scale_range`` per image and channel over the spatial axes, cast to float32
    (the percentiles may come back as float64). Without percentiles only the first cast."""
    as_float = v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32"))
    if percentiles is None:
        return [as_float]
    low, high = percentiles
    spatial = [v0_5.AxisId(a) for a in AXES[dims][2:]]
    return [as_float, v0_5.ScaleRangeDescr(kwargs=v0_5.ScaleRangeKwargs(
        axes=spatial, min_percentile=float(low), max_percentile=float(high),
        eps=SCALE_RANGE_EPS)), as_float]


def postprocessing(kind: str) -> list:
    """The spec's postprocessing for ``"none"``, ``"sigmoid"`` or ``"softmax"`` (over the
    channel axis)."""
    if kind == "none":
        return []
    if kind == "sigmoid":
        return [v0_5.SigmoidDescr()]
    if kind == "softmax":
        return [v0_5.SoftmaxDescr(kwargs=v0_5.SoftmaxKwargs(axis=v0_5.AxisId("channel")))]
    raise ValueError(f"postprocessing {kind!r}: choose 'none', 'sigmoid' or 'softmax'.")


class PackageProcessing:
    """The pre- and postprocessing of a model description (one input, one output tensor),
    applied to whole images.

    Parameters
    ----------
    descr : bioimageio.spec.model.v0_5.ModelDescr
        The package's description.
    """

    def __init__(self, descr: v0_5.ModelDescr):
        self.input_id = descr.inputs[0].id
        self.output_id = descr.outputs[0].id
        self.input_axes = tuple(str(a.id) for a in descr.inputs[0].axes)
        self.output_axes = tuple(str(a.id) for a in descr.outputs[0].axes)
        self._pre, self._post = setup_pre_and_postprocessing(descr, [])
        self.preprocessing = list(descr.inputs[0].preprocessing)

    def _apply(self, ops, member, array: np.ndarray, axes: tuple[str, ...]) -> np.ndarray:
        sample = Sample(members={member: Tensor.from_numpy(array, dims=axes)}, stat={},
                        id=None)
        for op in ops:
            op(sample)
        return np.asarray(sample.members[member].data.to_numpy())

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """The package's preprocessing of one image ``(C, *spatial)`` (statistics such as
        percentiles are those of the whole image), as float32."""
        out = self._apply(self._pre, self.input_id, np.asarray(x)[None], self.input_axes)
        return out[0].astype(np.float32, copy=False)

    def window_percentiles(self) -> tuple[float, float] | None:
        """The percentiles of the package's normalisation when it can be applied window by
        window with statistics of the whole image (a per-image ``scale_range`` over the
        spatial axes, as our packages declare; ``None`` when it only casts to float32).

        Raises
        ------
        ValueError
            For any other preprocessing (it would need the whole image at once).
        """
        percentiles = None
        for op in self.preprocessing:
            if op.id == "ensure_dtype" and str(op.kwargs.dtype) == "float32":
                continue
            spatial = set(self.input_axes) - {"batch", "channel"}
            if (op.id == "scale_range" and percentiles is None
                    and op.kwargs.reference_tensor is None
                    and {str(a) for a in (op.kwargs.axes or ())} == spatial):
                percentiles = (float(op.kwargs.min_percentile), float(op.kwargs.max_percentile))
                continue
            raise ValueError(
                f"the package's preprocessing {op.id!r} ({op.kwargs}) cannot be applied window "
                "by window; predict the image in memory (predict.image after "
                "model.preprocess) instead of streaming it.")
        return percentiles

    def postprocess(self, y: torch.Tensor) -> torch.Tensor:
        """The package's postprocessing of network outputs ``(B, C, *spatial)``."""
        if not self._post:
            return y
        out = self._apply(self._post, self.output_id, y.detach().cpu().numpy(),
                          self.output_axes)
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).to(y.device)
