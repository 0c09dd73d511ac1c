"""Fault injection (issue 14, "Beyond single probes"): a server that hangs up at random offsets,
sends a wrong Content-Length, or serves another file.

Whatever it does, a fetch either raises one of the registry's own errors, naming the file (and,
for a download, the URL) and saying what to do, or returns the right bytes; and the cache never
keeps a file that a later fetch or prepare would trust without checking: the next fetch from a
good server gives exactly the real file, and ``prepare`` the right pairs. Partial downloads are
hidden files that organisers ignore, removed after a failure (and, when a killed process left
one, by a later fetch).

One fault cannot be detected and is not tested: a Content-Length shorter than the file, for a
file that has neither a published hash nor a size and is not an archive: the bytes that arrive
look complete and nothing says otherwise (the registry marks such files with ``hash_note``).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time

import numpy as np
import pytest
import tifffile

from im2im_helpers.data import registry
from im2im_helpers.data.registry import archives, download
from tests.helpers import faulty_server, png_bytes, tar_gz_bytes, zip_bytes

#: The registry's own errors; no requests/urllib3/pooch/zipfile/tarfile error may escape.
OURS = (download.DownloadError, download.HashMismatchError, archives.ArchiveError)
WHAT_TO_DO = ("try again", "run the same command again", "place")
SEEDS = [0, 1, 2]


@pytest.fixture
def faulty(tmp_path):
    """A loopback server of ``tests.helpers.FaultyHandler`` serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = faulty_server(root)
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cut_offsets(seed: int, length: int, count: int = 3) -> list[int]:
    """``count`` seeded offsets in ``[0, length)``, and an extreme one: nothing sent (even
    seeds) or all but the last byte (odd seeds)."""
    rng = random.Random(seed)
    return sorted({rng.randrange(0, length) for _ in range(count)} | {[0, length - 1][seed % 2]})


def check_error(err: BaseException, filename: str, url: str | None = None) -> None:
    """One of our errors, naming the file (and the URL it came from) and what to do."""
    assert isinstance(err, OURS), f"{type(err).__module__}.{type(err).__name__}: {err}"
    text = str(err)
    assert filename in text, text
    if url is not None and not isinstance(err, archives.ArchiveError):
        assert url in text, text
    assert any(w in text for w in WHAT_TO_DO), text
    assert "Traceback" not in text


def assert_nothing_untrusted(folder, filename: str, good: bytes) -> None:
    """The cache folder holds the real file or none, only our records beside it (a download
    record only of the real file), and no partial download."""
    records = {f".{filename}.download.json", f".{filename}.unpacked.json"}
    for p in folder.iterdir():
        if p.name == filename:
            assert sha(p.read_bytes()) == sha(good), f"{p} is kept but is not the real file"
        elif p.name == f".{filename}.download.json":
            assert json.loads(p.read_text())["sha256"] == sha(good), "recorded a bad download"
        elif p.name in records or p.name == f"{filename}.unpacked":
            continue
        else:
            raise AssertionError(f"{p.name} left in {folder}: {sorted(os.listdir(folder))}")


def fetch_once_faulty_then_good(faulty, fault, known_hash, folder, filename, size, good):
    """One ``download.fetch`` while the server has ``fault``, checked; then one from the good
    server, which must give exactly ``good``. Returns the type of error raised by the first,
    or ``None`` when it returned the right bytes."""
    url = f"{faulty.base}/{filename}"
    faulty.faults[:] = [fault]
    try:
        path = download.fetch(url, known_hash, folder, filename, False, size)
    except OURS as err:
        check_error(err, filename, url)
        outcome = type(err)
    else:
        assert sha(path.read_bytes()) == sha(good), f"{fault[:2]}: accepted wrong bytes"
        outcome = None
    assert not faulty.faults, "the fault was not served"
    assert_nothing_untrusted(folder, filename, good)
    again = download.fetch(url, known_hash, folder, filename, False, size)
    assert sha(again.read_bytes()) == sha(good)
    assert_nothing_untrusted(folder, filename, good)
    return outcome


def plain_file(faulty, seed: int, check: str) -> tuple[bytes, str | None, int | None]:
    """A served file of random bytes, its hash and size as the registry would give them
    (``check``: ``"hash"``, ``"size"`` only, or ``"none"``)."""
    good = random.Random(seed).randbytes(30_000 + seed * 777)
    (faulty.root / "data.bin").write_bytes(good)
    known_hash = f"sha256:{sha(good)}" if check == "hash" else None
    return good, known_hash, len(good) if check == "size" else None


@pytest.mark.parametrize("with_length", [True, False], ids=["with-length", "no-length"])
@pytest.mark.parametrize("check", ["hash", "size", "none"])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_connection_cut_at_random_offsets_leaves_nothing_trusted(
        faulty, cache, seed, check, with_length):
    good, known_hash, size = plain_file(faulty, seed, check)
    for n in cut_offsets(seed, len(good)):
        folder = cache / f"{check}-{n}"
        outcome = fetch_once_faulty_then_good(faulty, ("cut", n, with_length), known_hash,
                                              folder, "data.bin", size, good)
        # without a length a cut file looks complete: its hash or size gives it away, and with
        # neither it is refused for want of any check
        assert outcome is (download.HashMismatchError if check == "hash" and not with_length
                           else download.DownloadError)


@pytest.mark.parametrize("check", ["hash", "size", "none"])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_wrong_content_length_is_refused(faulty, cache, seed, check):
    good, known_hash, size = plain_file(faulty, seed, check)
    rng = random.Random(seed)
    lengths = [len(good) + rng.randrange(1, 5000)]  # longer: the server hangs up early
    if check != "none":  # shorter: undetectable without a hash or size (module docstring)
        lengths.append(rng.randrange(0, len(good)))
    for length in lengths:
        folder = cache / f"{check}-{length}"
        outcome = fetch_once_faulty_then_good(faulty, ("length", length), known_hash, folder,
                                              "data.bin", size, good)
        assert outcome is (download.HashMismatchError if check == "hash" and length < len(good)
                           else download.DownloadError)


@pytest.mark.parametrize("seed", SEEDS)
def test_another_file_of_the_same_length_is_refused_when_hashed(faulty, cache, seed):
    good, known_hash, _ = plain_file(faulty, seed, "hash")
    other = bytearray(good)
    other[random.Random(seed).randrange(len(good))] ^= 0x01
    outcome = fetch_once_faulty_then_good(faulty, ("swap", bytes(other)), known_hash,
                                          cache / "raw", "data.bin", None, good)
    assert outcome is download.HashMismatchError


@pytest.mark.parametrize("size_known", [False, True], ids=["no-size", "size"])
@pytest.mark.parametrize("seed", SEEDS)
def test_an_unhashed_file_is_held_to_its_first_good_download(faulty, cache, seed, size_known):
    """No published hash: the first good download is the reference. Another file of the same
    length served later is refused, whether the cached copy was deleted or damaged."""
    good, _, _ = plain_file(faulty, seed, "none")
    size = len(good) if size_known else None
    url, folder = f"{faulty.base}/data.bin", cache / "raw"
    path = download.fetch(url, None, folder, "data.bin", False, size)
    assert path.read_bytes() == good
    other = random.Random(seed + 100).randbytes(len(good))
    requests_before = len(faulty.seen)
    faulty.faults[:] = [("swap", other)]
    assert download.fetch(url, None, folder, "data.bin", False, size).read_bytes() == good
    assert len(faulty.seen) == requests_before  # the intact copy is reused, nothing asked
    for damage in ("delete", "truncate", "flip"):
        if damage == "delete":
            path.unlink()
        elif damage == "truncate":
            path.write_bytes(good[: len(good) // 3])
        else:
            path.write_bytes(bytes([good[0] ^ 0xFF]) + good[1:])
        outcome = fetch_once_faulty_then_good(faulty, ("swap", other), None, folder, "data.bin",
                                              size, good)
        assert outcome is download.HashMismatchError


# --- archives that would be unpacked and organised ----------------------------------------------


def glas_files(value: int) -> dict[str, bytes]:
    """A GlaS-layout archive's members; the training image has grey level ``value``."""
    rgb = np.full((8, 10, 3), value, np.uint8)
    anno = np.zeros((8, 10), np.uint8)
    anno[2:5, 2:5] = 1
    names = ("train_1", "testA_1")
    return {f"glas/{n}.bmp": png_bytes(rgb, ".bmp") for n in names} | {
        f"glas/{n}_anno.bmp": png_bytes(anno, ".bmp") for n in names}


ARCHIVES = {"zip": ("glas.zip", zip_bytes), "tar.gz": ("glas.tar.gz", tar_gz_bytes)}


def glas_entry(faulty, kind: str, hashed: bool, value: int = 100):
    """The GlaS entry with one archive (``kind``) served by ``faulty``; its real bytes."""
    filename, make = ARCHIVES[kind]
    good = make(glas_files(value))
    (faulty.root / filename).write_bytes(good)
    spec = registry.RemoteFile(
        url=f"{faulty.base}/{filename}", filename=filename, unpack=kind,
        hash=f"sha256:{sha(good)}" if hashed else None,
        hash_note=None if hashed else "none published (a test)")
    return registry.with_files(registry.get("glas"), [spec]), good


def assert_right_pairs(entry, value: int = 100) -> None:
    """``prepare`` gives the archive's two pairs, the training input of grey level ``value``
    (read with tifffile: quicker than loading them as pairs)."""
    folder = registry.prepare(entry, progress=False)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.ome.tiff"))
    assert files == ["test/testA_1_GT.ome.tiff", "test/testA_1_IM.ome.tiff",
                     "train/train_1_GT.ome.tiff", "train/train_1_IM.ome.tiff"]
    image = tifffile.imread(folder / "train" / "train_1_IM.ome.tiff")
    assert image.min() == image.max() == value
    assert tifffile.imread(folder / "train" / "train_1_GT.ome.tiff").max() == 1


@pytest.mark.parametrize("fault", ["cut-with-length", "cut-no-length", "short-length"])
@pytest.mark.parametrize("hashed", [True, False], ids=["hashed", "unhashed"])
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_a_truncated_archive_is_never_unpacked_nor_kept(faulty, cache, seed, kind, hashed, fault):
    entry, good = glas_entry(faulty, kind, hashed)
    filename = entry.files[0].filename
    n = random.Random(f"{seed}{kind}").randrange(0, len(good))
    faulty.faults[:] = [{"cut-with-length": ("cut", n, True), "cut-no-length": ("cut", n, False),
                         "short-length": ("length", n)}[fault]]
    raw = cache / "glas" / "raw"
    with pytest.raises(OURS) as err:
        registry.prepare(entry, progress=False)
    check_error(err.value, filename, entry.files[0].url)
    assert not faulty.faults, "the fault was not served"
    if fault == "cut-with-length" or (fault == "cut-no-length" and not hashed):
        assert type(err.value) is download.DownloadError  # cut, or no way to tell: refused
    elif hashed:
        assert type(err.value) is download.HashMismatchError
    else:  # a Content-Length shorter than the file: it looks complete, but does not unpack
        assert type(err.value) is archives.ArchiveError
    assert not (raw / f"{filename}.unpacked").exists()
    assert_nothing_untrusted(raw, filename, good)
    assert not [p for p in cache.glob("glas/pairs-*") if not p.name.startswith(".")]
    assert_right_pairs(entry)  # the server is good again
    assert sha((raw / filename).read_bytes()) == sha(good)
    assert_nothing_untrusted(raw, filename, good)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_cut_unhashed_archive_left_by_a_killed_run_is_not_trusted(faulty, cache, kind):
    """A cut archive and its download record (a run killed before unpacking, or a server that
    lied about the length) fail to unpack once, are deleted, and the next run downloads."""
    entry, good = glas_entry(faulty, kind, hashed=False)
    filename = entry.files[0].filename
    raw = cache / "glas" / "raw"
    raw.mkdir(parents=True)
    cut = good[: len(good) - 9]  # a .tar.gz whose every member is whole: only the end of
    # its gzip stream is missing, which a reader notices only when it reads to the end
    (raw / filename).write_bytes(cut)
    (raw / f".{filename}.download.json").write_text(
        json.dumps({"size": len(cut), "sha256": sha(cut)}))
    with pytest.raises(archives.ArchiveError) as err:
        registry.prepare(entry, progress=False)
    check_error(err.value, filename)
    assert_nothing_untrusted(raw, filename, good)
    assert_right_pairs(entry)


def test_partial_downloads_are_hidden_ignored_and_cleaned(faulty, cache):
    """A killed download leaves a hidden partial file: organisers ignore it, the file is
    downloaded (not adopted from it), and a later fetch removes it once it is stale."""
    entry, good = glas_entry(faulty, "zip", hashed=False)
    filename = entry.files[0].filename
    raw = cache / "glas" / "raw"
    raw.mkdir(parents=True)
    old, fresh = raw / f".{filename}.x1.part", raw / f".{filename}.x2.part"
    for p in (old, fresh):
        p.write_bytes(good[: len(good) // 2])
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert_right_pairs(entry)
    assert not old.exists()  # stale: removed
    assert fresh.exists()  # may belong to a download still running elsewhere: kept, ignored
    assert sha((raw / filename).read_bytes()) == sha(good)
    assert not any(".part" in p.name for p in cache.glob("glas/pairs-*/**/*"))
