"""Tutorial 08b (synthesis and realism): smoke-level run on the offline nuclei — the judge U-Net,
the blurred-mask baseline, pix2pix and a CycleGAN of its own drawing images from the test masks, and
U-Nets trained on each generator's images — and GlaS's colour glands from the registry (served
locally)."""

import json

import numpy as np
import pytest

from im2im_helpers import io
from tests.notebooks.helpers import glas_archive, held_out, losses_fell, smoke_record

NOTEBOOK = "08b_synthesis_realism"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]
GENERATORS = ("blurred_mask", "pix2pix", "cyclegan")


def check_synthetic_training(folder, test_images: list[str]) -> None:
    """The generators learn on the segmentation split's images, and the U-Nets trained on
    synthetic images see images drawn from the training and validation masks only."""
    split = held_out(folder, test_images)
    held_out(folder, test_images, "split_synthesis.json")
    for generator in GENERATORS:
        made = json.loads((folder / f"split_synthetic_{generator}.json").read_text())["names"]
        assert set(made["train"]) == set(split["train"]), generator
        assert made["test"] == [] and not set(test_images) & set(made["train"] + made["val"])


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    check_synthetic_training(folder, record["test_images"])
    losses_fell(record)
    assert set(record["methods"]) == {"otsu", "unet_supervised", *(
        f"unet_on_{g}_images" for g in GENERATORS)}
    headline = record["headline"]  # realism: pix2pix's grey levels against the blurred mask's
    assert (headline["metric"], headline["network"], headline["baseline"], headline["table"],
            headline["higher_is_better"]) == ("intensity_distance", "pix2pix", "blurred_mask",
                                              "realism", False)
    realism = record["realism"]
    assert set(realism) == {"real", *GENERATORS}
    assert realism["real"]["intensity_distance"] == 0 and realism["real"]["ssim"] == 1
    for name in GENERATORS:  # compared with the real image of the same mask
        assert -1 < realism[name]["ssim"] < 1 and realism[name]["intensity_distance"] > 0
    blur = record["chosen"]["blurred_mask"]  # fitted on training pairs: bright nuclei
    assert blur["foreground"][0] > blur["background"][0] and realism["blurred_mask"]["ssim"] > 0.7
    assert realism["blurred_mask"]["hf_ratio"] < 0.1  # no texture at all
    for name in GENERATORS:  # synthetic images: the real image's shape and range
        image = io.read(folder / "predictions" / f"stardist-right_{name}_image.ome.tiff").data
        low, high = np.percentile(image, (1, 99))
        assert image.shape == (1, 1, 1, 512, 256) and -1 < low < high < 2
    assert "masks_to_images" in (folder / "pix2pix" / "config.yaml").read_text()
    assert "unpaired: true" in (folder / "cyclegan" / "config.yaml").read_text()
    made = json.loads((folder / "synthetic_blurred_mask" / "pairs.json").read_text())
    assert made["config"]["source"]["simulated"]["sigma"] == blur["sigma"]


def test_synthesis_tutorial_runs_on_colour_glands(run_tutorial, serve_registry_entry):
    """DATASET=glas: RGB images, names with folders (train/..., test/...): unpaired patches,
    colour synthetic images (one blurred-mask level per channel) written and read back, the
    registry's own test set."""
    env = serve_registry_entry("glas", glas_archive())
    folder = run_tutorial(NOTEBOOK, env, DATASET="glas")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "glas" and record["test_images"] == ["test/testA_1",
                                                                     "test/testB_1"]
    check_synthetic_training(folder, record["test_images"])
    assert record["methods"]["otsu"]["dice"] > 0.9  # flat-coloured glands: an easy threshold
    assert len(record["chosen"]["blurred_mask"]["background"]) == 3
    for name in GENERATORS:  # a colour image drawn from a mask
        image = io.read(folder / "predictions" / f"test_testA_1_{name}_image.ome.tiff").data
        assert image.shape == (1, 3, 1, 96, 128), name
    assert (folder / "synthetic_cyclegan" / "train__train_1_IM.ome.tiff").is_file()
