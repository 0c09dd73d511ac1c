"""Classical instance segmentation: Otsu + distance transform + watershed, and the watershed
post-processing of 3-class (background / interior / boundary) probabilities.

Two baselines a learned instance method must beat:

- :func:`otsu_watershed` needs no training at all: threshold the smoothed image, split touching
  objects at the necks of the distance transform. Its two parameters are tuned on *training*
  images by :func:`tune_otsu_watershed`.
- :func:`three_class_watershed` turns the class probabilities of a 3-class network (the
  simplest learned instance method users know; its targets come from
  :func:`im2im_helpers.data.transforms.three_class_targets`) into a label image.

Both split objects where they narrow, so they work for round, convex objects (nuclei) and fail
for long, curved, touching ones (worms, see :func:`im2im_helpers.data.simulate.worms`).

Images and label images are 2D ``(Y, X)`` or 3D ``(Z, Y, X)``; one leading channel axis of
size 1 (``(1, Y, X)``, ``(1, Z, Y, X)``) is allowed and dropped. An array of shape
``(1, Y, X)`` is therefore always read as a 2D image with a channel axis, never as a 3D stack
of one plane.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from im2im_helpers.data.pairs import spatial_image
from im2im_helpers.metrics import ap50
from im2im_helpers.tuning import Tuned, tune

#: Smallest object kept, in pixels (voxels in 3D), by default.
MIN_SIZE = 16

#: Parameters tried by :func:`tune_otsu_watershed`: Gaussian sigma in pixels, and the smallest
#: distance in pixels between two markers (about the radius of the smallest object to keep whole).
OTSU_SIGMAS = (0.5, 1.0, 2.0)
MIN_DISTANCES = (2, 4, 6, 8, 12, 16)


def _finish(labels: np.ndarray, mask: np.ndarray, min_size: int) -> np.ndarray:
    """Give every foreground component that no marker reached its own label, drop objects
    smaller than ``min_size`` pixels and number the rest 1..N (int32)."""
    from skimage.measure import label
    from skimage.segmentation import relabel_sequential

    labels = labels.astype(np.int64)
    missed = mask & (labels == 0)
    if missed.any():
        extra = label(missed, connectivity=1)
        labels[missed] = extra[missed] + labels.max()
    # A size filter by bincount: skimage's remove_small_objects renamed min_size to max_size
    # (0.26), with a different meaning; this works the same with every version.
    sizes = np.bincount(labels.ravel())
    labels[sizes[labels] < min_size] = 0
    return relabel_sequential(labels)[0].astype(np.int32)


def otsu_watershed(image: np.ndarray, sigma: float = 1.0, min_distance: int = 8,
                   min_size: int = MIN_SIZE, threshold: float | None = None) -> np.ndarray:
    """The classical instance segmentation: Otsu threshold, distance transform, watershed.

    1. Smooth the image with a Gaussian of ``sigma`` pixels (noise would make false peaks).
    2. Foreground = smoothed image above Otsu's threshold (or ``threshold``), holes filled.
    3. Euclidean distance of every foreground pixel to the background.
    4. Markers = local maxima of the distance at least ``min_distance`` pixels apart
       (:func:`skimage.feature.peak_local_max`, searched in each connected component).
    5. Watershed of the negated distance from the markers, within the foreground: touching
       objects are cut where the foreground narrows (the "neck" between two round objects).
    6. Objects smaller than ``min_size`` pixels are dropped, the rest numbered 1..N.

    On the 2D nuclei of StarDist's sample data this recipe reaches AP@0.5 of about 0.75. It
    assumes bright objects on a dark background that are roughly convex: a long or curved
    object has several distance maxima and is cut into pieces, two objects touching along a
    long side are not separated.

    Parameters
    ----------
    image : numpy.ndarray
        Single-channel ``(Y, X)`` or ``(Z, Y, X)`` image; a leading channel axis of size 1 is
        dropped (``(1, Y, X)`` is a 2D image).
    sigma : float
        Gaussian smoothing in pixels (0: none).
    min_distance : int
        Smallest distance between two markers, in pixels (>= 1). About the radius of the
        smallest object that should stay whole: smaller values split objects, larger ones
        merge touching objects.
    min_size : int
        Objects with fewer pixels (voxels) are removed.
    threshold : float, optional
        Foreground threshold on the smoothed image; Otsu's threshold when not given.

    Returns
    -------
    numpy.ndarray
        Int32 label image of the spatial shape (channel axis dropped): 0 background, objects
        1..N.
    """
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.measure import label
    from skimage.segmentation import watershed

    x = spatial_image(image, "otsu_watershed: image").astype(np.float32)
    if sigma > 0:
        x = ndi.gaussian_filter(x, sigma)
    if threshold is None:
        threshold = threshold_otsu(x) if x.max() > x.min() else x.max()
    mask = ndi.binary_fill_holes(x > threshold)
    if not mask.any():
        return np.zeros(x.shape, np.int32)
    distance = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(distance, min_distance=max(1, int(min_distance)),
                           labels=label(mask, connectivity=1), exclude_border=False)
    markers = np.zeros(x.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-distance, markers, mask=mask)
    return _finish(labels, mask, min_size)


def tune_otsu_watershed(images: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                        sigmas: Sequence[float] = OTSU_SIGMAS,
                        min_distances: Sequence[int] = MIN_DISTANCES,
                        min_size: int = MIN_SIZE, threshold: float | None = None) -> Tuned:
    """Choose ``sigma`` and ``min_distance`` of :func:`otsu_watershed` on *training* images.

    Every combination is scored by its mean AP@0.5 (TP/(TP+FP+FN) of
    :func:`im2im_helpers.metrics.match_instances`) over the images; the best one wins (the
    first one in the order tried on a tie). Tune on training data only: the test set must not
    choose the baseline's parameters.

    Parameters
    ----------
    images : sequence of numpy.ndarray
        Training images (see :func:`otsu_watershed` for the shapes).
    labels : sequence of numpy.ndarray
        Their true label images (0 = background), same spatial shapes; a leading channel axis of
        size 1 is dropped.
    sigmas, min_distances : sequence
        Values tried.
    min_size, threshold
        Passed to :func:`otsu_watershed` unchanged.

    Returns
    -------
    Tuned
        Segments one image; ``value`` is ``(sigma, min_distance)``, scores are AP@0.5.
    """
    if len(images) != len(labels) or not len(images):
        raise ValueError(f"tune_otsu_watershed: {len(images)} images and {len(labels)} label "
                         "images; give the same number, at least one.")
    truths = [spatial_image(y, "tune_otsu_watershed: labels") for y in labels]

    def segment(x: np.ndarray, value: tuple[float, int]) -> np.ndarray:
        return otsu_watershed(x, value[0], value[1], min_size, threshold)

    values = [(float(s), int(d)) for s in sigmas for d in min_distances]
    return tune(segment, images, truths, values, metric=ap50, parameters=("sigma", "min_distance"))


#: Thresholds and smallest object sizes tried by :func:`tune_three_class_watershed`.
THREE_CLASS_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
THREE_CLASS_MIN_SIZES = (10, 25, 50)


def tune_three_class_watershed(probabilities: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                               thresholds: Sequence[float] = THREE_CLASS_THRESHOLDS,
                               min_sizes: Sequence[int] = THREE_CLASS_MIN_SIZES) -> Tuned:
    """Choose ``threshold`` and ``min_size`` of :func:`three_class_watershed` for a 3-class
    network, the way :func:`tune_otsu_watershed` chooses the baseline's parameters and
    :meth:`~im2im_helpers.tasks.InstanceEmbedding.tune_clustering` the embedding's.

    A network trained briefly is less sure of itself than one trained long: its interior
    probabilities rarely pass 0.5 in the narrow nuclei necks, so a fixed threshold merges or
    drops objects that another threshold would separate. Score the combinations on
    *validation* images (the network's predictions of them), never on the test set.

    Parameters
    ----------
    probabilities : sequence of numpy.ndarray
        The network's ``(3, *spatial)`` probabilities of the validation images.
    labels : sequence of numpy.ndarray
        Their true label images (0 = background); a leading channel axis of size 1 is dropped.
    thresholds, min_sizes : sequence
        Values tried (every combination; the first one wins a tie).

    Returns
    -------
    Tuned
        Segments one probability map; ``value`` is ``(threshold, min_size)``, scores are
        AP@0.5.
    """
    if len(probabilities) != len(labels) or not len(probabilities):
        raise ValueError(f"tune_three_class_watershed: {len(probabilities)} probability maps and "
                         f"{len(labels)} label images; give the same number, at least one.")
    truths = [spatial_image(y, "tune_three_class_watershed: labels") for y in labels]

    def segment(p: np.ndarray, value: tuple[float, int]) -> np.ndarray:
        return three_class_watershed(p, min_size=value[1], threshold=value[0])

    values = [(float(t), int(m)) for t in thresholds for m in min_sizes]
    return tune(segment, probabilities, truths, values, metric=ap50,
                parameters=("threshold", "min_size"))


def three_class_watershed(probabilities: np.ndarray, min_size: int = MIN_SIZE,
                          threshold: float = 0.5) -> np.ndarray:
    """Label image from 3-class probabilities (background, interior, boundary).

    Seeds are the connected components (neighbours along the axes) of ``interior >
    threshold``; the foreground is ``interior + boundary > threshold``. The seeds are grown by
    a watershed over the *boundary probability* within the foreground: floods from two seeds
    meet where the network is most sure a boundary lies, and on flat stretches (for example
    one-hot probabilities) each pixel goes to the nearest seed in flooding order. Foreground
    components without a seed become objects of their own; objects smaller than ``min_size``
    pixels are dropped and the rest numbered 1..N.

    Parameters
    ----------
    probabilities : numpy.ndarray
        ``(3, Y, X)`` or ``(3, Z, Y, X)`` class probabilities (softmax output) in the order of
        :func:`three_class_targets`: background, interior, boundary.
    min_size : int
        Objects with fewer pixels (voxels) are removed.
    threshold : float
        Probability threshold of seeds and foreground.

    Returns
    -------
    numpy.ndarray
        Int32 label image of the spatial shape: 0 background, objects 1..N.
    """
    from skimage.measure import label
    from skimage.segmentation import watershed

    p = np.asarray(probabilities, dtype=np.float32)
    if p.ndim not in (3, 4) or p.shape[0] != 3:
        raise ValueError(f"three_class_watershed: probabilities of shape {p.shape}; expected "
                         "(3, Y, X) or (3, Z, Y, X): background, interior, boundary.")
    interior, boundary = p[1], p[2]
    mask = interior + boundary > threshold
    seeds = label((interior > threshold) & mask, connectivity=1)
    labels = watershed(boundary, seeds, mask=mask)
    return _finish(labels, mask, min_size)
