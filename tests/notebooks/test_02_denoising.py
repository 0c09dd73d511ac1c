"""Tutorial 02 (denoising): smoke-level run on real nuclei with simulated noise, and CARE's planaria
data from the registry (served locally in its real layout)."""

import io as stdio
import json

import numpy as np
import pytest

from im2im_helpers import io
from tests.helpers import tar_gz_bytes
from tests.notebooks.helpers import clean_volumes, held_out, smoke_record, volume_bytes

NOTEBOOK = "02_denoising"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    held_out(folder, record["test_images"])
    held_out(folder, ["img001"], "split3d.json")  # the 3D section holds out one half
    methods = record["methods"]
    for trained in ("supervised", "noise2void"):  # both learned something real
        assert record["train_loss"][trained]["last"] < record["train_loss"][trained]["first"]
        assert methods[trained]["psnr"] > methods["noisy"]["psnr"] + 1
    assert methods["noisy"]["psnr"] < methods["gaussian"]["psnr"]
    assert record["methods_3d"]["supervised"]["psnr"] > record["methods_3d"]["noisy"]["psnr"]
    # the claims the runner checks: supervised beats the Gaussian filter (2D); in 3D, with one
    # half-volume to learn from, the network is only claimed to beat the noisy input
    assert [(h["table"], h["metric"], h["network"], h["baseline"], h["others"])
            for h in record["headline"]] == [
        ("methods", "psnr", "supervised", "gaussian", ["noise2void"]),
        ("methods_3d", "psnr", [], "gaussian", ["supervised"])]
    saved = io.read(folder / "predictions" / "stardist-right_denoised.ome.tiff")
    assert saved.data.shape == (1, 1, 1, 512, 256)


def test_denoising_tutorial_trains_on_care_data(run_tutorial, serve_registry_entry, tmp_path):
    """DATASET=care-planaria: CARE's data_label.npz (noisy/clean training patches) and its test
    conditions, fetched from a local copy in the real layout, train and test in 3D."""
    rng = np.random.default_rng(1)
    clean = np.stack(clean_volumes(6))[:, None]  # S C Z Y X
    buffer = stdio.BytesIO()
    np.savez(buffer, X=clean + rng.normal(0, 0.05, clean.shape).astype("float32"), Y=clean,
             axes="SCZYX")
    test_clean = clean_volumes(1, seed=9)[0]
    files = {"Denoising_Planaria/train_data/data_label.npz": buffer.getvalue(),
             "Denoising_Planaria/test_data/condition_1/a.tif":
                 volume_bytes(tmp_path, test_clean + rng.normal(0, 0.05, test_clean.shape)),
             "Denoising_Planaria/test_data/GT/a.tif": volume_bytes(tmp_path, test_clean)}
    env = serve_registry_entry("care-planaria", tar_gz_bytes(files))
    folder = run_tutorial(NOTEBOOK, env, DATASET="care-planaria", PATCH="32", BATCH="4")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "care-planaria" and record["simulated"] is False
    assert record["test_images"] == ["test/condition_1_a"] and record["sweep"] is None
    held_out(folder, record["test_images"])
    saved = io.read(folder / "predictions" / "test_condition_1_a_denoised.ome.tiff")
    assert saved.data.shape == (1, 1, 8, 40, 40)
