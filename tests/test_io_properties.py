"""Property-based tests of OME-TIFF writing and reading (issue 14, "Beyond single probes"):
random shapes, dtypes, dimension orders, values, pixel sizes and channel names through
:func:`im2im_helpers.io.write_ome_tiff` and :func:`im2im_helpers.io.read`. Every input either
round-trips exactly (with the documented conversions: bool -> uint8, float16 -> float32, 64-bit
integers -> uint32 when they fit) or is refused with the project's own errors, naming the file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from im2im_helpers import io

SETTINGS = settings(max_examples=40, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: What users hold: the listed types of the issue, plus those the writer converts.
DTYPES = ["uint8", "uint16", "int16", "int32", "float32", "float64", "bool",
          "int8", "uint32", "int64", "uint64", "float16"]

#: Documented conversions of :func:`io.write_ome_tiff` (64-bit integers: see ``stored_dtype``).
CONVERTED = {np.dtype(bool): np.dtype(np.uint8), np.dtype(np.float16): np.dtype(np.float32)}


@st.composite
def images(draw, min_side: int = 1):
    """``(dims, array)``: 2 to 5 distinct TCZYX axes in any order, small sizes, any values of
    one of :data:`DTYPES` (NaN, infinities and the extremes of the type included)."""
    dims = "".join(draw(st.permutations(list("TCZYX")))[: draw(st.integers(2, 5))])
    if draw(st.booleans()):
        dims = dims.lower()  # the writer takes the letters in either case
    shape = tuple(draw(st.integers(min_side, 5 if d in "YXyx" else 3)) for d in dims)
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    return dims, draw(hnp.arrays(dtype, shape))


def stored_dtype(arr: np.ndarray) -> np.dtype | None:
    """The pixel type ``arr`` is stored as, or ``None`` if the writer must refuse it."""
    if arr.dtype in CONVERTED:
        return CONVERTED[arr.dtype]
    if arr.dtype.kind in "iu" and arr.dtype.itemsize == 8:
        fits = 0 <= arr.min() and arr.max() <= np.iinfo(np.uint32).max
        return np.dtype(np.uint32) if fits else None
    return arr.dtype


@SETTINGS
@given(images())
def test_any_image_round_trips_exactly_or_is_refused_naming_the_file(image):
    dims, arr = image
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "img.ome.tiff"
        expected = stored_dtype(arr)
        if expected is None:
            with pytest.raises(io.ImageWriteError, match=r"img.ome.tiff: .* do not fit"):
                io.write_ome_tiff(path, arr, dims)
            assert not list(Path(tmp).iterdir())  # nothing half-written is left
            return
        io.write_ome_tiff(path, arr, dims)
        img = io.read(path)
        assert img.data.shape == io.as_tczyx(arr, dims).shape
        assert img.data.dtype == expected
        np.testing.assert_array_equal(img.data, io.as_tczyx(arr, dims).astype(expected))
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["img.ome.tiff"]


@SETTINGS
@given(images(min_side=0).filter(lambda image: image[1].size == 0))
def test_an_image_without_pixels_is_a_write_error(image):
    dims, arr = image
    with tempfile.TemporaryDirectory() as tmp:
        with pytest.raises(io.ImageWriteError, match=r"empty.ome.tiff: the image has no pixels"):
            io.write_ome_tiff(Path(tmp) / "empty.ome.tiff", arr, dims)
        assert not list(Path(tmp).iterdir())


SIZE = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(-3, 10), st.integers(), st.text(max_size=3), st.booleans())


@SETTINGS
@given(pixel_sizes=st.one_of(st.tuples(SIZE, SIZE, SIZE), st.lists(SIZE, max_size=4), SIZE),
       channel_names=st.one_of(st.none(), st.text(max_size=4),
                               st.lists(st.one_of(st.text(max_size=6), st.integers()),
                                        max_size=3)))
def test_pixel_sizes_and_channel_names_round_trip_or_are_refused(pixel_sizes, channel_names):
    arr = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "meta.ome.tiff"
        try:
            io.write_ome_tiff(path, arr, "CYX", pixel_sizes, channel_names)
        except io.ImageWriteError as err:
            assert str(err).startswith(f"{path}: ")
            assert not list(Path(tmp).iterdir())
            return
        img = io.read(path)
        np.testing.assert_array_equal(img.data[0, :, 0], arr)
        assert img.pixel_sizes == pytest.approx(
            tuple(None if not s else float(s) for s in pixel_sizes))
        if channel_names is not None:
            assert img.channel_names == list(channel_names)


@SETTINGS
@given(arr=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=6, max_side=3)),
       dims=st.one_of(st.text(alphabet="TCZYXSABtczyx", max_size=7), st.none(), st.integers()))
def test_dims_that_do_not_describe_the_array_are_a_value_error(arr, dims):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dims.ome.tiff"
        try:
            io.write_ome_tiff(path, arr, dims)
        except ValueError as err:  # io.ImageWriteError is one too
            assert "dims=" in str(err) or str(err).startswith(f"{path}: ")
            return
        assert io.read(path).data.shape == io.as_tczyx(arr, dims).shape


@SETTINGS
@given(content=st.binary(max_size=300),
       suffix=st.sampled_from([".tif", ".tiff", ".ome.tiff", ".png", ".czi", ".nd2", ".bmp"]))
def test_a_file_of_random_bytes_is_an_image_read_error_naming_it(content, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"junk{suffix}"
        path.write_bytes(content)
        with pytest.raises(io.ImageReadError, match=f"junk{suffix}: could not be read"):
            io.read(path)
