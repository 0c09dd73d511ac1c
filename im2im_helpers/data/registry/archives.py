"""Unpacking downloaded archives (zip, tar.gz) safely, whatever the Python version.

Every member is checked before anything is written: its path must stay inside the target folder
(no absolute paths, no ``..``), links must point inside it, device files and FIFOs are refused,
and the bytes written are counted, so an archive that expands far beyond its size (a
"decompression bomb") stops with an error instead of filling the disk. Files are written by this
module, one by one, not by ``tarfile.extractall``: on Python < 3.12 that follows every path and
link it is given.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

#: An archive may expand to at most this many times its own size.
EXPANSION_LIMIT = 100
CHUNK = 1 << 20


class ArchiveError(ValueError):
    """An archive holds a member that would be unsafe to unpack, or expands too far."""


def _inside(name: str, archive: Path, what: str = "member") -> str:
    """``name`` as a normalised relative POSIX path that stays inside the target folder."""
    clean = posixpath.normpath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or \
            clean == ".." or clean.startswith("../"):
        raise ArchiveError(
            f"{archive}: {what} {name!r} would be written outside the folder it is unpacked "
            "into; nothing was unpacked. The archive is not the published one: delete it and "
            "download it again, or check its source.")
    return clean


class _Budget:
    """Counts the bytes written and stops past ``limit``."""

    def __init__(self, archive: Path, limit: int):
        self.archive, self.limit, self.used = archive, limit, 0

    def copy(self, src: BinaryIO, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as out:
            while block := src.read(CHUNK):
                self.used += len(block)
                if self.used > self.limit:
                    raise ArchiveError(
                        f"{self.archive}: expands beyond {self.limit:,} bytes "
                        f"({EXPANSION_LIMIT} times its size); unpacking stopped and the partial "
                        "folder is removed. The file is not the published archive: delete it "
                        "and download it again.")
                out.write(block)


def _unpack_tar(archive: Path, dest: Path, budget: _Budget) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            name = _inside(m.name, archive)
            if m.ischr() or m.isblk() or m.isfifo() or not (m.isfile() or m.isdir()
                                                               or m.issym() or m.islnk()):
                raise ArchiveError(f"{archive}: member {m.name!r} is a device file or FIFO; "
                                   "nothing was unpacked. Data archives hold files and folders.")
            if m.issym():
                _inside(posixpath.join(posixpath.dirname(name), m.linkname), archive,
                        f"link {m.name!r} ->")
            if m.islnk():
                _inside(m.linkname, archive, f"hard link {m.name!r} ->")
        for m in members:
            target = dest / _inside(m.name, archive)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                budget.copy(tar.extractfile(m), target)
            elif m.issym():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(m.linkname, target)
            else:  # a hard link: a copy of a member unpacked before it
                source = dest / _inside(m.linkname, archive)
                with open(source, "rb") as f:
                    budget.copy(f, target)
        # Read the stream to its end: a .tar.gz cut short after its last member still fails
        # here, on the missing end of its gzip stream (and a damaged one on its checksum).
        while tar.fileobj.read(CHUNK):
            pass


def _unpack_zip(archive: Path, dest: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _inside(info.filename, archive)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ArchiveError(f"{archive}: member {info.filename!r} is a link; nothing "
                                   "was unpacked. Data archives hold files and folders.")
        for info in infos:
            target = dest / _inside(info.filename, archive)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                with zf.open(info) as src:
                    budget.copy(src, target)


UNPACKERS = {"zip": _unpack_zip, "tar.gz": _unpack_tar}


def unpack(archive: str | os.PathLike, kind: str, dest: str | os.PathLike,
           declared_size: int | None = None) -> Path:
    """Unpack ``archive`` (``kind`` ``"zip"`` or ``"tar.gz"``) into the new folder ``dest``.

    At most :data:`EXPANSION_LIMIT` times ``declared_size`` (the registry's size of the file,
    else the archive's size on disk) bytes are written. On any error the partly filled ``dest``
    is removed and :class:`ArchiveError` is raised (also for a corrupt archive, naming it);
    ``dest`` exists only when complete.
    """
    archive, dest = Path(archive), Path(dest)
    if kind not in UNPACKERS:
        raise ArchiveError(f"{archive}: unknown archive kind {kind!r}; known: "
                           f"{sorted(UNPACKERS)}.")
    if dest.exists():
        raise FileExistsError(f"{dest}: already exists; unpack into a new folder.")
    size = max(declared_size or 0, archive.stat().st_size, 1)
    dest.mkdir(parents=True)
    try:
        UNPACKERS[kind](archive, dest, _Budget(archive, EXPANSION_LIMIT * size))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as err:
        shutil.rmtree(dest, ignore_errors=True)
        raise ArchiveError(
            f"{archive}: not a readable {kind} archive ({type(err).__name__}: {err}); nothing "
            "was unpacked. Delete the file and download it again; if it has a published hash "
            "that matched, the source itself is broken: report it.") from err
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest
