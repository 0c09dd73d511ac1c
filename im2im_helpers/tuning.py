"""Methods whose parameters are chosen on training (or validation) data.

Every classical baseline and every post-processing step with a free parameter is tuned the same
way: each candidate value is scored on data the test set never sees, the best one is kept.
:func:`tune` does that and returns a :class:`Tuned` method: call it on an image, read the chosen
``value`` and the ``scores`` of every candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from im2im_helpers.metrics import METRICS

#: ``method(image, value) -> result``: a method with one (possibly composite) parameter.
ParametrisedMethod = Callable[[np.ndarray, Any], np.ndarray]
#: ``metric(prediction, target) -> score``, higher is better.
Metric = Callable[[np.ndarray, np.ndarray], float]
#: Metrics of :data:`~im2im_helpers.metrics.METRICS` that are errors: the lowest one wins.
LOWER_IS_BETTER = frozenset({"nrmse", "intensity_distance"})


@dataclass(frozen=True)
class Tuned:
    """A method with its parameter chosen on training or validation data.

    Call it on one image (``tuned(x)``) to apply the method with the chosen value.

    Attributes
    ----------
    method : callable
        ``method(x, value)``: the method for any parameter value.
    value : object
        The chosen parameter (a number, or a tuple for several parameters).
    scores : dict
        Mean score of every value tried, ``{value: score}`` (the data used for it never
        includes the test set).
    metric : str
        What the scores measure (``"psnr"``, ``"dice"``, ``"ap50"``, ...).
    parameters : tuple of str
        Names of the parts of ``value`` (for tables and figures).
    """

    method: ParametrisedMethod = field(repr=False)
    value: Any
    scores: Mapping[Hashable, float] = field(repr=False)
    metric: str = ""
    parameters: tuple[str, ...] = ()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Apply the method with the chosen value to one image."""
        return self.method(x, self.value)

    @property
    def chosen(self) -> dict[str, Any]:
        """The chosen value by parameter name (``{"sigma": 1.5}``); ``{"value": v}`` when the
        parameters have no names."""
        if not self.parameters:
            return {"value": self.value}
        values = self.value if len(self.parameters) > 1 else (self.value,)
        return dict(zip(self.parameters, values))

    @property
    def best_score(self) -> float:
        """The score of the chosen value."""
        return float(self.scores[self.value])

    def with_method(self, method: ParametrisedMethod) -> Tuned:
        """The same choice, applied by another ``method(x, value)`` (for example one that
        starts from the image where the tuning started from precomputed network outputs)."""
        return Tuned(method, self.value, self.scores, self.metric, self.parameters)


def tune(method: ParametrisedMethod, inputs: Sequence[np.ndarray],
         targets: Sequence[np.ndarray], values: Sequence, metric: str | Metric = "psnr",
         parameters: Sequence[str] = (), metric_name: str | None = None) -> Tuned:
    """Choose the parameter of ``method(x, value)`` with the best mean ``metric``.

    Parameters
    ----------
    method : callable
        ``method(x, value) -> prediction``.
    inputs, targets : sequence of numpy.ndarray
        Training (or validation) inputs and what the method should produce from them. Never
        the test set: it must not choose a method's parameters.
    values : sequence
        Candidate values, tried in order; on a tie the first one wins.
    metric : str or callable
        A name of :data:`im2im_helpers.metrics.METRICS` (``"psnr"``, ``"ssim"``, ...; for the
        errors in :data:`LOWER_IS_BETTER` the lowest wins) or a function
        ``(prediction, target) -> score`` where higher is better.
    parameters : sequence of str
        Names of the parts of a value (see :attr:`Tuned.parameters`).
    metric_name : str, optional
        Name recorded for a metric function (default: its ``__name__``).

    Returns
    -------
    Tuned
    """
    if len(inputs) != len(targets) or not len(inputs):
        raise ValueError(f"tune: {len(inputs)} inputs and {len(targets)} targets; give the same "
                         "number, at least one.")
    if not len(values):
        raise ValueError("tune: no candidate values to try.")
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r}: choose one of {sorted(METRICS)} or pass a "
                             "function (prediction, target) -> score.")
        score, name = METRICS[metric], metric
    else:
        score, name = metric, metric_name or getattr(metric, "__name__", "score")
    scores = {v: float(np.mean([score(method(x, v), y) for x, y in zip(inputs, targets)]))
              for v in values}
    best = (min if name in LOWER_IS_BETTER and isinstance(metric, str) else max)(
        scores, key=scores.get)
    return Tuned(method, best, scores, name, tuple(parameters))
