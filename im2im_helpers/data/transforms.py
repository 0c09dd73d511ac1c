"""Pair transforms: new targets (or inputs) computed from every pair, recorded in the pairs'
configuration so that a run's ``config.yaml`` redoes them (:func:`apply_transforms`).

Label images become foreground masks (:func:`foreground`) or 3-class targets
(:func:`three_class`), masks become the inputs of image synthesis (:func:`masks_to_images`),
generated images become training inputs (:func:`synthetic_images`); :func:`halves` (from
:mod:`~im2im_helpers.data.pairs`) cuts every pair in two.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from im2im_helpers.data import deform, timelapse
from im2im_helpers.data.pairs import Pairs, halves, spatial_image, with_transform
from im2im_helpers.metrics import label_image

__all__ = ["TRANSFORMS", "apply_transforms", "check_transform", "foreground", "halves",
           "masks_to_images", "synthetic_images", "three_class", "three_class_targets"]


def _with_targets(pairs: Pairs, make, what: dict) -> Pairs:
    """``pairs`` with every target replaced by ``make(target)`` (float32), noted in the config."""
    return Pairs([replace(p, target=np.asarray(make(p.target), dtype=np.float32)) for p in pairs],
                 with_transform({**pairs.config, "targets": what}, what), pairs.simulated)


def foreground(pairs: Pairs) -> Pairs:
    """Semantic-segmentation pairs from instance pairs: every target becomes ``label > 0``
    (1 = object, 0 = background), so the objects of a label image become one class."""
    return _with_targets(pairs, lambda y: y > 0, {"kind": "foreground"})


def masks_to_images(pairs: Pairs) -> Pairs:
    """Pairs for synthesising images from masks: the foreground of each label image
    (``label > 0``, 1 = object) becomes the input and the image the target (as normalised when
    loaded: load with ``normalize_target=False`` so the labels stay integers)."""
    items = [replace(p, input=(p.target > 0).astype(np.float32),
                     target=np.asarray(p.input, np.float32)) for p in pairs]
    return Pairs(items, with_transform(pairs.config, {"kind": "masks_to_images"}),
                 pairs.simulated)


def synthetic_images(pairs: Pairs, generate: Callable[[np.ndarray], np.ndarray],
                     how: Mapping) -> Pairs:
    """Segmentation pairs with *synthetic* images: for every ``mask -> image`` pair (as made by
    :func:`masks_to_images`) the input becomes ``generate(mask)`` and the target the mask, to
    train a segmentation model on generated images. Marked ``simulated``, with ``how`` (which
    generator) recorded; write them with :func:`write_folder` so that a run can be repeated."""
    items = [replace(p, input=np.asarray(generate(p.input), np.float32),
                     target=np.asarray(p.input, np.float32)) for p in pairs]
    return Pairs(items, {"source": {"simulated": {"kind": "synthetic_images", **how}}},
                 simulated=True)


def check_transform(step: Mapping) -> None:
    """Raise ``ValueError`` unless ``step`` is a known pair transform with options it takes."""
    kind = step.get("kind") if isinstance(step, Mapping) else None
    if kind not in TRANSFORMS:
        raise ValueError(f"data.transforms: unknown transform {step!r}; known kinds are "
                         f"{sorted(TRANSFORMS)}.")
    allowed = set(list(inspect.signature(TRANSFORMS[kind]).parameters)[1:])
    unknown = set(step) - {"kind"} - allowed
    if unknown:
        raise ValueError(f"data.transforms: {kind!r} has no option {sorted(unknown)}; its options "
                         f"are {sorted(allowed)}.")


def apply_transforms(pairs: Pairs, steps: Sequence[Mapping]) -> Pairs:
    """Redo recorded pair transforms (``pairs.config["transforms"]``, saved in a run's
    ``config.yaml`` as ``data.transforms``): ``{"kind": "halves"}``, ``{"kind": "foreground"}``,
    ``{"kind": "three_class", "boundary_width": 1}``, ``{"kind": "masks_to_images"}``, in order."""
    for step in steps:
        check_transform(step)
        pairs = TRANSFORMS[step["kind"]](pairs, **{k: v for k, v in step.items() if k != "kind"})
    return pairs


def three_class(pairs: Pairs, boundary_width: int = 1) -> Pairs:
    """Targets of a 3-class network (0 background, 1 interior, 2 boundary) from label images
    (see :func:`three_class_targets`)."""
    return _with_targets(pairs, lambda y: three_class_targets(y, boundary_width),
                         {"kind": "three_class", "boundary_width": boundary_width})


#: Pair transforms that :func:`apply_transforms` can redo, by the ``kind`` they record.
TRANSFORMS = {"halves": halves, "foreground": foreground, "three_class": three_class,
              "masks_to_images": masks_to_images, "consecutive": deform.consecutive,
              "clips": timelapse.clips}


def three_class_targets(labels: np.ndarray, boundary_width: int = 1) -> np.ndarray:
    """Targets of a 3-class network from a label image: 0 background, 1 interior, 2 boundary.

    Boundary pixels are object pixels within ``boundary_width`` pixels of another label or of
    the background (:func:`skimage.segmentation.find_boundaries` with ``mode="inner"``, peeled
    ``boundary_width`` times, neighbours along the axes only). The inner mode keeps the classes
    inside the objects: interior + boundary is exactly the foreground ``labels > 0`` and no
    background pixel changes class. Where two objects touch, both sides of the contact are
    boundary, so the interiors of touching objects never touch (a band of ``2 *
    boundary_width`` boundary pixels lies between them). An object thinner than about ``2 *
    boundary_width + 1`` pixels has no interior.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer label image ``(Y, X)`` or ``(Z, Y, X)``, 0 = background, optionally with a
        leading channel axis of size 1; integer-valued floats are accepted.
    boundary_width : int
        Width of the boundary band inside each object, in pixels (>= 1).

    Returns
    -------
    numpy.ndarray
        Uint8 array shaped like ``labels`` (a channel axis is kept), values 0, 1, 2.
    """
    from skimage.segmentation import find_boundaries

    if boundary_width < 1:
        raise ValueError(f"boundary_width={boundary_width}: must be at least 1 pixel.")
    shape = np.shape(labels)
    spatial = label_image(spatial_image(labels, "three_class_targets: labels"), "labels")
    work = spatial.astype(np.int64)  # a copy, peeled below
    boundary = np.zeros(work.shape, bool)
    for _ in range(int(boundary_width)):
        ring = find_boundaries(work, connectivity=1, mode="inner", background=0)
        boundary |= ring
        work[ring] = 0
    out = (spatial > 0).astype(np.uint8)
    out[boundary] = 2
    return out.reshape(shape)
