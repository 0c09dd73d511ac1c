"""The hand recipe as the reference of an automatic run: the tutorial's recipe, trained with
the tutorial's schedule on the automatic run's training pairs, tested on its test pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from im2im_helpers import auto, config
from im2im_helpers.auto.kinds import AutoError
from tests.auto.conftest import tiny_candidate


@pytest.fixture(scope="module")
def searched(tiny_folder, tmp_path_factory):
    """An automatic run that proposed its own candidates (no trial: only the set-up)."""
    return auto.run(tiny_folder, "labelfree", 2.0, tmp_path_factory.mktemp("ref") / "auto",
                    folds=2, test=2, max_trials=0, retrain=False, log=None)


def test_the_hand_recipe_trains_on_the_automatic_runs_pairs_and_is_tested_on_its_test_pairs(
        searched, tmp_path):
    reference = auto.hand_recipe(searched, tmp_path / "hand", epochs=2, clock="wall")
    assert reference.name == "unet3-wide-mse" and reference.epochs == 2
    cfg = config.load(reference.run / "config.yaml")
    assert cfg.train.max_epochs == 2 and cfg.train.max_time_s is None
    assert cfg.data.split.path == str(searched.out / "split.json")  # the same split file
    split = json.loads((searched.out / "split.json").read_text())["names"]
    assert len(split["test"]) == 2 and len(split["train"]) == 6
    history = np.genfromtxt(next(reference.run.glob("logs/*/metrics.csv")), delimiter=",",
                            names=True)
    assert np.nanmax(history["epoch"]) == 1  # two epochs
    # the tiny target is a linear function of the input: two epochs already correlate
    assert 0.5 < reference.test_score <= 1.0
    assert set(reference.test_scores) == {"pearson", "ssim", "psnr", "nrmse"}
    assert 0 < reference.seconds and 0 < reference.wall_s


def test_without_a_tutorials_recipe_among_the_candidates_it_says_so(tiny_folder, tmp_path):
    given = auto.run(tiny_folder, "labelfree", 2.0, tmp_path / "auto", folds=2, test=2,
                     max_trials=0, retrain=False, log=None,
                     candidates=[tiny_candidate(tiny_folder, "mine", 1e-2, 1)])
    with pytest.raises(AutoError, match="not a tutorial's hand recipe"):
        auto.hand_recipe(given, tmp_path / "hand")
    assert not (tmp_path / "hand").exists()


def test_a_folder_without_an_automatic_run_is_refused(tmp_path, searched):
    from dataclasses import replace

    with pytest.raises(AutoError, match="no report of an automatic run"):
        auto.hand_recipe(replace(searched, out=tmp_path), tmp_path / "hand")
