"""Automatic configuration by cross-validation (the paper's ``MMV_Im2Im_Auto``).

``run(data, task=..., budget_min=..., out=...)`` looks at the data and the machine
(:mod:`~im2im_helpers.auto.profile`), proposes a few candidate run configurations with their
reasons (the first one the matching tutorial's hand recipe;
:mod:`~im2im_helpers.auto.candidates`), fits them into the time budget
(:mod:`~im2im_helpers.auto.budget`: a fixed share for the final model, fewer folds and
candidates when the budget is small), cross-validates them on the training pairs in a
resumable, shareable Optuna study (:mod:`~im2im_helpers.auto.search`), retrains the winner on
all training pairs (from its best fold model, its schedule refitted to the time left), tests it
once on the held-out pairs and writes a report
(:mod:`~im2im_helpers.auto.report`). :func:`~im2im_helpers.auto.reference.hand_recipe` trains
the tutorial's hand recipe on the same pairs, as the reference to beat. On the command line:
``python -m im2im_helpers auto DATA --task TASK --budget-min N --out DIR``
(:mod:`~im2im_helpers.auto.cli`).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives; imported on first use, so that the command line's parser
#: (:mod:`~im2im_helpers.auto.cli`) loads neither torch nor Optuna.
PUBLIC = {
    "Plan": "budget", "make_plan": "budget",
    "Candidate": "candidates", "measure_step": "candidates", "propose": "candidates",
    "AUTO_TASKS": "kinds", "AutoError": "kinds", "AutoTask": "kinds", "get_task": "kinds",
    "AutoResult": "pipeline", "load_pairs": "pipeline", "run": "pipeline",
    "Reference": "reference", "hand_recipe": "reference", "split_of": "reference",
    "plot_cv_vs_test": "figures",
    "DataProfile": "profile", "DeviceProfile": "profile", "profile_data": "profile",
    "profile_device": "profile",
    "candidate_results": "search", "open_study": "search",
}

__all__ = sorted(PUBLIC)


def __getattr__(name: str) -> Any:
    """The public name ``name`` from its module (imported on first use)."""
    if name not in PUBLIC:
        raise AttributeError(f"module 'im2im_helpers.auto' has no attribute {name!r}")
    return getattr(importlib.import_module(f"im2im_helpers.auto.{PUBLIC[name]}"), name)
