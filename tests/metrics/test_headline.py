"""metrics.json names its headline; the checker tells from the file alone whether the network
won, and names the tutorial when it lost."""

import json

import pytest

from im2im_helpers import metrics
from im2im_helpers.metrics import headline

TABLE = {"input": {"pearson": 0.03}, "ridge": {"pearson": 0.45}, "unet": {"pearson": 0.66},
         "unet_tta": {"pearson": 0.67}}


def test_a_won_headline_is_written_and_checked(tmp_path):
    path = metrics.write_json(
        tmp_path / "metrics.json", "01_x", "d", TABLE, simulated=False, level="default",
        headline=metrics.Headline("pearson", "unet", "ridge", input="input",
                                  others=["unet_tta"]))
    record = json.loads(path.read_text())
    assert record["level"] == "default"
    assert record["headline"] == {"metric": "pearson", "network": "unet", "baseline": "ridge",
                                  "higher_is_better": True, "table": "methods",
                                  "input": "input", "others": ["unet_tta"]}
    claims = headline.check(record, "01_x")
    assert [(c.method, c.reference, c.won) for c in claims] == [
        ("unet", "ridge", True), ("unet_tta", "input", True)]


def test_a_lost_headline_names_the_tutorial_and_the_numbers():
    record = {"methods": {**TABLE, "unet": {"pearson": 0.40}}, "headline": {
        "metric": "pearson", "network": ["unet"], "baseline": "ridge"}}
    with pytest.raises(headline.HeadlineLost,
                       match=r"01_x: unet does NOT beat ridge on pearson \(methods\): "
                             r"0.400 vs 0.450"):
        headline.check(record, "01_x")
    errors = {"methods": {"gaussian": {"nrmse": 0.04}, "n2v": {"nrmse": 0.05}},
              "headline": {"metric": "nrmse", "network": "n2v", "baseline": "gaussian",
                           "higher_is_better": False}}
    with pytest.raises(headline.HeadlineLost, match="n2v does NOT beat gaussian"):
        headline.check(errors, "02_x")


def test_a_headline_naming_a_missing_method_is_refused_when_written(tmp_path):
    with pytest.raises(KeyError, match="unet3d"):
        metrics.write_json(tmp_path / "m.json", "t", "d", TABLE, simulated=False,
                           level="smoke", headline=metrics.Headline("pearson", "unet3d", "ridge"))
    assert not (tmp_path / "m.json").exists()
    assert headline.check({"methods": TABLE, "headline": None}, "00_data") == []
