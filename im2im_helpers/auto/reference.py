"""The hand-written recipe as a reference for an automatic run: the matching tutorial's default
recipe (the first candidate :func:`~im2im_helpers.auto.candidates.propose` makes), trained with
the tutorial's own schedule on the same training pairs as the automatic run's final model and
tested on the same held-out pairs in the same way — so that "at least as good as the hand
recipe" compares like with like, with the seconds each used on the same clock."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from im2im_helpers import config, data, train
from im2im_helpers.auto import budget
from im2im_helpers.auto.candidates import Candidate, recipes
from im2im_helpers.auto.kinds import AutoError, get_task
from im2im_helpers.auto.pipeline import AutoResult, load_pairs, test_split
from im2im_helpers.auto.profile import profile_data
from im2im_helpers.auto.report import JSON
from im2im_helpers.auto.search import quiet, scores
from im2im_helpers.config import SplitConfig
from im2im_helpers.data import Split


@dataclass
class Reference:
    """The hand recipe trained beside an automatic run.

    Attributes
    ----------
    name : str
        The candidate's name (the tutorial's recipe).
    epochs : int
        Epochs it trained (the tutorial's default schedule unless given).
    test_score : float
        The automatic run's metric on its held-out test pairs.
    test_scores : dict
        Every metric of the task on the test pairs (means).
    seconds : float
        Training and testing, on the clock asked for (``"cpu"``: CPU seconds of this process).
    wall_s : float
        The same in wall seconds.
    run : pathlib.Path
        Its run folder.
    """

    name: str
    epochs: int
    test_score: float
    test_scores: dict
    seconds: float
    wall_s: float
    run: Path


def run_content(result: AutoResult) -> dict:
    """The report of the automatic run ``result`` (``auto_report.json``).

    Raises
    ------
    AutoError
        When its folder holds no report.
    """
    path = Path(result.out) / JSON
    if not path.is_file():
        raise AutoError(f"{path}: no report of an automatic run here; run auto.run first.")
    return json.loads(path.read_text())


def split_of(result: AutoResult) -> Split:
    """The training and test pairs of the automatic run ``result``, as its task learns them
    (instance labels turned into masks for segmentation): what a baseline or a reference must
    be fitted and tested on to compare with it.

    Raises
    ------
    AutoError
        When its folder holds no report or its ``split.json`` is not the study's.
    """
    return split_in(run_content(result), Path(result.out))


def split_in(content: dict, out: Path) -> Split:
    """The split of the automatic run whose report is ``content`` and folder ``out``."""
    pairs, _, _ = load_pairs(content["source"], get_task(content["task"]))
    return test_split(pairs, out / "split.json", content["setup"])


def hand_recipe(result: AutoResult, out: str | os.PathLike, *, epochs: int | None = None,
                clock: str = "cpu", tta: bool = True, overwrite: bool = False,
                progress: bool = False) -> Reference:
    """Train the tutorial's hand recipe on the training pairs of the automatic run ``result``
    and test it on the run's test pairs.

    Parameters
    ----------
    result : AutoResult
        A finished automatic run (:func:`~im2im_helpers.auto.pipeline.run`): its report names the
        data, the task and the candidates, its ``split.json`` the test pairs.
    out : path-like
        The run folder of the hand recipe (a new folder, or one of ours with ``overwrite``).
    epochs : int, optional
        Epochs to train (default: the tutorial's default level, the recipe's ``epochs``).
    clock : str
        ``"cpu"`` or ``"wall"``: how :attr:`Reference.seconds` is counted (as the automatic
        run's budget).
    tta : bool
        Test with test-time augmentation (as the automatic run does by default).
    overwrite : bool
        Replace an earlier run in ``out`` (only a run folder of ours).
    progress : bool
        Show the progress bar.

    Returns
    -------
    Reference

    Raises
    ------
    AutoError
        When ``result`` has no report, or its candidates do not start with a tutorial's recipe
        (candidates given by hand).
    """
    now = budget.clock(clock)
    content = run_content(result)
    task = get_task(content["task"])
    first = Candidate.from_dict(content["setup"]["proposed"][0])
    split = split_in(content, Path(result.out))
    recipe = recipes(task, profile_data(split.train))[0]
    if recipe.name != first.name or recipe.epochs is None:
        raise AutoError(f"{Path(result.out) / JSON}: the first candidate is {first.name!r}, "
                        "not a tutorial's hand recipe (candidates given by hand); train the "
                        "reference yourself.")
    epochs = int(epochs or recipe.epochs)
    cfg = first.config
    cfg = replace(cfg, data=replace(cfg.data, split=SplitConfig(**split.config)),
                  train=replace(cfg.train, max_epochs=epochs, max_time_s=None))
    start, wall = now(), time.monotonic()
    with quiet():
        fitted = train.fit(config.build_task(cfg), data.patches(split, cfg.data.patches), out,
                           cfg.train, overwrite=overwrite, progress=progress)
    per_pair = scores(fitted.model, split.test, task, cfg.data.patches.patch, task.metrics,
                      tta=tta)
    means = {m: float(sum(v) / len(v)) for m, v in per_pair.items()}
    return Reference(first.name, epochs, means[task.metric], means, now() - start,
                     time.monotonic() - wall, fitted.path)
