"""Streamed prediction to OME-Zarr equals in-memory prediction, carries pixel sizes and a
pyramid viewers read, and refuses bad input clearly without leaving half-written output."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

from im2im_helpers import io, models, predict
from im2im_helpers.data.pairs import percentile_normalize
from im2im_helpers.stream import SourceAxesError, open_lazy, predict_to_zarr
from im2im_helpers.stream.omezarr import partial_path
from tests.stream.conftest import write_ome_zarr


def in_memory(model, data_t, roi, dims):
    """The in-memory prediction of one time point ``(C, Z, Y, X)`` (percentiles 1, 99.8)."""
    x = data_t.astype(np.float32)
    x = x if dims == 3 else x[:, 0]
    return predict.image(model, percentile_normalize(x), roi=roi)


def test_2d_time_lapse_from_tiff_equals_in_memory_prediction(tmp_path, unet2d, rng):
    data = (rng.random((2, 1, 1, 300, 410)) * 4000).astype(np.uint16)
    source = io.write_ome_tiff(tmp_path / "movie.ome.tiff", data, "TCZYX", (1.0, 0.3, 0.3))
    out = predict.file(unet2d, source, tmp_path / "movie_pred.ome.zarr", roi=(64, 64),
                       chunks=(100, 128))
    got = zarr.open_group(str(out), mode="r")["0"][:]
    assert got.shape == (2, 2, 1, 300, 410)
    for t in range(2):
        np.testing.assert_allclose(got[t, :, 0], in_memory(unet2d, data[t], (64, 64), 2),
                                   atol=1e-5)
    assert open_lazy(out).pixel_sizes == (None, 0.3, 0.3) or open_lazy(out).pixel_sizes[1:] \
        == (0.3, 0.3)
    assert not partial_path(out).exists()


def test_3d_ome_zarr_input_with_padding_and_many_blocks(tmp_path, unet3d, rng):
    data = rng.normal(100, 20, (1, 1, 10, 70, 90)).astype(np.float32)
    source = write_ome_zarr(tmp_path / "stack.ome.zarr", data, pixel_sizes=(2.0, 0.5, 0.5),
                            chunks=(1, 1, 5, 32, 32))
    # Z (10) is smaller than the window (16): padded as MONAI pads it; 4 x 3 x 2 blocks
    out = predict_to_zarr(unet3d, source, tmp_path / "stack_pred.ome.zarr", roi=(16, 32, 32),
                          chunks=(3, 25, 50))
    got = zarr.open_group(str(out), mode="r")["0"][:]
    np.testing.assert_allclose(got[0], in_memory(unet3d, data[0], (16, 32, 32), 3), atol=1e-5)
    assert open_lazy(out).pixel_sizes == (2.0, 0.5, 0.5)


def test_an_ome_zarr_input_can_be_predicted_in_memory_into_an_ome_tiff(tmp_path, unet3d, rng):
    data = rng.normal(100, 20, (1, 1, 10, 40, 50)).astype(np.float32)
    source = write_ome_zarr(tmp_path / "small.ome.zarr", data, pixel_sizes=(2.0, 0.5, 0.5),
                            chunks=(1, 1, 5, 32, 32))
    out = predict.file(unet3d, source, tmp_path / "small_pred.ome.tiff", roi=(16, 32, 32))
    written = io.read(out)
    np.testing.assert_allclose(written.data[0], in_memory(unet3d, data[0], (16, 32, 32), 3),
                               atol=1e-5)
    assert tuple(written.pixel_sizes) == (2.0, 0.5, 0.5)


def test_output_is_a_multiscale_ome_zarr_that_ome_zarrs_reader_opens(tmp_path, rng):
    net = models.build("unet", 2, 1, 1, channels=(4, 8), strides=(2,), seed=0)
    data = rng.random((1, 1, 1, 1100, 700)).astype(np.float32)
    source = write_ome_zarr(tmp_path / "big.ome.zarr", data, chunks=(1, 1, 1, 256, 256))
    out = predict.file(net, source, predict.output_path(source, tmp_path / "out"),
                       roi=(128, 128))
    assert out.name == "big_pred.ome.zarr"
    nodes = list(Reader(parse_url(str(out)))())
    levels = nodes[0].data
    assert [level.shape[-2:] for level in levels] == [(1100, 700), (550, 350), (275, 175)]
    full = np.asarray(levels[0])
    np.testing.assert_allclose(np.asarray(levels[1])[0, 0, 0],
                               full[0, 0, 0].reshape(550, 2, 350, 2).mean(axis=(1, 3)),
                               atol=1e-6)
    axes = [a["name"] for a in nodes[0].metadata["axes"]]
    assert axes == ["t", "c", "z", "y", "x"]
    assert nodes[0].metadata["coordinateTransformations"][1][0]["scale"][-2:] == [1.0, 1.0]


def test_an_existing_output_is_refused_and_a_users_folder_never_replaced(tmp_path, unet2d, rng):
    data = rng.random((1, 1, 1, 64, 64)).astype(np.float32)
    source = io.write_ome_tiff(tmp_path / "a.ome.tiff", data, "TCZYX")
    out = predict.file(unet2d, source, tmp_path / "a_pred.ome.zarr", roi=(64, 64))
    with pytest.raises(FileExistsError, match="a_pred.ome.zarr: already exists"):
        predict.file(unet2d, source, out, roi=(64, 64))
    predict.file(unet2d, source, out, roi=(64, 64), overwrite=True)  # ours: replaced
    user = tmp_path / "notes.zarr"
    user.mkdir()
    (user / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an OME-Zarr image"):
        predict.file(unet2d, source, user, roi=(64, 64), overwrite=True)
    assert (user / "mine.txt").read_text() == "keep me"
    assert not partial_path(user).exists()


def test_a_zarr_with_wrong_axes_is_named_with_what_was_expected(tmp_path, unet2d):
    # channels last, as some tools write them (ome-zarr's own writer refuses this order)
    bad = tmp_path / "bad.ome.zarr"
    group = zarr.open_group(str(bad), mode="w")
    group.create_array("0", shape=(64, 64, 4), dtype="float32")
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"},
                 {"name": "c", "type": "channel"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0, 1.0]}]}]}]}
    with pytest.raises(SourceAxesError, match=r"bad.ome.zarr: .* axes 'YXC'; expected a subset"):
        predict.file(unet2d, bad, tmp_path / "bad_pred.ome.zarr")
    assert not (tmp_path / "bad_pred.ome.zarr").exists()
    plain = tmp_path / "plain.zarr"
    zarr.create_array(str(plain), shape=(8, 8), dtype="float32")
    with pytest.raises(ValueError, match="plain.zarr: is a Zarr store without OME-Zarr"):
        open_lazy(plain)


def test_a_model_whose_channels_do_not_match_the_image_is_refused(tmp_path, rng):
    rgb_net = models.build("unet", 2, 3, 1, channels=(4, 8), strides=(2,))
    data = rng.random((1, 2, 1, 64, 64)).astype(np.float32)
    source = io.write_ome_tiff(tmp_path / "two.ome.tiff", data, "TCZYX")
    for out in (tmp_path / "two_pred.ome.zarr", tmp_path / "two_pred.ome.tiff"):
        with pytest.raises(ValueError, match="two.ome.tiff: has 2 channels, but the model "
                                             "takes 3 input channels"):
            predict.file(rgb_net, source, out)
        assert not out.exists() and not partial_path(out).exists()


def test_a_one_channel_model_reads_the_chosen_channel(tmp_path, unet2d, rng):
    data = rng.random((1, 3, 1, 64, 96)).astype(np.float32)
    source = io.write_ome_tiff(tmp_path / "three.ome.tiff", data, "TCZYX")
    out = predict.file(unet2d, source, tmp_path / "three_pred.ome.zarr", channel=2, roi=(32, 32))
    got = zarr.open_group(str(out), mode="r")["0"][0, :, 0]
    np.testing.assert_allclose(got, in_memory(unet2d, data[0, 2:3], (32, 32), 2), atol=1e-5)
    with pytest.raises(ValueError, match="has 3 channels; channel=3 is not one of them"):
        predict.file(unet2d, source, tmp_path / "x.ome.zarr", channel=3)
