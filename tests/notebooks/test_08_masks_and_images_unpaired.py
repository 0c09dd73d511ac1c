"""Tutorial 08 (masks and images, unpaired): smoke-level run on the offline nuclei (pix2pix and
CycleGAN in both directions, U-Nets trained on synthetic images), and GlaS's colour glands from
the registry (served locally)."""

import json

import numpy as np
import pytest

from im2im_helpers import io
from tests.notebooks.helpers import glas_archive, held_out, losses_fell, smoke_record

NOTEBOOK = "08_masks_and_images_unpaired"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def check_synthetic_training(folder, test_images: list[str]) -> None:
    """The image generators learn on the segmentation split's images, and the U-Nets trained
    on synthetic images see images drawn from the training masks only."""
    split = held_out(folder, test_images)
    held_out(folder, test_images, "split_synthesis.json")
    for generator in ("pix2pix", "cyclegan"):
        made = json.loads((folder / f"split_synthetic_{generator}.json").read_text())["names"]
        assert set(made["train"]) == set(split["train"]), generator
        assert made["test"] == [] and not set(test_images) & set(made["train"] + made["val"])


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    check_synthetic_training(folder, record["test_images"])
    losses_fell(record)
    assert set(record["methods"]) == {"otsu", "unet_supervised", "cyclegan",
                                      "unet_on_pix2pix_images", "unet_on_cyclegan_images"}
    # a default run claims the paired U-Net beats Otsu; a full run, the CycleGAN too
    assert (record["headline"]["network"], record["headline"]["others"]) == (
        ["unet_supervised"], ["cyclegan"])
    assert record["headline"]["baseline"] == "otsu"
    realism = record["realism"]
    assert set(realism) == {"real", "pix2pix", "cyclegan"}
    for name in ("pix2pix", "cyclegan"):  # compared with the real image of the same mask
        assert -1 < realism[name]["ssim"] < 1 and realism[name]["intensity_distance"] > 0
    mask = io.read(folder / "predictions" / "stardist-right_cyclegan_mask.ome.tiff").data
    assert mask.shape == (1, 1, 1, 512, 256) and set(np.unique(mask)) <= {0, 1}
    for name in ("pix2pix", "cyclegan"):  # synthetic images: the real image's shape, range
        image = io.read(folder / "predictions" / f"stardist-right_{name}_image.ome.tiff").data
        low, high = np.percentile(image, (1, 99))
        assert image.shape == (1, 1, 1, 512, 256) and -1 < low < high < 2
    assert "unpaired: true" in (folder / "cyclegan" / "config.yaml").read_text()


def test_masks_and_images_tutorial_runs_on_colour_glands(run_tutorial, serve_registry_entry):
    """DATASET=glas: RGB images, names with folders (train/..., test/...): unpaired patches,
    colour synthetic images written and read back, the registry's own test set."""
    env = serve_registry_entry("glas", glas_archive())
    folder = run_tutorial(NOTEBOOK, env, DATASET="glas")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "glas" and record["test_images"] == ["test/testA_1",
                                                                     "test/testB_1"]
    check_synthetic_training(folder, record["test_images"])
    assert record["methods"]["otsu"]["dice"] > 0.9  # flat-coloured glands: an easy threshold
    image = io.read(folder / "predictions" / "test_testA_1_pix2pix_image.ome.tiff").data
    assert image.shape == (1, 3, 1, 96, 128)  # a colour image drawn from a mask
    assert (folder / "synthetic_cyclegan" / "train__train_1_IM.ome.tiff").is_file()
