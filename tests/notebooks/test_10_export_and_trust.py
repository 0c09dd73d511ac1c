"""Tutorial 10 (export and trust): smoke-level run; the package it exports passes the model test
and re-imports to the same predictions, the uncertainty maps are saved beside the predictions,
and the quality-control report is written."""

import json
import zipfile

import pytest

from im2im_helpers import io, uncertainty
from tests.notebooks.helpers import held_out, smoke_record

NOTEBOOK = "10_export_and_trust"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    held_out(folder, record["test_frames"])
    assert record["round_trip_max_difference"] == 0.0  # export -> import changes nothing
    with zipfile.ZipFile(folder / "labelfree_model.zip") as archive:
        names = set(archive.namelist())
    assert {"rdf.yaml", "weights.pt", "weights_torchscript.pt", "weights.onnx",
            "test_input.npy", "test_output.npy", "README.md"} <= names
    assert any(n.startswith("cover") and n.endswith(".png") for n in names)
    table = record["uncertainty"]
    assert "labelfree_mc_dropout" not in table  # the label-free U-Net has no dropout
    for row in ("labelfree_tta", "denoising_tta", "denoising_mc_dropout"):
        assert -1 <= table[row]["spearman"] <= 1
        # a seeded noise map says nothing about the error
        assert abs(table[row.replace("_tta", "_random_for_tta").replace(
            "_mc_dropout", "_random_for_mc_dropout")]["spearman"]) < 0.3
    summary = uncertainty.read_summary(folder / uncertainty.FILENAME)
    assert summary["method"] == "tta"
    for name in record["test_frames"]:
        prediction = io.read(folder / "predictions" / f"{name}_pred.ome.tiff")
        spread = io.read(folder / "predictions" / f"{name}_pred_uncertainty.ome.tiff")
        assert spread.data.shape == prediction.data.shape and (spread.data >= 0).all()
    html = (folder / "report.html").read_text()
    assert "uncertainty" in html and json.loads((folder / "metrics.json").read_text())
