"""A simulated annotator: corrects a proposed mask towards the ground truth with a fixed budget
of edits, so an active-learning loop runs unattended (tests, the book, learning curves).

**One edit** fixes one *error component*: a connected region (4-connected) of pixels where the
proposal's foreground disagrees with the truth's, i.e. one missed piece of an object (painted in)
or one false piece (erased) — what a person fixes with one brush stroke or one fill. The largest
components are fixed first (a person fixes what is most visibly wrong); ties go to the component
met first in row order, so the annotator is deterministic. Components smaller than
``min_pixels`` are not worth an edit and are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

#: 4-connectivity in 2D: what counts as one connected error component (and one edit).
CONNECTIVITY = ndi.generate_binary_structure(2, 1)


@dataclass
class Correction:
    """The result of one simulated correction.

    Attributes
    ----------
    labels : numpy.ndarray
        The corrected ``(Y, X)`` label image (connected components of the corrected
        foreground, uint32).
    edits : int
        Edits spent (at most the budget).
    added, removed : int
        Pixels painted in and erased.
    remaining : int
        Error components still left (not fixed for lack of budget, or too small).
    sizes : list of int
        Pixels of each fixed component, in the order they were fixed.
    """

    labels: np.ndarray
    edits: int
    added: int
    removed: int
    remaining: int
    sizes: list[int] = field(default_factory=list)


def foreground_of(mask: np.ndarray) -> np.ndarray:
    """A 2D boolean foreground of a mask or label image (a leading axis of size 1 dropped)."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(f"a mask of shape {mask.shape}; expected (Y, X) or (1, Y, X).")
    return mask > 0


def error_components(proposal: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, int]:
    """The connected regions where ``proposal``'s foreground and ``truth``'s disagree:
    ``(labels, count)`` as :func:`scipy.ndimage.label` returns them."""
    p, t = foreground_of(proposal), foreground_of(truth)
    if p.shape != t.shape:
        raise ValueError(f"proposal {p.shape} and truth {t.shape} differ in shape.")
    return ndi.label(p != t, structure=CONNECTIVITY)


def edit_units(before: np.ndarray, after: np.ndarray) -> int:
    """How many edits turn ``before``'s foreground into ``after``'s: the number of connected
    regions (4-connected) of changed pixels."""
    return int(error_components(before, after)[1])


def relabel(foreground: np.ndarray) -> np.ndarray:
    """Connected components (4-connected) of a boolean foreground as uint32 labels."""
    return ndi.label(foreground, structure=CONNECTIVITY)[0].astype(np.uint32)


class SimulatedAnnotator:
    """Corrects proposals from the ground truth with ``budget`` edits per crop.

    Parameters
    ----------
    budget : int or None
        Edits per crop (see the module's description); ``None`` fixes every error component
        (a perfect annotator).
    min_pixels : int
        Error components smaller than this are left alone (a 1-pixel rim is not worth an edit).

    Examples
    --------
    >>> annotator = SimulatedAnnotator(budget=5)                         # doctest: +SKIP
    >>> annotator(proposal, truth).labels                                # doctest: +SKIP
    """

    source = "simulated"

    def __init__(self, budget: int | None = 5, min_pixels: int = 1):
        if budget is not None and int(budget) < 0:
            raise ValueError(f"budget={budget}: give the number of edits per crop (>= 0), or "
                             "None for a perfect annotator.")
        self.budget = None if budget is None else int(budget)
        self.min_pixels = max(1, int(min_pixels))

    def __repr__(self) -> str:
        return f"SimulatedAnnotator(budget={self.budget}, min_pixels={self.min_pixels})"

    def __call__(self, proposal: np.ndarray, truth: np.ndarray) -> Correction:
        """Correct ``proposal`` towards ``truth``.

        Parameters
        ----------
        proposal : numpy.ndarray
            The mask shown for correction (the model's, a baseline's, or empty): ``(Y, X)`` or
            ``(1, Y, X)``, foreground ``> 0``.
        truth : numpy.ndarray
            The ground truth of the same crop (mask or label image).

        Returns
        -------
        Correction
        """
        fg = foreground_of(proposal).copy()
        truth_fg = foreground_of(truth)
        components, count = error_components(fg, truth_fg)
        sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
        # largest first; np.argsort is stable, so equal sizes keep their row order
        order = [int(i) + 1 for i in np.argsort(-sizes, kind="stable")
                 if sizes[i] >= self.min_pixels]
        chosen = order if self.budget is None else order[: self.budget]
        added = removed = 0
        for k in chosen:
            where = components == k
            now = truth_fg[where]
            added += int(now.sum())
            removed += int((~now).sum())
            fg[where] = now
        return Correction(relabel(fg), len(chosen), added, removed, count - len(chosen),
                          [int(sizes[k - 1]) for k in chosen])
