"""The MMV_Im2Im paper's model archive, as a stand-in in its real format served over loopback,
is fetched, listed and loaded; every mappable checkpoint predicts exactly what the plain MONAI
network of its configuration computes with the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from im2im_helpers import io, predict
from im2im_helpers.pretrained import (
    CheckpointError,
    PretrainedError,
    UnmappableError,
    UnsupportedPreprocessingError,
    catalog,
    load,
    paper_model,
    table,
)
from im2im_helpers.tasks import CycleGAN, Pix2Pix, Supervised
from tests.helpers import serve_entry, use, zip_bytes
from tests.pretrained import standin

SAMPLE = zip_bytes({"exp7_image_denoising/tribolium/input_0.tiff": b"not read here"})


def archive(configs, damaged: str | None = None) -> tuple[bytes, dict]:
    """``models.zip`` of the stand-in checkpoints (``damaged``: that one cut in half) and
    their state dicts."""
    states = standin.states(configs)
    files = {path: standin.checkpoint_bytes(state, full=i % 2 == 1)
             for i, (path, state) in enumerate(states.items())}
    if damaged:
        files[damaged] = files[damaged][: len(files[damaged]) // 2]
    return zip_bytes(files), states


@pytest.fixture
def served(server, monkeypatch, tiny):
    """The registry's ``mmv-im2im-models`` entry served from loopback with the stand-in."""
    models_zip, states = archive(tiny)
    use(monkeypatch, serve_entry(server, "mmv-im2im-models", [models_zip, SAMPLE]))
    return states


def image(shape, seed=0, scale=1000.0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * scale).astype(np.float32)


def test_catalog_lists_every_checkpoint_with_its_application_and_whether_it_maps(served):
    entries = {e.name: e for e in catalog(progress=False)}
    assert sorted(entries) == sorted(p.removeprefix("models/").removesuffix(".ckpt")
                                     for p in standin.ARCHIVE)
    fnet = entries["labelfree/2d/fnet"]
    assert (fnet.application, fnet.tutorial, fnet.maps) == ("labelfree_2d", "01_labelfree_2d",
                                                            True)
    assert "Supervised (regression)" in fnet.reason and "'fnet', dims=2" in fnet.reason
    assert "fnet_nn_2d" in fnet.network
    synthetic = entries["synthetic/3d/supervised"]
    assert synthetic.maps and synthetic.tutorial == "08b_synthesis_realism"
    assert "Pix2Pix" in synthetic.reason and "'fnet', dims=3" in synthetic.reason
    embedseg = entries["instance_seg/2d/embedseg"]
    assert not embedseg.maps and "ERFNet" in embedseg.reason
    tribolium = entries["denoising/tribolium"]
    assert tribolium.maps and tribolium.tutorial == "02_denoising"
    assert "Supervised (regression)" in tribolium.reason and "'unet', dims=3" in tribolium.reason
    assert entries["multiplex/dapi"].tutorial == "07_stain_transfer"
    assert "Pix2Pix" in entries["multiplex/dapi"].reason
    assert "normalize_staining" in entries["semantic_seg/2d/glas"].note
    rows = table(list(entries.values()))
    assert {r["name"] for r in rows} == set(entries) and all("maps" in r for r in rows)


@pytest.mark.parametrize("name", ["denoising/tribolium", "denoising/planaria"])
def test_denoising_checkpoints_predict_like_the_plain_monai_unet(served, tiny, name):
    model = paper_model(name, progress=False)
    assert isinstance(model.task, Supervised) and not model.task.training
    assert model.application == "denoising_3d" and model.roi == (8, 32, 32)
    assert model.task.net.im2im_spec["name"] == "unet"
    x = image((1, 8, 32, 32))
    expected = standin.reference(tiny["denoising_3d"], served[f"models/{name}.ckpt"], x)
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)
    # predict.image on the task, after the same normalisation, is the same prediction
    np.testing.assert_allclose(predict.image(model.task, model.normalization(x)), expected,
                               atol=1e-5)


def test_denoising_checkpoint_predicts_files_with_predict_file(served, tiny, tmp_path):
    model = paper_model("models/denoising/tribolium.ckpt", progress=False)
    assert model.normalization.percentiles == (3.0, 99.9)
    x = image((1, 8, 32, 32), seed=3)
    source = io.write_ome_tiff(tmp_path / "noisy.ome.tiff", x[0], "ZYX", (2.0, 0.5, 0.5))
    out = predict.file(model.task, source, tmp_path / "restored.ome.tiff", roi=model.roi,
                       normalize_percentiles=model.normalization.percentiles)
    written = io.read(out)
    np.testing.assert_allclose(written.data[0], model.predict(x), atol=1e-4)
    assert written.pixel_sizes[0] == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["multiplex/hematoxylin", "multiplex/dapi", "multiplex/lap2"])
def test_stain_transfer_generators_predict_like_the_plain_monai_unet(served, tiny, name):
    model = paper_model(name, progress=False)
    assert isinstance(model.task, Pix2Pix)
    x = image((3, 32, 32), seed=1, scale=255)  # an RGB IHC image, channels first
    expected = standin.reference(tiny["multiplex"], served[f"models/{name}.ckpt"], x)
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)


def test_segmentation_checkpoint_outputs_probabilities_of_the_plain_network(served, tiny):
    model = paper_model("semantic_seg/2d/glas", progress=False)
    assert isinstance(model.task, Supervised) and model.task.hparams.loss == "dice_ce"
    assert model.threshold == {"channel": 1, "cutoff": 0.5}
    x = image((3, 32, 32), seed=2, scale=1.0)
    with pytest.raises(UnsupportedPreprocessingError, match="normalize_staining"):
        model.predict(x)
    expected = standin.reference(tiny["semantic_seg_2d"],
                                 served["models/semantic_seg/2d/glas.ckpt"], x, normalize=False)
    y = model.predict(x, normalize=False)
    np.testing.assert_allclose(y, expected, atol=1e-5)
    np.testing.assert_allclose(y.sum(axis=0), 1.0, atol=1e-5)  # softmax over two classes


def test_cyclegan_checkpoint_loads_both_generators_in_its_direction(served, tiny):
    model = paper_model("unsupervised_seg/2d/cyclegan", progress=False)
    assert isinstance(model.task, CycleGAN)
    state = served["models/unsupervised_seg/2d/cyclegan.ckpt"]
    config = tiny["unsupervised_seg_2d"]
    x = image((1, 32, 32), seed=4)
    np.testing.assert_allclose(model.predict(x), standin.reference(config, state, x), atol=1e-5)
    normalized = model.normalization(x)
    with torch.no_grad():
        back = model.task.net_ba(torch.from_numpy(normalized)[None])[0].numpy()
    np.testing.assert_allclose(back, standin.reference(
        config, state, x, prefix="generator_model_image_BtoA"), atol=1e-5)


def test_inference_direction_b_to_a_puts_that_generator_first(served, tiny, monkeypatch):
    tiny["unsupervised_seg_2d"]["model"]["model_extra"]["inference_direction"] = "BtoA"
    model = paper_model("unsupervised_seg/2d/cyclegan", progress=False)
    x = image((1, 32, 32), seed=5)
    np.testing.assert_allclose(model.predict(x), standin.reference(
        tiny["unsupervised_seg_2d"], served["models/unsupervised_seg/2d/cyclegan.ckpt"], x,
        prefix="generator_model_image_BtoA"), atol=1e-5)


def test_labelfree_fnet_checkpoint_predicts_like_pytorch_fnets_network(served, tiny):
    """The archive's FNet (real key layout, tiny widths) loads strictly into
    ``models.build("fnet")`` and predicts what pytorch_fnet's forward pass computes."""
    model = paper_model("labelfree/2d/fnet", progress=False)
    assert isinstance(model.task, Supervised) and model.task.hparams.loss == "mse"
    assert model.task.net.im2im_spec["name"] == "fnet" and model.roi == (32, 32)
    assert (model.application, model.tutorial) == ("labelfree_2d", "01_labelfree_2d")
    state = served["models/labelfree/2d/fnet.ckpt"]
    assert {f"net.{k}" for k in model.task.net.state_dict()} == set(state)
    x = image((1, 32, 32), seed=6)
    expected = standin.reference(tiny["labelfree_2d"], state, x)
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)
    # an image that is not a multiple of 2**depth is padded to one and cropped back
    assert model.predict(image((1, 30, 37), seed=7)).shape == (1, 30, 37)


def test_synthetic_3d_fnet_generator_predicts_like_pytorch_fnets_network(served, tiny):
    model = paper_model("synthetic/3d/supervised", progress=False)
    assert isinstance(model.task, Pix2Pix) and model.task.net.im2im_spec["dims"] == 3
    x = image((1, 8, 16, 16), seed=8)
    expected = standin.reference(tiny["synthetic_3d_supervised"],
                                 served["models/synthetic/3d/supervised.ckpt"], x)
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)


def test_unmappable_checkpoint_names_the_file_and_the_reason(served):
    with pytest.raises(UnmappableError, match=r"embedseg\.ckpt.*ERFNet with two decoder"):
        paper_model("instance_seg/2d/embedseg", progress=False)
    erfnet = next(e for e in catalog(progress=False) if e.name == "instance_seg/2d/embedseg")
    with pytest.raises(UnmappableError, match=r"embedseg\.ckpt: cannot be mapped.*ERFNet_2d"):
        load(erfnet.path)


def test_unknown_name_lists_the_archive(served):
    with pytest.raises(PretrainedError, match="denoising/tribolium"):
        paper_model("denoising/nucleus", progress=False)


def test_damaged_checkpoint_names_the_file(server, monkeypatch, tiny):
    models_zip, _ = archive(tiny, damaged="models/denoising/planaria.ckpt")
    use(monkeypatch, serve_entry(server, "mmv-im2im-models", [models_zip, SAMPLE]))
    with pytest.raises(CheckpointError, match=r"planaria\.ckpt: cannot be read as a PyTorch"):
        paper_model("denoising/planaria", progress=False)
    assert paper_model("denoising/tribolium", progress=False).application == "denoising_3d"
