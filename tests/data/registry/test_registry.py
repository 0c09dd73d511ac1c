"""The registry's catalogue (every YAML entry valid and complete, bad entries refused), its
cache (a second load neither downloads nor organises) and its split policies
(:mod:`im2im_helpers.data.registry`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from im2im_helpers import data
from im2im_helpers.data import registry
from im2im_helpers.schema import SchemaError
from tests.helpers import (
    QuietHandler,
    png_bytes,
    serve_entry,
    tiff_bytes,
    use,
    zip_bytes,
)


def test_every_registry_entry_is_valid_and_complete():
    found = registry.entries()
    expected = {"labelfree-2d-timelapse", "labelfree-2d-snapshots", "allen-hipsc", "glas",
                "bbbc010", "care-planaria", "care-tribolium", "confocal-sted", "deepliif",
                "mmv-im2im-models"}
    assert set(found) == expected
    for entry in found.values():
        assert entry.licence and entry.citation and entry.layout and entry.paper_section
        for f in entry.files:
            assert f.hash or f.hash_note


def test_unknown_key_and_missing_hash_are_rejected(tmp_path, monkeypatch):
    text = (registry.registry_dir() / "glas.yaml").read_text()
    (tmp_path / "glas.yaml").write_text(text.replace("licence:", "licence_typo: x\nlicence:"))
    with pytest.raises(SchemaError, match=r"glas.yaml: unknown key 'licence_typo'"):
        registry.read_entry(tmp_path / "glas.yaml")
    values = yaml.safe_load(text)
    values["files"][0]["hash"] = None
    (tmp_path / "glas.yaml").write_text(yaml.safe_dump(values))
    with pytest.raises(SchemaError, match=r"files\[0\] has no hash"):
        registry.read_entry(tmp_path / "glas.yaml")


def test_second_load_neither_downloads_nor_organises_and_split_is_stable(
        server, tmp_path, monkeypatch):
    movie = np.random.default_rng(1).integers(0, 999, (6, 5, 12, 12)).astype(np.uint16)
    entry = serve_entry(server, "labelfree-2d-timelapse", [tiff_bytes(tmp_path, movie, "TCYX")])
    use(monkeypatch, entry)
    first = data.load("labelfree-2d-timelapse")
    marker = registry.prepare(entry) / registry.DONE
    stamp, downloads = marker.stat().st_mtime_ns, len(QuietHandler.requests_seen)
    second = data.load("labelfree-2d-timelapse")
    assert len(QuietHandler.requests_seen) == downloads == 1
    assert marker.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(first[3].target, second[3].target)
    a = data.split(first, seed=4, path=tmp_path / "a.json")
    b = data.split(second, seed=4, path=tmp_path / "b.json")
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads(
        (tmp_path / "b.json").read_text())
    assert len(a.test) == 1  # the paper's 15 % of 6 time points, rounded
    assert b.config["test"] == 0.15


def test_source_split_is_kept(server, tmp_path, monkeypatch):
    rgb = np.full((8, 10, 3), 100, np.uint8)
    files = {f"{n}.bmp": png_bytes(rgb, ".bmp") for n in ("train_1", "train_2", "testA_1")}
    files |= {f"{n}_anno.bmp": png_bytes(rgb[..., 0], ".bmp")
              for n in ("train_1", "train_2", "testA_1")}
    use(monkeypatch, serve_entry(server, "glas", [zip_bytes(files)]))
    split = data.split(data.load("glas", normalize_target=False), val=0, path=tmp_path / "s.json")
    assert split.test.names == ["test/testA_1"]
    assert split.train.names == ["train/train_1", "train/train_2"]


def glas_zip(value: int) -> bytes:
    """A GlaS-layout archive whose one training image has grey level ``value``."""
    rgb = np.full((8, 10, 3), value, np.uint8)
    anno = np.zeros((8, 10), np.uint8)
    anno[2:5, 2:5] = 1
    root = "Warwick QU Dataset (Released 2016_07_08)"
    files = {f"{root}/{n}.bmp": png_bytes(rgb, ".bmp") for n in ("train_1", "testA_1")}
    return zip_bytes(files | {f"{root}/{n}_anno.bmp": png_bytes(anno, ".bmp")
                              for n in ("train_1", "testA_1")})


def test_a_new_version_of_a_file_is_unpacked_and_organised_again(server, cache):
    """Issue 14, item 9: the cache was keyed on organiser options only."""
    first = registry.prepare(serve_entry(server, "glas", [glas_zip(100)]), progress=False)
    before = data.load(first / "train", normalize_percentiles=None)[0].input.max()
    newer = serve_entry(server, "glas", [glas_zip(200)])  # another hash, same file name
    again = registry.prepare(newer, progress=False)
    after = data.load(again / "train", normalize_percentiles=None)[0].input.max()
    assert (before, after) == (100, 200)
    record = json.loads((again / registry.DONE).read_text())
    assert record["files"] == {f.filename: f.hash for f in newer.files}


def test_a_killed_unpacking_is_cleaned_and_never_organised(server, cache):
    """Issue 14, item 7: a hidden temporary folder left in raw/ was searched by organisers."""
    entry = serve_entry(server, "glas", [glas_zip(100)])
    leftover = cache / "glas" / "raw" / f"{registry.UNPACKING}abc" / "content" / "Warwick"
    leftover.mkdir(parents=True)
    (leftover / "train_9.bmp").write_bytes(png_bytes(np.zeros((8, 10, 3), np.uint8), ".bmp"))
    folder = registry.prepare(entry, progress=False)
    assert not leftover.exists()
    assert data.load(folder / "train", normalize_percentiles=None).names == ["train_1"]


def test_a_corrupt_archive_with_a_matching_hash_is_named_in_a_clear_error(server, cache):
    """Issue 14, item 7: a raw BadZipFile escaped, and the temporary folder stayed."""
    entry = serve_entry(server, "glas", [b"PK\x03\x04 this is not a zip file"])
    with pytest.raises(ValueError, match=r"warwick_qu_dataset.*\.zip: not a readable zip"):
        registry.fetch(entry, progress=False)
    raw = cache / "glas" / "raw"
    assert not [p.name for p in raw.iterdir() if p.name.startswith(registry.UNPACKING)]
