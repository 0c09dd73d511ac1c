"""Tutorial 17 (diffusion image-to-image): smoke-level run of a conditional diffusion model
against the plain U-Net and the ridge baseline on tutorial 01's held-out frames, with samples,
their mean, their spread and the measured cost of sampling."""

import pytest

from im2im_helpers import io
from tests.notebooks.helpers import held_out, losses_fell, smoke_record

NOTEBOOK = "17_diffusion"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]

METHODS = ["input", "ridge", "unet", "diffusion_sample", "diffusion_mean"]
#: The claims the default and full runs are checked against: on pixels none against the ridge
#: baseline (every network only against the raw input); on realism, one diffusion sample's fine
#: detail against the U-Net's.
HEADLINE = [
    ("pearson", [], "ridge", True, "methods", "input",
     ["unet", "diffusion_mean", "diffusion_sample"]),
    ("detail_error", "diffusion_sample", "unet", False, "realism", None, []),
]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    # tutorial 01's held-out frames, written to split.json; the smoke level samples 32 x 32 crops
    assert record["test_images"] == ["t08", "t09"]
    assert held_out(folder, record["test_images"])["val"] == ["t07"]
    assert record["crop"] == [32, 32] and record["simulated"] is False
    assert record["n_samples"] == 2 and record["sampling_steps"] == 4
    assert record["prediction_type"] == "v_prediction"
    losses_fell(record)
    assert set(record["train_loss"]) == {"unet", "diffusion"}
    assert record["steps"]["unet"] == record["steps"]["diffusion"] > 0  # same patches, 1 epoch
    for trained in ("unet", "diffusion"):
        assert (folder / trained / "config.yaml").is_file()
    assert list(record["methods"]) == METHODS and list(record["realism"]) == METHODS
    for name, row in record["methods"].items():
        assert set(row) == {"pearson", "ssim", "psnr", "nrmse"}, name
        assert -1 <= row["pearson"] <= 1, name
    realism = record["realism"]
    for name, row in realism.items():
        assert set(row) == {"intensity_distance", "hf_ratio", "detail_error"}, name
        assert row["intensity_distance"] >= 0 and row["hf_ratio"] > 0, name
    # the mean of two different samples is smoother than one of them
    assert realism["diffusion_mean"]["hf_ratio"] < realism["diffusion_sample"]["hf_ratio"]
    spread = record["spread_vs_error"]["diffusion_mean"]  # the samples' spread, the mean's error
    assert set(spread) == {"spearman", "patches", "relative_ause", "aurg"}
    assert spread["patches"] == 8 and -1 <= spread["spearman"] <= 1
    cost = record["cost"]
    assert cost["device"] == "cpu" and cost["pixels_per_image"] == 32 * 32
    assert cost["seconds_per_sample"] > 0 and cost["samples_per_image"] == 2
    assert cost["seconds_per_step"] == pytest.approx(cost["seconds_per_sample"] / 4)
    assert [(h["metric"], h["network"], h["baseline"], h["higher_is_better"], h["table"],
             h["input"], h["others"]) for h in record["headline"]] == HEADLINE
    for name in record["test_images"]:
        samples = io.read(folder / "predictions" / f"{name}_diffusion_samples.ome.tiff").data
        assert samples.shape == (2, 1, 1, 32, 32), samples.shape
        for kind in ("mean", "spread"):
            image = io.read(folder / "predictions" / f"{name}_diffusion_{kind}.ome.tiff").data
            assert image.shape == (1, 1, 1, 32, 32), (kind, image.shape)
    for figure in ("comparison", "intensity_histograms", "power_spectra", "spread_vs_error",
                   "loss_unet", "loss_diffusion"):
        assert (folder / "figures" / f"{figure}.png").is_file(), figure
