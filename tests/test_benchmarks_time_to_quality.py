"""benchmarks/time_to_quality.py: the notebooks' recipes are read as the notebooks read them,
the scoring callback stops a run once the baseline is beaten, and the table is written."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from im2im_helpers import levels

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_quality.py"


@pytest.fixture(scope="module")
def ttq():
    spec = importlib.util.spec_from_file_location("time_to_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.mark.parametrize("tutorial", ["01", "02", "03", "04", "07", "09"])
def test_default_recipe_is_the_notebooks(ttq, tutorial):
    params = ttq.notebook_parameters(tutorial, "default")
    assert params["LEVEL"] == "default"
    for name, row in params["BY_LEVEL"].items():
        assert params[name] == row[levels.LEVELS.index("default")]
    assert tutorial in ttq.SETUPS


def _tiny_setup(ttq, tmp_path, baseline_val):
    from im2im_helpers import data, models, tasks
    from im2im_helpers.data.pairs import Pair, Pairs
    from im2im_helpers.data.splits import Split

    rng = np.random.default_rng(0)
    pairs = [Pair(f"p{i}", x, x * 2) for i, x in
             enumerate(rng.random((3, 1, 32, 32), dtype=np.float32))]
    split = Split(Pairs(pairs[:2]), Pairs(pairs[2:]), Pairs(), {})
    dm = data.patches(split, patch=(32, 32), batch_size=2, samples_per_image=2, seed=0)
    task = tasks.Supervised(models.build("unet", 2, channels=(4, 8), seed=0), loss="mse")
    score = ttq._mean_metric("pearson")
    net = ttq.Network("unet", task, dm, 3, ttq._predictor((32, 32)))
    setup = ttq.Setup("xx", "pearson", "base", score, [pairs[2].input], [pairs[2].target],
                      baseline_val, None, [net], {"SEED": 0})
    args = argparse.Namespace(budget_s=600.0, every_steps=None, run_to_end=False, device="cpu")
    return setup, net, args


def test_stops_once_the_baseline_is_beaten(ttq, tmp_path):
    setup, net, args = _tiny_setup(ttq, tmp_path, baseline_val=-2.0)  # beaten at once
    result = ttq.train_and_score(setup, net, tmp_path, args)
    assert result["first_beat_baseline"]["steps"] == 2  # after the first epoch of 2 steps
    assert len(result["history"]) == 1 and result["stopped"] == "beaten"


def test_not_beaten_runs_the_recipe_and_says_so(ttq, tmp_path):
    setup, net, args = _tiny_setup(ttq, tmp_path, baseline_val=2.0)  # never beaten
    result = ttq.train_and_score(setup, net, tmp_path, args)
    assert result["first_beat_baseline"] is None and result["stopped"] == "recipe end"
    assert [row["steps"] for row in result["history"]] == [2, 4, 6]
    record = {"tutorials": {"xx": {
        "metric": "pearson", "baseline": "base", "baseline_val": 2.0,
        "reference_steps_per_s": {"mean": 10.0}, "networks": {"unet": result}}}}
    table = ttq.markdown(record)
    assert "| xx | unet | pearson | base 2.000 | not within recipe end (" in table
