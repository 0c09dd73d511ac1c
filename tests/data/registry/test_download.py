"""Downloads are hash-checked and never leave a bad or half file behind; an unreachable server
says where to place the file by hand (:mod:`im2im_helpers.data.registry.download`)."""

from __future__ import annotations

import pytest

from im2im_helpers.data import registry
from im2im_helpers.data.registry import download
from tests.helpers import QuietHandler, serve_entry, zip_bytes


def test_corrupted_byte_fails_the_hash_and_is_not_kept(server, cache, tmp_path):
    entry = serve_entry(server, "glas", [zip_bytes({"a.txt": b"x" * 100})])
    root, _ = server
    payload = bytearray((root / entry.files[0].filename).read_bytes())
    payload[10] ^= 0xFF
    (root / entry.files[0].filename).write_bytes(bytes(payload))
    with pytest.raises(download.HashMismatchError, match="published checksum"):
        registry.fetch(entry, progress=False)
    raw = cache / "glas" / "raw"
    assert not any(raw.iterdir())  # neither the bad file nor a temporary one


def test_unreachable_server_explains_how_to_place_the_file(cache):
    entry = registry.with_files(registry.get("glas"), [registry.RemoteFile(
        url="http://127.0.0.1:9/glas.zip", filename="glas.zip", hash="sha256:" + "0" * 64)])
    with pytest.raises(download.DownloadError) as err:
        registry.fetch(entry, progress=False)
    message = str(err.value)
    assert "http://127.0.0.1:9/glas.zip" in message
    assert str(cache / "glas" / "raw") in message and "place it" in message


def test_interrupted_download_leaves_no_half_file(server, cache):
    entry = serve_entry(server, "glas", [zip_bytes({"a.txt": b"y" * 50_000})])
    _, base = server
    spec = entry.files[0]
    broken = registry.with_files(entry, [registry.RemoteFile(
        url=f"{base}/truncated/{spec.filename}", filename=spec.filename, hash=spec.hash,
        unpack=spec.unpack)])
    with pytest.raises(download.DownloadError):
        registry.fetch(broken, progress=False)
    assert not any((cache / "glas" / "raw").iterdir())
    assert (registry.fetch(entry, progress=False) / spec.filename).is_file()  # then it works


def test_a_file_without_hash_is_checked_against_its_size_and_its_first_download(server, cache):
    """Issue 14, item 8: an unhashed file cut short was kept and reused forever."""
    from im2im_helpers.data.registry.download import fetch

    root, base = server
    payload = b"fields of view" * 1000
    (root / "meta.csv").write_bytes(payload)
    folder = cache / "allen" / "raw"
    with pytest.raises(download.DownloadError, match=r"meta.csv .*not the 999 the registry"):
        fetch(f"{base}/meta.csv", None, folder, "meta.csv", False, size=999)
    assert not (folder / "meta.csv").exists()
    path = fetch(f"{base}/meta.csv", None, folder, "meta.csv", False, size=len(payload))
    assert path.read_bytes() == payload
    path.write_bytes(payload[:100])  # cut short later (a killed copy, a full disk)
    seen = len(QuietHandler.requests_seen)
    assert fetch(f"{base}/meta.csv", None, folder, "meta.csv", False).read_bytes() == payload
    assert len(QuietHandler.requests_seen) == seen + 1  # fetched again
    fetch(f"{base}/meta.csv", None, folder, "meta.csv", False)
    assert len(QuietHandler.requests_seen) == seen + 1  # an unchanged file is reused
