"""Tutorial 03 (modality transfer): smoke-level run on a real sharp image with a simulated confocal
input, and the 3D-RCAN confocal/STED data from the registry (served locally)."""

import json

import pytest

from im2im_helpers import io
from tests.helpers import zip_bytes
from tests.notebooks.helpers import clean_volumes, held_out, smoke_record, volume_bytes

NOTEBOOK = "03_modality_transfer"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    held_out(folder, record["test_images"])
    methods = record["methods"]
    assert record["train_loss_last"] < record["train_loss_first"]
    assert methods["unet"]["ssim"] > methods["input"]["ssim"]
    assert methods["unet"]["pearson"] > methods["input"]["pearson"]
    headline = record["headline"]
    assert (headline["metric"], headline["network"], headline["baseline"]) == (
        "pearson", "unet", "richardson_lucy")
    saved = io.read(folder / "predictions" / "phalloidin-test_pred.ome.tiff")
    assert saved.data.shape == (1, 1, 1, 623, 251)
    assert saved.pixel_sizes[2] == pytest.approx(0.1241)


def test_modality_transfer_tutorial_trains_on_confocal_sted_data(run_tutorial,
                                                                 serve_registry_entry, tmp_path):
    """DATASET=confocal-sted: the 3D-RCAN folders (Training/test, raw/gt), real layout."""
    from scipy import ndimage as ndi

    root = "Confocal_2_STED/Microtubule"
    files = {}
    for part, names, seed in (("Training", ["a", "b", "c"], 0), ("test", ["d"], 5)):
        for name, sharp in zip(names, clean_volumes(len(names), seed=seed)):
            files[f"{root}/{part}/gt/{name}.tif"] = volume_bytes(tmp_path, sharp)
            files[f"{root}/{part}/raw/{name}.tif"] = volume_bytes(
                tmp_path, ndi.gaussian_filter(sharp, 1.5))
    env = serve_registry_entry("confocal-sted", zip_bytes(files))
    folder = run_tutorial(NOTEBOOK, env, DATASET="confocal-sted", PATCH="32")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "confocal-sted" and record["simulated"] is False
    assert record["test_images"] == ["test/d"]
    held_out(folder, record["test_images"])
    assert io.read(folder / "predictions" / "test_d_pred.ome.tiff").data.shape == (1, 1, 8, 40, 40)
