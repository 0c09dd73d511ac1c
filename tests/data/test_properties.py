"""Property-based tests of what users feed the data pipeline (issue 14, "Beyond single probes"):
random folders of pairs through :func:`im2im_helpers.data.load`, pairs written by
:func:`~im2im_helpers.data.write_folder` and read back, random fractions, counts, names and
seeds through :func:`~im2im_helpers.data.split`, random patch settings through
:func:`~im2im_helpers.data.patches`. A consistent input gives the documented result; a faulty
one the project's own error (``PairError``, ``ImageReadError``, ``SplitError``, or the
``ValueError`` of a setting, naming it) and nothing else."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from im2im_helpers import data, io
from im2im_helpers.data.pairs import Pair, PairError, Pairs, normalize
from im2im_helpers.data.splits import SplitError

SETTINGS = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Pixel types of files users train on; 64-bit integers are stored as 32-bit ones.
DTYPES = ["uint8", "uint16", "int16", "int32", "float32", "float64", "bool", "int64"]

#: File stems: letters of several scripts, digits, spaces and punctuation, never a hidden file.
STEMS = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="-_. ()+"),
                min_size=1, max_size=8).filter(lambda s: not s.startswith("."))

#: What can be wrong with a folder of pairs (``None``: nothing).
FAULTS = [None, "shape", "no-gt", "no-input", "channels", "nan", "not-an-image", "record",
          "2d-and-3d", "dims", "huge"]


def values(dtype: np.dtype, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Finite pixel values that float32 holds (labels exactly), extremes included; 64-bit
    integers are labels (>= 0: OME-TIFF stores them as uint32)."""
    if dtype.kind == "b":
        return hnp.arrays(dtype, shape)
    if dtype.kind == "f":
        elements = st.floats(-2.0**100, 2.0**100, allow_nan=False, width=32)
    else:
        info = np.iinfo(dtype)
        least = 0 if dtype.itemsize == 8 else max(int(info.min), -2**24)
        elements = st.integers(least, min(int(info.max), 2**24))
    return hnp.arrays(dtype, shape, elements=elements)


@st.composite
def pair_folders(draw):
    """``(layout, files, fault)``: ``files`` maps ``(stem, role)`` to a ``(C, [Z,] Y, X)``
    array of a consistent dataset, ``fault`` names what then goes wrong (see :func:`write`)."""
    spatial = draw(st.sampled_from([2, 3]))
    stems = draw(st.lists(STEMS, min_size=1, max_size=3, unique=True))
    channels = {"IM": draw(st.integers(1, 3)), "GT": draw(st.integers(1, 2)), "CM": 1}
    with_cost = draw(st.booleans())
    files = {}
    for stem in stems:
        shape = tuple(draw(st.integers(2 if spatial == 3 and i == 0 else 1, 6))
                      for i in range(spatial))
        for role in ("IM", "GT", "CM") if with_cost else ("IM", "GT"):
            dtype = np.dtype(draw(st.sampled_from(DTYPES)))
            files[stem, role] = draw(values(dtype, (channels[role], *shape)))
    layout = draw(st.sampled_from(["suffix", "folders"]))
    return layout, files, draw(st.sampled_from(FAULTS))


def write(folder: Path, layout: str, files: dict, fault: str | None, draw) -> str | None:
    """Write ``files`` into ``folder`` with ``fault`` applied to the first pair; return the
    text written to ``pairs.json``, if any."""
    files = dict(files)
    stem = sorted({s for s, _ in files})[0]
    arr = files[stem, "IM"]
    if fault == "shape":
        files[stem, "GT"] = np.zeros((1, *(s + 1 for s in arr.shape[1:])), np.float32)
    elif fault == "no-gt":
        del files[stem, "GT"]
    elif fault == "no-input":
        del files[stem, "IM"]
    elif fault == "channels" and len({s for s, _ in files}) > 1:
        files[stem, "IM"] = np.concatenate([arr, arr[:1]])
    elif fault in ("nan", "huge"):
        bad = arr.astype(np.float64 if fault == "huge" else np.float32)
        bad.flat[draw(st.integers(0, bad.size - 1))] = np.nan if fault == "nan" else 1e300
        files[stem, draw(st.sampled_from(["IM", "GT"]))] = bad
    elif fault == "2d-and-3d" and len({s for s, _ in files}) > 1:
        files[stem, "IM"] = files[stem, "GT"] = np.zeros(
            (arr.shape[0], *((3, *arr.shape[1:]) if arr.ndim == 3 else arr.shape[2:])),
            np.float32)
    for (name, role), image in files.items():
        if layout == "folders":
            (folder / role).mkdir(exist_ok=True)
            path = folder / role / f"{name}.ome.tiff"
        else:
            path = folder / f"{name}_{role}.ome.tiff"
        io.write_ome_tiff(path, image, "CYX" if image.ndim == 3 else "CZYX")
    if fault == "not-an-image":
        target = folder / "GT" / f"{stem}.tif" if layout == "folders" else folder / f"{stem}_GT.tif"
        (folder / "GT" / f"{stem}.ome.tiff" if layout == "folders"
         else folder / f"{stem}_GT.ome.tiff").unlink()
        target.write_bytes(draw(st.binary(max_size=64)))
    if fault == "record":
        record = draw(st.one_of(st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
                                st.recursive(st.none() | st.booleans() | st.integers()
                                             | st.text(max_size=3),
                                             lambda c: st.lists(c, max_size=3)
                                             | st.dictionaries(st.sampled_from(
                                                 ["names", "simulated", "config"]), c,
                                                 max_size=3), max_leaves=5).map(json.dumps)))
        (folder / "pairs.json").write_text(record)
        return record
    return None


def valid_record(text: str | None) -> dict | None:
    """The record of ``pairs.json`` as :func:`data.load` accepts it, else ``None``."""
    try:
        record = json.loads(text) if text is not None else {}
    except json.JSONDecodeError:
        return None
    names = record.get("names", []) if isinstance(record, dict) else None
    ok = isinstance(names, list) and all(isinstance(n, str) for n in names)
    return record if ok else None


def is_consistent(files: dict, fault: str | None, record: str | None) -> bool:
    """Whether the folder written by :func:`write` holds a valid dataset."""
    single = len({s for s, _ in files}) == 1
    return (fault in (None, "dims") or (fault in ("channels", "2d-and-3d") and single)
            or (fault == "record" and valid_record(record) is not None))


@SETTINGS
@given(folder=pair_folders(), data_=st.data())
def test_a_folder_of_pairs_loads_exactly_or_fails_with_a_pair_error(folder, data_):
    layout, files, fault = folder
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pairs"
        root.mkdir()
        record = write(root, layout, files, fault, data_.draw)
        spatial = files[next(iter(files))].ndim - 1
        dims = data_.draw(st.sampled_from([None, spatial, 5 - spatial])) if fault == "dims" \
            else None
        if not is_consistent(files, fault, record) or dims == 5 - spatial:
            with pytest.raises((PairError, io.ImageReadError)) as err:
                data.load(root, normalize_percentiles=None, dims=dims)
            assert tmp in str(err.value) or "dims=" in str(err.value)
            return
        pairs = data.load(root, normalize_percentiles=None, dims=dims)
        made = valid_record(record)
        renamed = {n.replace("/", "__"): n for n in made.get("names", [])}
        stems = sorted({s for s, _ in files})
        assert pairs.names == [renamed.get(s, s) for s in stems]
        assert pairs.simulated == bool(made.get("simulated"))
        for stem, pair in zip(stems, pairs):
            for role, arr in (("IM", pair.input), ("GT", pair.target), ("CM", pair.cost)):
                if (stem, role) in files:
                    assert arr.dtype == np.float32 and pair.dims == spatial
                    expected = files[stem, role].astype(np.float32)
                    np.testing.assert_array_equal(arr, expected[:1] if role == "CM" else expected)
        normalised = normalize(pairs, 1, 99.8)  # what data.load does by default
        assert all(np.isfinite(p.input).all() and np.isfinite(p.target).all()
                   for p in normalised)


NAMES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)


@SETTINGS
@given(names=st.lists(st.one_of(NAMES, st.builds("{}/{}".format, NAMES, NAMES),
                                st.sampled_from(["", ".hidden", "a/b", "a__b", "x" * 250])),
                      min_size=1, max_size=4),
       spatial=st.sampled_from([2, 3]), simulated=st.booleans())
def test_written_pairs_load_back_as_they_were_or_their_names_are_refused(names, spatial,
                                                                          simulated):
    rng = np.random.default_rng(len(names))
    shape = (2, 3, 4)[-spatial:]
    pairs = Pairs([Pair(n, rng.random((1, *shape), np.float32), rng.random((1, *shape),
                                                                            np.float32))
                   for n in names], {"source": {"sample": "random"}}, simulated)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = data.write_folder(pairs, Path(tmp) / "out")
        except PairError as err:
            assert str(err).startswith(f"{Path(tmp) / 'out'}: ")
            assert not (Path(tmp) / "out").exists()  # refused before anything was written
            return
        back = data.load(folder, normalize_percentiles=None)
        assert sorted(back.names) == sorted(names) and back.simulated == simulated
        by_name = {p.name: p for p in back}
        for p in pairs:
            np.testing.assert_array_equal(by_name[p.name].input, p.input)
            np.testing.assert_array_equal(by_name[p.name].target, p.target)


SETTINGS_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                            st.text(max_size=3), st.lists(st.floats(), max_size=3))


@SETTINGS
@given(percentiles=st.one_of(SETTINGS_VALUES, st.tuples(st.floats(-1, 101), st.floats(-1, 101))),
       dims=st.one_of(st.sampled_from([None, 2, 3]), SETTINGS_VALUES))
def test_load_settings_work_or_are_refused_naming_them(pair_folder_once, percentiles, dims):
    try:
        pairs = data.load(pair_folder_once, normalize_percentiles=percentiles, dims=dims)
    except PairError as err:  # the files are 2D: dims=3 is refused with them
        assert "dims" in str(err) or "3D" in str(err)
        return
    except ValueError as err:
        assert "percentiles" in str(err) or "dims" in str(err)
        return
    assert len(pairs) == 2 and all(np.isfinite(p.input).all() for p in pairs)


@pytest.fixture(scope="module")
def pair_folder_once(tmp_path_factory) -> Path:
    """Two small 2D pairs, written once for every example of a test."""
    folder = tmp_path_factory.mktemp("pairs")
    for i in range(2):
        image = np.random.default_rng(i).random((8, 9)).astype(np.float32)
        io.write_ome_tiff(folder / f"p{i}_IM.ome.tiff", image, "YX")
        io.write_ome_tiff(folder / f"p{i}_GT.ome.tiff", 2 * image, "YX")
    return folder


def tiny_pairs(names: list[str], spatial: int = 2, shapes=None, channels=(1, 1)) -> Pairs:
    shapes = shapes or [(4,) * spatial] * len(names)
    return Pairs([Pair(n, np.full((channels[0], *s), i, np.float32),
                       np.full((channels[1], *s), 10 + i, np.float32))
                  for i, (n, s) in enumerate(zip(names, shapes))])


def held_out(names: list[str]) -> st.SearchStrategy:
    """``test``/``val`` values: fractions, counts, or lists of (some of) the pair names."""
    return st.one_of(st.floats(0, 0.99), st.integers(0, len(names)),
                     st.lists(st.sampled_from(names), unique=True, max_size=len(names)))


def count(value, n: int) -> int:
    """How many pairs ``value`` holds out of ``n`` (the rule :func:`data.split` documents)."""
    if isinstance(value, list):
        return len(value)
    if value <= 0:
        return 0
    return max(1, int(round(value * n))) if value < 1 else int(value)


@SETTINGS
@given(st.lists(STEMS, min_size=1, max_size=8, unique=True).flatmap(
    lambda names: st.tuples(st.just(names), held_out(names), held_out(names),
                            st.integers(0, 2**32), st.booleans())))
def test_a_split_partitions_the_pairs_is_seeded_and_written(case):
    names, test, val, seed, shuffle = case
    pairs = tiny_pairs(names)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "split.json"
        overlap = isinstance(test, list) and isinstance(val, list) and set(test) & set(val)
        if overlap or count(test, len(names)) + count(val, len(names)) >= len(names):
            with pytest.raises(SplitError):
                data.split(pairs, test=test, val=val, seed=seed, shuffle=shuffle, path=path)
            assert not path.exists()
            return
        split = data.split(pairs, test=test, val=val, seed=seed, shuffle=shuffle, path=path)
        parts = (split.train.names, split.val.names, split.test.names)
        assert sorted(sum(parts, [])) == sorted(names) and split.train.names
        assert len(split.test) == count(test, len(names))
        assert len(split.val) == count(val, len(names))
        for asked, got in ((test, split.test), (val, split.val)):
            if isinstance(asked, list):
                assert sorted(got.names) == sorted(asked)
        if not shuffle:
            assert split.train.names == [n for n in names if n in split.train.names]
        saved = json.loads(path.read_text())["names"]
        assert (saved["train"], saved["val"], saved["test"]) == parts
        again = data.split(pairs, test=test, val=val, seed=seed, shuffle=shuffle,
                           path=Path(tmp) / "again.json")
        reused = data.split(pairs, test=test, val=val, seed=seed, shuffle=shuffle, path=path)
        for other in (again, reused):
            assert (other.train.names, other.val.names, other.test.names) == parts
        with pytest.raises(SplitError, match="split.json: this split was made with"):
            data.split(pairs, test=test, val=val, seed=seed + 1, shuffle=shuffle, path=path)


JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3),
                 st.lists(st.one_of(st.text(max_size=2), st.integers()), max_size=3),
                 st.tuples(st.just("a"), st.just("a")), st.integers(0, 3).map(np.int64),
                 st.floats(0, 0.9).map(np.float64))


@SETTINGS
@given(test=JUNK, val=JUNK, seed=JUNK, shuffle=JUNK,
       existing=st.one_of(st.none(), st.binary(max_size=30), st.just(b"[]"),
                          st.just(b'{"names": 3}'), st.just("folder")))
def test_any_split_setting_or_split_file_splits_or_is_a_split_error(test, val, seed, shuffle,
                                                                    existing):
    pairs = tiny_pairs(["a", "b", "c", "d", "e"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "split.json"
        if existing == "folder":
            path.mkdir()
        elif existing is not None:
            path.write_bytes(existing)
        kwargs = {k: v for k, v in {"test": test, "val": val, "seed": seed,
                                     "shuffle": shuffle}.items() if v is not None}
        try:
            split = data.split(pairs, path=path, **kwargs)
        except SplitError:
            return
        assert sorted(split.train.names + split.val.names + split.test.names) == pairs.names
        assert json.loads(path.read_text())["names"]["train"] == split.train.names


@st.composite
def patch_cases(draw):
    """A split of small 2D or 3D pairs (1 to 3 for training, 0 to 2 for validation) and patch
    settings, some larger than the images."""
    spatial = draw(st.sampled_from([2, 3]))
    n_train, n_val = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    shapes = [tuple(draw(st.integers(1, 9)) for _ in range(spatial))
              for _ in range(n_train + n_val)]
    channels = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    settings_ = {"patch": draw(st.lists(st.integers(1, 12), min_size=spatial, max_size=spatial)),
                 "batch_size": draw(st.integers(1, 6)),
                 "samples_per_image": draw(st.integers(1, 3)),
                 "augment": draw(st.sampled_from(["none", "flips", "intensity",
                                                  "flips+intensity"])),
                 "unpaired": draw(st.booleans()),
                 "seed": draw(st.integers(0, 2**40))}
    return spatial, n_train, n_val, shapes, channels, settings_


@SETTINGS
@given(patch_cases())
def test_patches_have_the_asked_shape_and_are_seeded(case):
    spatial, n_train, n_val, shapes, channels, settings_ = case
    names = [f"p{i}" for i in range(n_train + n_val)]
    pairs = tiny_pairs(names, spatial, shapes, channels)
    with tempfile.TemporaryDirectory() as tmp:
        split = data.split(pairs, test=0, val=names[n_train:], shuffle=False,
                           path=Path(tmp) / "s.json")
        dm = data.patches(split, **settings_)
        patch = tuple(settings_["patch"])
        batch = next(iter(dm.train_dataloader()))
        size = min(settings_["batch_size"], n_train * settings_["samples_per_image"])
        assert tuple(batch["input"].shape) == (size, channels[0], *patch)
        assert tuple(batch["target"].shape) == (size, channels[1], *patch)
        again = next(iter(data.patches(split, **settings_).train_dataloader()))
        torch.testing.assert_close(again["input"], batch["input"])
        tiles = [t for b in dm.val_dataloader() for t in b["input"]]
        assert all(tuple(t.shape) == (channels[0], *patch) for t in tiles)
        assert (len(tiles) > 0) == (n_val > 0)


@SETTINGS
@given(setting=st.sampled_from(["patch", "batch_size", "samples_per_image", "augment",
                                "unpaired", "num_workers", "seed"]),
       value=st.one_of(JUNK, st.lists(st.integers(-2, 9), max_size=4), st.integers(2**62, 2**70)))
def test_a_patch_setting_that_cannot_work_is_refused_naming_it(setting, value):
    pairs = tiny_pairs(["a", "b"])
    with tempfile.TemporaryDirectory() as tmp:
        split = data.split(pairs, test=0, val=0, path=Path(tmp) / "s.json")
        try:
            dm = data.patches(split, **{"patch": [4, 4], setting: value})
        except PairError as err:  # a 3D patch for 2D images
            assert setting == "patch" and "patch=" in str(err)
            return
        except ValueError as err:
            assert f"data.patches.{setting}=" in str(err) or "augment=" in str(err)
            return
        if dm.settings.num_workers == 0:
            batch = next(iter(dm.train_dataloader()))
            assert tuple(batch["input"].shape[2:]) == dm.patch
