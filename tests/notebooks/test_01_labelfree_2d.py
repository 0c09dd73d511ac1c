"""Tutorial 01 (label-free 2D): smoke-level run on the offline time lapse, and the paper's dataset
from the registry (served locally in its real layout)."""

import json

import numpy as np
import pytest

from im2im_helpers import io
from tests.notebooks.helpers import held_out, smoke_record

NOTEBOOK = "01_labelfree_2d"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    held_out(folder, record["test_frames"])
    assert record["test_frames"] == ["t08", "t09"]  # the last frames of the time lapse
    assert record["train_loss_last"] < record["train_loss_first"]  # training lowered the loss
    methods = record["methods"]
    assert methods["unet"]["pearson"] > methods["input"]["pearson"] + 0.1
    pred = io.read(folder / "predictions" / "test_frames_pred.ome.tiff")
    assert pred.data.shape[0] == len(record["test_frames"])
    assert pred.pixel_sizes[2] == pytest.approx(0.619)


def test_labelfree_tutorial_switches_to_the_papers_dataset(run_tutorial, serve_registry_entry,
                                                           tmp_path):
    """DATASET=labelfree-2d-timelapse: fetched from a local copy in its real layout (one
    T x C TIFF, brightfield channel 2 -> H2B channel 4), organised, split by the paper's policy."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    nuclei = ndi.gaussian_filter(rng.random((12, 1, 144, 160)), (0, 0, 3, 3))
    movie = np.concatenate([rng.random((12, 2, 144, 160)), 2 * nuclei,
                            rng.random((12, 1, 144, 160)), nuclei], axis=1)
    movie = (movie * 5000).astype(np.uint16)  # channel 2 (input) carries the nuclei signal too
    tif = tmp_path / "movie.ome.tiff"
    io.write_ome_tiff(tif, movie, "TCYX", (None, 0.5, 0.5))
    env = serve_registry_entry("labelfree-2d-timelapse", tif.read_bytes())
    folder = run_tutorial(NOTEBOOK, env, DATASET="labelfree-2d-timelapse")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "labelfree-2d-timelapse" and record["simulated"] is False
    assert record["test_frames"] == ["t008", "t001"]  # 15 % of 12 frames, seeded (seed 0)
    held_out(folder, record["test_frames"])
    pred = io.read(folder / "predictions" / "test_frames_pred.ome.tiff")
    assert pred.data.shape == (2, 1, 1, 144, 160) and pred.pixel_sizes[2] == pytest.approx(0.5)
