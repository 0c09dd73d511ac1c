"""Tutorial 08 (segmentation without pairs): smoke-level run on the offline nuclei — Otsu, a U-Net
trained on the pairs, and a CycleGAN trained on deliberately unpaired patches, whose image -> mask
generator segments the held-out images. (Colour images and unpaired patches of GlaS glands run in
the test of 08b, which trains the same CycleGAN.)"""

import numpy as np
import pytest

from im2im_helpers import io
from tests.notebooks.helpers import held_out, losses_fell, smoke_record

NOTEBOOK = "08_segmentation_unpaired"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    held_out(folder, record["test_images"])
    losses_fell(record)
    assert set(record["train_loss"]) == {"unet_supervised", "cyclegan"}
    assert set(record["methods"]) == {"otsu", "unet_supervised", "cyclegan"}
    assert record["methods"]["otsu"]["dice"] > 0.8  # the tuned baseline is a real one
    # a default run claims the paired U-Net beats Otsu; a full run, the CycleGAN too
    headline = record["headline"]
    assert (headline["metric"], headline["network"], headline["others"]) == (
        "dice", ["unet_supervised"], ["cyclegan"])
    assert headline["baseline"] == "otsu"
    mask = io.read(folder / "predictions" / "stardist-right_cyclegan_mask.ome.tiff").data
    assert mask.shape == (1, 1, 1, 512, 256) and set(np.unique(mask)) <= {0, 1}
    assert "unpaired: true" in (folder / "cyclegan" / "config.yaml").read_text()
    assert not list(folder.glob("synthetic_*")), "synthesis lives in 08b_synthesis_realism"
