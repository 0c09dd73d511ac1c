"""Tutorial 12 (automatic configuration): smoke-level run on the two offline datasets — the
search, the references on the same held-out images, cross-validation against the test."""

import json

import pytest

from im2im_helpers import config
from tests.notebooks.helpers import held_out, smoke_record

NOTEBOOK = "12_auto_config"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    tests = record["test_images"]
    assert tests == {"labelfree": ["t08", "t09"],  # tutorial 01's and 04's held-out images
                     "nuclei": ["stardist-right", "ndev-t08", "ndev-t09"]}
    for name, metric, baseline in (("labelfree", "pearson", "ridge"), ("nuclei", "dice", "otsu")):
        table = f"methods_{name}"
        held_out(folder / name, tests[name])  # the search's split: test pairs never trained on
        assert set(record[table]) == {"auto", baseline, "hand"}
        for method, row in record[table].items():
            assert -1 <= row[metric] <= 1
            assert record["methods"][f"{method} ({name})"] == row  # the combined table
        report = json.loads((folder / name / "auto_report.json").read_text())
        assert report["test"]["pairs"] == tests[name]
        assert report["test"]["scores"][metric] == record[table]["auto"][metric]
        cv = record["cross_validation"][name]
        assert cv["winner"] == report["best"] and cv["folds"] >= 2
        assert cv["cv_mean"] == report["cv"][cv["winner"]]["mean"]
        best = config.load(folder / name / "best.yaml")  # the YAML the command line trains
        assert best.data.source == {"labelfree": "ndev-labelfree",
                                    "nuclei": "nuclei-instances-2d"}[name]
        hand = config.load(folder / name / "hand" / "config.yaml")
        assert hand.train.max_epochs == 1  # the smoke level's HAND_EPOCHS
        assert hand.data.split.path == best.data.split.path  # the same held-out images
    # CPU seconds at the smoke level: the same work on an idle or a busy machine
    assert record["budget_min"] == 1.2 and record["clock"] == "cpu"
    assert record["estimate_single"] is True  # the smoke level cross-validates its one candidate
    assert (folder / "figures" / "cv_vs_test.png").is_file()
