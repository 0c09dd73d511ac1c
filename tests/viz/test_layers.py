"""Our outputs as napari layer data tuples: the right kind, the physical scale, one layer per
channel — what a napari reader plugin returns, checked without napari."""

from __future__ import annotations

import numpy as np
import pytest

from im2im_helpers import io, viz


def test_a_2d_mask_opens_as_labels_with_its_pixel_size(tmp_path):
    mask = np.zeros((1, 40, 60), np.uint8)
    mask[0, 10:20, 5:25] = 1
    path = io.write_ome_tiff(tmp_path / "cell_mask.ome.tiff", mask, "CYX", (None, 0.25, 0.5),
                             channel_names=["foreground"])
    [(data, kwargs, kind)] = viz.napari_layers(path)
    assert kind == "labels" and data.shape == (40, 60) and data.dtype == np.uint8
    assert kwargs["scale"] == (0.25, 0.5)  # µm per pixel along Y and X
    assert kwargs["name"] == "cell_mask" and kwargs["metadata"]["channel"] == "foreground"
    assert np.array_equal(data, mask[0])


def test_a_3d_two_channel_prediction_opens_as_two_image_layers(tmp_path):
    rng = np.random.default_rng(0)
    volume = rng.random((2, 5, 16, 24)).astype(np.float32)
    path = io.write_ome_tiff(tmp_path / "pred.ome.tiff", volume, "CZYX", (1.5, 0.3, 0.3),
                             channel_names=["nuclei", "membrane"])
    layers = viz.napari_layers(path, name="prediction")
    assert [k for _, _, k in layers] == ["image", "image"]
    assert [kw["name"] for _, kw, _ in layers] == ["prediction [nuclei]",
                                                   "prediction [membrane]"]
    for c, (data, kwargs, _) in enumerate(layers):
        assert data.shape == (5, 16, 24) and kwargs["scale"] == (1.5, 0.3, 0.3)
        assert kwargs["metadata"]["axes"] == "ZYX" and kwargs["blending"] == "additive"
        assert np.allclose(data, volume[c])


def test_a_label_image_without_pixel_sizes_gets_unit_scale(tmp_path):
    labels = np.arange(12, dtype=np.uint32).reshape(3, 4) % 3
    path = io.write_ome_tiff(tmp_path / "labels.ome.tiff", labels[None], "CYX")
    [(data, kwargs, kind)] = viz.napari_layers(path)
    assert kind == "labels" and kwargs["scale"] == (1.0, 1.0)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ome.tiff"):
        viz.napari_layers(tmp_path / "nothing.ome.tiff")
