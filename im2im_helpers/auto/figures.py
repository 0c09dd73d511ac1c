"""The figure of an automatic configuration: what cross-validation estimated for each
candidate against what the chosen model scored on the held-out test pairs."""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from im2im_helpers.auto.pipeline import AutoResult
from im2im_helpers.viz.figures import finish_figure


def plot_cv_vs_test(results: Mapping[str, AutoResult],
                    references: Mapping[str, Mapping[str, float]] | None = None,
                    path: str | os.PathLike | None = None) -> plt.Figure:
    """One panel per automatic run: each evaluated candidate's cross-validation mean with its
    spread over folds (the bar spans the lowest and highest fold), the winner's test score (on
    its own when the budget afforded no cross-validation), and reference test scores (a
    baseline, the hand recipe) as horizontal lines.

    Parameters
    ----------
    results : mapping
        ``{title: AutoResult}``.
    references : mapping, optional
        ``{title: {label: test score}}`` drawn as lines in that panel.
    path : path-like, optional
        Where to save the figure (PNG).

    Returns
    -------
    matplotlib.figure.Figure
    """
    references = references or {}
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 3.8), squeeze=False)
    for ax, (title, result) in zip(axes[0], results.items()):
        done = {k: v for k, v in result.cv.items() if v.get("fold_scores")}
        for x, (name, cv) in enumerate(done.items()):
            folds = np.asarray(cv["fold_scores"], float)
            ax.plot([x, x], [folds.min(), folds.max()], color="tab:blue", lw=3, alpha=0.4)
            ax.plot(x, cv["mean"], "o", color="tab:blue",
                    label="cross-validation (mean, fold range)" if x == 0 else None)
            if name == result.best and result.test_score is not None:
                ax.plot(x, result.test_score, "*", ms=14, color="tab:red",
                        label="chosen model on the test pairs")
        names = list(done)
        if result.best not in done and result.test_score is not None:  # not cross-validated
            names.append(f"{result.best}\n(not cross-validated)")
            ax.plot(len(done), result.test_score, "*", ms=14, color="tab:red",
                    label="chosen model on the test pairs")
        for (label, value), style in zip(references.get(title, {}).items(), ("--", ":", "-.")):
            ax.axhline(value, ls=style, color="0.3", label=f"{label} (test)")
        ax.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
        ax.set_ylabel(result.metric)
        ax.set_title(title)
        ax.legend(fontsize=7, loc="best")
    return finish_figure(fig, path)
