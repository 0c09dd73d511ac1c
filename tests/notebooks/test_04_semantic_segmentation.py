"""Tutorial 04 (semantic segmentation): smoke-level run on the offline nuclei, and GlaS glands from
the registry (served locally in the challenge's layout)."""

import json

import numpy as np
import pytest

from im2im_helpers import io
from tests.notebooks.helpers import glas_archive, held_out, smoke_record

NOTEBOOK = "04_semantic_segmentation"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    held_out(folder, record["test_images"])
    assert record["train_loss_last"] < record["train_loss_first"]
    assert set(record["methods"]) == {"otsu", "unet"}
    assert record["methods"]["otsu"]["dice"] > 0.8  # the tuned baseline is a real one
    headline = record["headline"]
    assert (headline["metric"], headline["network"], headline["baseline"]) == (
        "dice", "unet", "otsu")
    mask = io.read(folder / "predictions" / "stardist-right_mask.ome.tiff").data
    assert mask.shape == (1, 1, 1, 512, 256) and set(np.unique(mask)) <= {0, 1}


def test_semantic_tutorial_segments_glas_glands(run_tutorial, serve_registry_entry):
    """DATASET=glas: the challenge's BMP files (RGB H&E + gland instance annotations) in the
    real layout, fetched from a local copy; glands become the foreground class."""
    env = serve_registry_entry("glas", glas_archive())
    folder = run_tutorial(NOTEBOOK, env, DATASET="glas")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "glas" and record["simulated"] is False
    assert record["test_images"] == ["test/testA_1", "test/testB_1"]
    held_out(folder, record["test_images"])
    assert record["chosen"]["otsu"][1] is True  # glands darker than the rest: learned polarity
    assert record["methods"]["otsu"]["dice"] > 0.9
    assert io.read(folder / "predictions" / "test_testA_1_mask.ome.tiff").data.shape == (
        1, 1, 1, 96, 128)
