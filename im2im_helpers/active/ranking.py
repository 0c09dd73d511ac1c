"""Which crops to annotate next: per-crop uncertainty of the current model (test-time
augmentation or Monte-Carlo dropout, :mod:`im2im_helpers.uncertainty`), spread over the pool by
a greedy choice that discounts crops near an already chosen or annotated one in simple per-crop
features, so near-duplicates are not chosen twice;
and the seeded random order that uncertainty sampling is compared with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from im2im_helpers import uncertainty
from im2im_helpers.active.pool import Crop, Pool, overlap

#: Uncertainty methods :func:`crop_uncertainty` takes.
METHODS = ("tta", "mc_dropout")
#: Side of the average-pooled thumbnails in a crop's features.
THUMBNAIL = 4


@dataclass
class CropScores:
    """The current model's view of every pool crop.

    Attributes
    ----------
    uncertainty : dict
        Crop id -> mean per-pixel standard deviation of the prediction inside the crop.
    probability : dict
        Crop id -> the ``(C, size, size)`` mean prediction (what a person corrects).
    features : dict
        Crop id -> feature vector (:func:`crop_features`), for diversity.
    method : str
        How the uncertainty was made.
    crops : dict
        Crop id -> its :class:`~im2im_helpers.active.pool.Crop` (where it lies, for overlap).
    """

    uncertainty: dict[str, float]
    probability: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    method: str
    crops: dict[str, Crop] = field(default_factory=dict)


def pooled(array: np.ndarray, side: int = THUMBNAIL) -> np.ndarray:
    """``(C, Y, X)`` averaged over a ``side`` x ``side`` grid of blocks, flattened."""
    array = np.asarray(array, dtype=np.float64)
    rows = np.array_split(np.arange(array.shape[-2]), side)
    cols = np.array_split(np.arange(array.shape[-1]), side)
    return np.array([array[:, r][:, :, c].mean() for r in rows for c in cols if len(r) and len(c)])


def crop_features(x: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Simple features of one crop: the mean and standard deviation of its input, and
    thumbnails (:data:`THUMBNAIL` x :data:`THUMBNAIL` block means) of its input and of the
    predicted probability. Crops that look alike and are predicted alike lie close."""
    x = np.asarray(x, dtype=np.float64)
    return np.concatenate([[x.mean(), x.std()], pooled(x), pooled(probability)])


def crop_uncertainty(model: nn.Module, pool: Pool, crops: Sequence[str] | None = None,
                     method: str = "tta", roi: Sequence[int] | None = None,
                     samples: int = 8, seed: int = 0) -> CropScores:
    """Predict every pool image with uncertainty and summarise it per crop.

    Each image is predicted whole (sliding windows of ``roi``), so a crop's prediction sees
    the crop's surroundings as in use; its uncertainty is the mean of the per-pixel standard
    deviation inside it.

    Parameters
    ----------
    model : torch.nn.Module
        The current task.
    pool : Pool
        The crops and their images.
    crops : sequence of str, optional
        The crops to score (default all); only their images are predicted.
    method : {"tta", "mc_dropout"}
        :func:`im2im_helpers.uncertainty.tta` (8 flips and turns) or
        :func:`~im2im_helpers.uncertainty.mc_dropout` (``samples`` seeded samples; the network
        needs dropout).
    roi : sequence of int, optional
        Prediction window (normally the training patch).
    samples, seed : int
        Monte-Carlo dropout's number of samples and seed.

    Returns
    -------
    CropScores
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose one of {METHODS}.")
    chosen = [pool.crop(c) for c in (pool.ids if crops is None else crops)]
    result = CropScores({}, {}, {}, method)
    for name in dict.fromkeys(c.image for c in chosen):
        x = pool.images[name]
        maps = (uncertainty.tta(model, x, roi) if method == "tta"
                else uncertainty.mc_dropout(model, x, roi, n=samples, seed=seed))
        for crop in (c for c in chosen if c.image == name):
            probability = crop.cut(maps.mean)
            result.uncertainty[crop.id] = float(crop.cut(maps.std).mean())
            result.probability[crop.id] = probability
            result.features[crop.id] = crop_features(crop.cut(x), probability)
            result.crops[crop.id] = crop
    return result


def standardised(features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Features scaled to zero mean and unit standard deviation per component (a constant
    component becomes 0), so no component dominates the distances."""
    ids = list(features)
    if not ids:
        return {}
    matrix = np.stack([np.asarray(features[i], dtype=np.float64) for i in ids])
    spread = matrix.std(axis=0)
    matrix = (matrix - matrix.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return dict(zip(ids, matrix))


def pairwise_scale(features: Mapping[str, np.ndarray]) -> float:
    """The median distance between two different feature vectors (1.0 when there are fewer
    than two, or all coincide): the scale at which two crops count as different."""
    matrix = np.stack([np.asarray(v, dtype=np.float64) for v in features.values()]) \
        if features else np.zeros((0, 1))
    if len(matrix) < 2:
        return 1.0
    d = np.linalg.norm(matrix[:, None] - matrix[None], axis=-1)[np.triu_indices(len(matrix), 1)]
    median = float(np.median(d))
    return median if median > 0 else 1.0


def diverse_greedy(uncertainty: Mapping[str, float], features: Mapping[str, np.ndarray],
                   k: int, centres: Sequence[np.ndarray] = (),
                   radius: float | None = None, crops: Mapping[str, Crop] | None = None,
                   covered: Sequence[Crop] = ()) -> list[str]:
    """Greedy choice of uncertain crops that are not near-duplicates of each other.

    Each step takes the candidate with the largest
    ``uncertainty * min(1, d / radius) * (1 - o)``, where ``d`` is its feature distance to the
    nearest crop chosen so far or in ``centres`` (e.g. the annotated crops) and ``o`` the
    largest fraction of it that a chosen or ``covered`` crop overlaps (when ``crops`` says where
    the candidates lie): a crop within ``radius`` of a chosen one, or overlapping it, counts
    only in proportion, an exact duplicate not at all, while distinct crops compete by
    uncertainty alone.

    Parameters
    ----------
    uncertainty : mapping
        Candidate id -> uncertainty (>= 0).
    features : mapping
        Candidate id -> feature vector (standardised, see :func:`standardised`).
    k : int
        How many to choose.
    centres : sequence of numpy.ndarray
        Features already covered.
    radius : float, optional
        Distance below which crops count as alike (default :func:`pairwise_scale` over the
        candidates and centres).
    crops : mapping, optional
        Candidate id -> its crop, to discount overlapping crops.
    covered : sequence of Crop
        Crops already annotated (overlapping them is discounted).

    Returns
    -------
    list of str
        In the order chosen; ties go to the earlier candidate.
    """
    ids = list(uncertainty)
    k = min(int(k), len(ids))
    if k <= 0:
        return []
    matrix = np.stack([np.asarray(features[i], dtype=np.float64) for i in ids])
    if radius is None:
        everything = {**{i: matrix[n] for n, i in enumerate(ids)},
                      **{f"centre{n}": np.asarray(c) for n, c in enumerate(centres)}}
        radius = pairwise_scale(everything)
    u = np.array([float(uncertainty[i]) for i in ids])
    free = np.ones(len(ids))  # 1 - the largest overlap with a chosen or covered crop
    if crops is not None:
        for crop in covered:
            free = np.minimum(free, [1 - overlap(crops[i], crop) for i in ids])
    distance = np.full(len(ids), np.inf)
    for c in centres:
        distance = np.minimum(distance, np.linalg.norm(matrix - np.asarray(c), axis=1))
    chosen: list[int] = []
    while len(chosen) < k:
        value = u * np.minimum(1.0, distance / radius) * free
        value[chosen] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        if crops is not None:
            free = np.minimum(free, [1 - overlap(crops[i], crops[ids[pick]]) for i in ids])
        distance = np.minimum(distance, np.linalg.norm(matrix - matrix[pick], axis=1))
    return [ids[i] for i in chosen]


def select_uncertain(scores: CropScores, k: int, candidates: Sequence[str] | None = None,
                     annotated: Sequence[str] = (), diversity: bool = True,
                     shortlist: int = 5) -> list[str]:
    """The ``k`` crops to annotate next.

    Without ``diversity``: the ``k`` most uncertain candidates. With it: among the
    ``shortlist * k`` most uncertain candidates, :func:`diverse_greedy` on standardised
    :func:`crop_features` and on where the crops lie (measured against the annotated crops
    too), so two near-identical or overlapping crops are not both chosen while a different,
    nearly as uncertain one waits.

    Parameters
    ----------
    scores : CropScores
        From :func:`crop_uncertainty` (covering the candidates, and the annotated crops for
        diversity).
    k : int
        How many crops to choose.
    candidates : sequence of str, optional
        The crops that may be chosen (default every scored crop not in ``annotated``).
    annotated : sequence of str
        Crops already annotated.
    diversity : bool
        Spread the choice (see above).
    shortlist : int
        Shortlist size as a multiple of ``k`` (at least 1).

    Returns
    -------
    list of str
        In the order chosen (most uncertain first without diversity).
    """
    done = set(annotated)
    if candidates is None:
        candidates = [c for c in scores.uncertainty if c not in done]
    ranked = sorted(candidates, key=lambda c: -scores.uncertainty[c])  # stable: ties keep order
    if not diversity:
        return ranked[:k]
    short = ranked[: max(int(k), int(k) * max(1, int(shortlist)))]
    features = standardised({c: scores.features[c]
                             for c in [*short, *[a for a in annotated if a in scores.features]]})
    centres = [features[a] for a in annotated if a in features]
    where = {c: scores.crops[c] for c in short} if all(c in scores.crops for c in short) \
        else None
    covered = [scores.crops[a] for a in annotated if a in scores.crops]
    return diverse_greedy({c: scores.uncertainty[c] for c in short},
                          {c: features[c] for c in short}, k, centres, crops=where,
                          covered=covered)


def random_order(candidates: Sequence[str], seed: int) -> list[str]:
    """``candidates`` in a random order decided by ``seed`` alone (random sampling)."""
    candidates = list(candidates)
    order = np.random.default_rng(int(seed)).permutation(len(candidates))
    return [candidates[i] for i in order]
