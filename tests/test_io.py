"""OME-TIFF reading and writing (runs with bioio, and with aicsimageio in its own venv)."""

import os
import time

import numpy as np
import pytest

from im2im_helpers import io


def test_backend_is_the_expected_one():
    expected = os.environ.get("IM2IM_EXPECT_BACKEND", "bioio")
    assert io.backend_name() == expected


def test_ome_tiff_round_trip_keeps_data_pixel_sizes_and_channels(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 60000, size=(2, 3, 4, 20, 30), dtype=np.uint16)
    path = io.write_ome_tiff(tmp_path / "a.ome.tiff", data, "TCZYX", (2.0, 0.25, 0.125),
                             ["DAPI", "GFP", "BF"])
    img = io.read(path)
    np.testing.assert_array_equal(img.data, data)
    assert img.pixel_sizes == pytest.approx((2.0, 0.25, 0.125))
    assert img.channel_names == ["DAPI", "GFP", "BF"]
    assert img.data.dtype == np.uint16


def test_write_reorders_axes_to_tczyx(tmp_path):
    data = np.arange(2 * 5 * 6, dtype=np.float32).reshape(5, 6, 2)  # Y, X, C
    img = io.read(io.write_ome_tiff(tmp_path / "b.ome.tiff", data, "YXC"))
    assert img.data.shape == (1, 2, 1, 5, 6)
    np.testing.assert_array_equal(img.data[0, 1, 0], data[..., 1])


def test_existing_file_is_not_overwritten(tmp_path):
    path = io.write_ome_tiff(tmp_path / "c.ome.tiff", np.zeros((4, 4), np.uint8), "YX")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="c.ome.tiff"):
        io.write_ome_tiff(path, np.ones((4, 4), np.uint8), "YX")
    assert path.read_bytes() == before
    io.write_ome_tiff(path, np.ones((4, 4), np.uint8), "YX", overwrite=True)
    assert io.read(path).data.max() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ome.tiff"]  # no temp files left


def test_a_file_that_is_not_an_image_names_the_file(tmp_path):
    bad = tmp_path / "notes_IM.tif"
    bad.write_text("this is not a TIFF")
    with pytest.raises(io.ImageReadError, match="notes_IM.tif"):
        io.read(bad)


def test_metadata_is_read_without_the_pixels_and_a_bad_file_is_named(tmp_path):
    data = np.arange(2 * 3 * 5 * 7, dtype=np.uint16).reshape(2, 3, 5, 7)
    path = io.write_ome_tiff(tmp_path / "m.ome.tiff", data, "CZYX", pixel_sizes=(2.0, 0.5, 0.25))
    meta = io.read_metadata(path)
    assert meta.shape == (1, 2, 3, 5, 7) and meta.dtype == np.uint16
    assert tuple(meta.pixel_sizes) == (2.0, 0.5, 0.25)
    np.testing.assert_array_equal(np.asarray(meta.dask_data)[0], data)  # lazy until asked
    bad = tmp_path / "notes_IM.tif"
    bad.write_text("this is not a TIFF")
    with pytest.raises(io.ImageReadError, match="notes_IM.tif: could not be read as an image"):
        io.read_metadata(bad)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.tif"):
        io.read(tmp_path / "nothere.tif")


def test_bad_dims_are_explained():
    with pytest.raises(ValueError, match="dims="):
        io.as_tczyx(np.zeros((3, 4)), "YXZ")


def test_rgb_files_give_three_channels(tmp_path):
    import imageio.v3 as iio

    rgb = np.random.default_rng(2).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    for name in ("a.png", "a.bmp"):
        iio.imwrite(tmp_path / name, rgb)
        img = io.read(tmp_path / name)
        assert img.data.shape == (1, 3, 1, 20, 30)
        np.testing.assert_array_equal(img.data[0, :, 0], np.moveaxis(rgb, -1, 0))


def test_int64_label_images_are_stored_losslessly(tmp_path):
    labels = np.zeros((20, 30), np.int64)  # what skimage.measure.label returns
    labels[2:5, 3:9], labels[10:15, 20:28] = 1, 70000
    path = io.write_ome_tiff(tmp_path / "labels.ome.tiff", labels, "YX")
    back = io.read(path).data[0, 0, 0]
    assert back.dtype.kind in "iu" and np.array_equal(back, labels)
    with pytest.raises(io.ImageWriteError, match="relabel"):
        io.write_ome_tiff(tmp_path / "bad.ome.tiff", labels - 1, "YX")


def test_a_boolean_mask_is_written_as_0_and_1(tmp_path):
    """Issue 14, item 13: a bool array used to fail inside the writer without naming the file."""
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:12] = True
    path = io.write_ome_tiff(tmp_path / "mask.ome.tiff", mask, "YX")
    back = io.read(path).data[0, 0, 0]
    assert back.dtype == np.uint8 and np.array_equal(back, mask.astype(np.uint8))
    with pytest.raises(io.ImageWriteError, match=r"strings.ome.tiff.*cannot store"):
        io.write_ome_tiff(tmp_path / "strings.ome.tiff", np.full((4, 4), "a"), "YX")


def test_a_killed_write_leaves_no_temporary_file_behind_the_next_one(tmp_path):
    """Issue 14, item 13: a stale hidden temporary of a killed write is removed by the next
    write to the same place; a recent one (a write still running) and other files are kept."""
    stale = tmp_path / ".pred.ome.tiff.abc123.ome.tiff"
    stale.write_bytes(b"\0" * 1000)
    old = time.time() - 2 * io.STALE_SECONDS
    os.utime(stale, (old, old))
    running = tmp_path / ".pred.ome.tiff.def456.ome.tiff"
    running.write_bytes(b"\0")
    other = tmp_path / ".other.ome.tiff.abc.ome.tiff"
    other.write_bytes(b"\0")
    os.utime(other, (old, old))
    io.write_ome_tiff(tmp_path / "pred.ome.tiff", np.zeros((8, 8), np.float32), "YX")
    assert not stale.exists() and running.exists() and other.exists()


def test_a_line_scan_of_one_row_or_one_column_reads_back(tmp_path):
    """Issue 14, property tests: bioio-ome-tiff could not read an OME-TIFF with Y or X of 1
    ("axes don't match array"), though it wrote it."""
    for i, shape in enumerate([(3, 2, 1, 1, 5), (1, 1, 2, 4, 1), (1, 1, 1, 1, 1)]):
        data = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
        path = io.write_ome_tiff(tmp_path / f"line{i}.ome.tiff", data, "TCZYX", (1.0, 0.5, 0.25),
                                 [f"c{c}" for c in range(shape[1])])
        img = io.read(path)
        np.testing.assert_array_equal(img.data, data)
        assert img.pixel_sizes == (1.0, 0.5, 0.25)
        assert img.channel_names == [f"c{c}" for c in range(shape[1])]


def test_empty_half_float_and_negative_int64_images(tmp_path):
    """Issue 14, property tests: an empty axis failed in pydantic, float16 in the OME writer,
    and int64 values from -5 to 3 were said not to fit 32-bit integers (they fit int32)."""
    with pytest.raises(io.ImageWriteError, match=r"empty.ome.tiff: the image has no pixels"):
        io.write_ome_tiff(tmp_path / "empty.ome.tiff", np.zeros((0, 4), np.uint8), "YX")
    half = np.array([[0.5, -2.0], [np.inf, 65504]], np.float16)
    back = io.read(io.write_ome_tiff(tmp_path / "half.ome.tiff", half, "YX")).data[0, 0, 0]
    assert back.dtype == np.float32 and np.array_equal(back, half.astype(np.float32))
    signed = np.array([[-5, 3], [0, 1]], np.int64)
    with pytest.raises(io.ImageWriteError, match=r"unsigned 32-bit .*data\.astype\(np\.int32\)"):
        io.write_ome_tiff(tmp_path / "signed.ome.tiff", signed, "YX")
    back = io.read(io.write_ome_tiff(tmp_path / "signed.ome.tiff", signed.astype(np.int32),
                                     "YX")).data[0, 0, 0]
    assert back.dtype == np.int32 and np.array_equal(back, signed)


@pytest.mark.parametrize("settings,message", [
    ({"pixel_sizes": (-1.0, 1.0, 1.0)}, r"pixel_sizes=\(-1.0, 1.0, 1.0\).*positive"),
    ({"pixel_sizes": (np.nan, 1.0, 1.0)}, r"pixel_sizes=\(nan, 1.0, 1.0\)"),
    ({"pixel_sizes": (1.0, 1.0)}, r"pixel_sizes=\(1.0, 1.0\): give three sizes"),
    ({"channel_names": ["a"]}, r"channel_names=\['a'\]: give one name .* 2 here"),
    ({"channel_names": [1, 2]}, r"channel_names=\[1, 2\]"),
    ({"channel_names": ["a\tb", "c"]}, r"channel name 'a\\tb' holds control characters"),
    ({"dims": None}, r"dims=None: give the axes"),
], ids=["negative-size", "nan-size", "two-sizes", "too-few-names", "numbers", "tab", "no-dims"])
def test_metadata_ome_cannot_hold_is_refused_naming_the_file(tmp_path, settings, message):
    """Issue 14, property tests: each escaped from pydantic, bioio or ``str.upper`` as a
    ValidationError, ValueError, TypeError or AttributeError without the file's name."""
    kwargs = {"dims": "CYX", **settings}
    with pytest.raises(ValueError, match=message) as err:
        io.write_ome_tiff(tmp_path / "meta.ome.tiff", np.zeros((2, 3, 3), np.uint8), **kwargs)
    assert "dims" in settings or str(err.value).startswith(str(tmp_path / "meta.ome.tiff"))
    assert not list(tmp_path.iterdir())


def test_a_plain_tiff_is_read_without_reader_fallback_warnings(tmp_path, caplog):
    """Issue 15, item 6: bioio's OME-TIFF reader declined every plain TIFF with a logged warning
    ("Attempted file ... Failed to parse XML") that a tutorial page showed as a red block."""
    import logging

    import tifffile

    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    tifffile.imwrite(tmp_path / "img2d.tif", image)
    caplog.set_level(logging.INFO)
    read = io.read(tmp_path / "img2d.tif")
    np.testing.assert_array_equal(read.data[0, 0, 0], image)
    assert not [r for r in caplog.records if "Attempted file" in r.getMessage()]
    assert logging.getLogger("bioio.bio_image").level == logging.NOTSET  # restored
