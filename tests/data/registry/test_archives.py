"""Archives are unpacked member by member: nothing is written outside the target folder, links
stay inside, device files are refused, and an archive that expands far beyond its size stops
(issue 14, item 2), on every Python version."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from im2im_helpers.data.registry.archives import EXPANSION_LIMIT, ArchiveError, unpack


def tar_gz(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    path = tmp_path / "archive.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, content in members:
            if content is not None:
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_a_good_archive_unpacks_with_folders_and_inner_links(tmp_path):
    archive = tar_gz(tmp_path, [(member("data", tarfile.DIRTYPE), None),
                                (member("data/a_IM.tif"), b"image"),
                                (member("data/latest", tarfile.SYMTYPE, "a_IM.tif"), None),
                                (member("data/copy.tif", tarfile.LNKTYPE, "data/a_IM.tif"), None)])
    out = unpack(archive, "tar.gz", tmp_path / "out")
    assert (out / "data" / "a_IM.tif").read_bytes() == b"image"
    assert (out / "data" / "latest").read_bytes() == b"image"
    assert (out / "data" / "copy.tif").read_bytes() == b"image"


@pytest.mark.parametrize("bad", [
    (member("../escaped.txt"), b"x"),
    (member("/tmp/absolute-im2im-test.txt"), b"x"),
    (member("data/../../escaped.txt"), b"x"),
    (member("link", tarfile.SYMTYPE, "../../etc"), None),
    (member("link", tarfile.SYMTYPE, "/etc/passwd"), None),
    (member("hard", tarfile.LNKTYPE, "../outside.txt"), None),
    (member("dev", tarfile.CHRTYPE), None),
    (member("fifo", tarfile.FIFOTYPE), None),
], ids=["dotdot", "absolute", "nested-dotdot", "symlink-up", "symlink-absolute", "hardlink-up",
        "device", "fifo"])
def test_unsafe_tar_members_are_refused_and_nothing_is_written(tmp_path, bad):
    archive = tar_gz(tmp_path, [(member("fine.txt"), b"ok"), bad])
    with pytest.raises(ArchiveError, match=r"archive.tar.gz"):
        unpack(archive, "tar.gz", tmp_path / "box" / "out")
    assert not (tmp_path / "box" / "out").exists()  # the partial folder is removed
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "box" / "escaped.txt").exists()
    assert not Path("/tmp/absolute-im2im-test.txt").exists()


def test_a_tar_bomb_stops_at_the_expansion_limit(tmp_path):
    zeros = bytes(4 << 20)  # 4 MiB of zeros compress to a few kB
    archive = tar_gz(tmp_path, [(member("big.bin"), zeros)])
    assert archive.stat().st_size * EXPANSION_LIMIT < len(zeros)
    with pytest.raises(ArchiveError, match="expands beyond"):
        unpack(archive, "tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # the registry's declared size raises the limit for a file known to be that large
    assert (unpack(archive, "tar.gz", tmp_path / "ok", declared_size=len(zeros))
            / "big.bin").stat().st_size == len(zeros)


def test_zip_members_outside_the_folder_and_zip_bombs_are_refused(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr("../escaped.txt", "x")
    with pytest.raises(ArchiveError, match=r"bad.zip.*outside"):
        unpack(bad, "zip", tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "out").exists()
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", bytes(4 << 20))
    with pytest.raises(ArchiveError, match="expands beyond"):
        unpack(bomb, "zip", tmp_path / "out2")
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a/b.txt", "hello")
    assert (unpack(good, "zip", tmp_path / "out3") / "a" / "b.txt").read_text() == "hello"


def test_unpack_refuses_an_existing_target_and_an_unknown_kind(tmp_path):
    archive = tmp_path / "x.gz"
    archive.write_bytes(gzip.compress(b"x"))
    (tmp_path / "there").mkdir()
    with pytest.raises(FileExistsError):
        unpack(archive, "zip", tmp_path / "there")
    with pytest.raises(ArchiveError, match="unknown archive kind"):
        unpack(archive, "rar", tmp_path / "new")
