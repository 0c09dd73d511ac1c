"""Issue 16, item 1: every kind of run exports -- segmentation (sigmoid, softmax), Noise2Void,
instance embeddings, the generators of pix2pix and CycleGAN, and a run whose inputs were never
normalised (masks -> images) -- into a package that passes bioimageio.core's test (state dict
and TorchScript) and predicts, once imported, what the task predicts.

The task's ``postprocess`` becomes the package's postprocessing (sigmoid, softmax over
channels) or, for embeddings (no such operation in the spec: ``tanh``, ``exp`` and sigmoid per
channel), part of the network. Predictions agree exactly (max abs difference 0) where the
package runs the same torch operations; bioimageio.core's numpy sigmoid and scipy softmax
differ from torch's by float32 rounding (asserted below 1e-6, measured about 6e-8).
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import yaml

from im2im_helpers import config, data, io, models, predict, tasks, train
from im2im_helpers.export import export_run, load_package
from im2im_helpers.tasks import TASKS
from tests.export.conftest import TINY, fit, segmentation_run

FORMATS = ["pytorch_state_dict", "torchscript"]
SMALL_D = {"features": 4, "n_layers": 1}


def _image(folder, role: str = "IM") -> np.ndarray:
    """The first ``role`` image of ``folder`` as ``(1, Y, X)`` raw values."""
    return io.read(sorted(folder.glob(f"*_{role}.ome.tiff"))[0]).data[0, :1, 0]


def _exported(run, out, expect_post, x, exact=True):
    """Export ``run`` (tested by bioimageio.core), import it and compare its prediction of the
    raw image ``x`` with the task's; returns the package's rdf."""
    package = export_run(run, out / "model.zip", formats=FORMATS)
    with zipfile.ZipFile(package) as z:
        rdf = yaml.safe_load(z.read("rdf.yaml"))
    post = rdf["outputs"][0].get("postprocessing") or []
    assert [p["id"] for p in post if p["id"] != "ensure_dtype"] == expect_post
    model = load_package(package, check=False)
    cfg = config.load(run / "config.yaml")
    task = train.load_run_model(run, TASKS[cfg.task.kind])
    roi = cfg.data.patches.patch
    x = model.preprocess(x)  # what predict.file does with a package
    expected = predict.image(task, x, roi)
    got = predict.image(model, x, roi)
    gap = np.abs(got - expected).max()
    assert gap == 0.0 if exact else gap <= 1e-6, gap
    return rdf


def test_segmentation_exports_with_sigmoid_or_softmax(blob_folder, tmp_path):
    binary = segmentation_run(tmp_path / "one", blob_folder, classes=1)
    rdf = _exported(binary, tmp_path / "one", ["sigmoid"], _image(blob_folder), exact=False)
    assert rdf["outputs"][0]["axes"][1]["channel_names"] == ["foreground"]
    three = segmentation_run(tmp_path / "three", blob_folder, classes=3)
    rdf = _exported(three, tmp_path / "three", ["softmax"], _image(blob_folder), exact=False)
    assert rdf["outputs"][0]["axes"][1]["channel_names"] == ["class0", "class1", "class2"]
    assert rdf["config"]["bioimageio"]["task"] == "segmentation"


def test_instance_embeddings_carry_their_postprocess_in_the_network(blob_folder, tmp_path):
    pairs = data.load(blob_folder, normalize_target=False)
    task = tasks.InstanceEmbedding({"name": "unet", "dims": 2, **TINY})
    run = fit(tmp_path, pairs, task, (32, 32))
    rdf = _exported(run, tmp_path, [], _image(blob_folder))
    assert rdf["outputs"][0]["axes"][1]["channel_names"] == [
        "offset_y", "offset_x", "sigma_y", "sigma_x", "seediness"]
    head = rdf["weights"]["pytorch_state_dict"]["architecture"]["kwargs"]["head"]
    assert head["kind"] == "embedding" and head["n_sigma"] == 2


@pytest.mark.slow
def test_noise2void_and_pix2pix_generators(run_2d, tmp_path):
    pairs = data.load(run_2d.parent / "pairs")
    n2v = fit(tmp_path / "n2v", pairs, tasks.Noise2Void(models.build("unet", 2, **TINY)),
              (32, 32))
    x = _image(run_2d.parent / "pairs")
    rdf = _exported(n2v, tmp_path / "n2v", [], x)
    assert rdf["config"]["bioimageio"]["task"] == "denoising"
    assert any("Noise2Void" in c["text"] for c in rdf["cite"])
    gan = tasks.Pix2Pix({"name": "unet", "dims": 2, **TINY}, discriminator=SMALL_D, samples=0)
    run = fit(tmp_path / "p2p", pairs, gan, (32, 32))
    rdf = _exported(run, tmp_path / "p2p", [], x)
    assert rdf["config"]["bioimageio"]["task"] == "generator"
    assert rdf["weights"]["pytorch_state_dict"]["architecture"]["kwargs"]["out_channels"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cyclegan", "masks_to_images"])
def test_cyclegan_generator_and_raw_inputs(blob_folder, tmp_path, kind):
    pairs = data.load(blob_folder, normalize_target=kind == "cyclegan")
    net = {"name": "unet", "dims": 2, **TINY}
    if kind == "cyclegan":
        task = tasks.CycleGAN(net, discriminator=SMALL_D, samples=0, pool_size=2)
        run = fit(tmp_path, pairs, task, (32, 32), unpaired=True)
    else:
        pairs = data.masks_to_images(pairs)
        run = fit(tmp_path, pairs, tasks.Supervised(models.build("unet", 2, **TINY)), (32, 32))
    x = _image(blob_folder) if kind == "cyclegan" else (_image(blob_folder, "GT") > 0)
    rdf = _exported(run, tmp_path, [], x.astype(np.float32))
    pre = [p["id"] for p in rdf["inputs"][0].get("preprocessing") or []]
    assert pre == (["ensure_dtype", "scale_range", "ensure_dtype"] if kind == "cyclegan"
                   else ["ensure_dtype"])  # a mask input was never normalised
