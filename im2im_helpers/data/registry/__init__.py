"""The paper's datasets by name: ``data_registry/*.yaml`` read, fetched with pooch, unpacked,
organised once into ``X_IM``/``X_GT`` pairs, and loaded with the dataset's split policy.

Cache layout (``$IM2IM_DATA`` or the OS cache folder)::

    NAME/raw/              downloaded files and their unpacked folders
    NAME/pairs-OPTIONS/    organised pairs (train/ and test/ when the source has a split)
                           with .organised.json written last, when complete
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pooch
import yaml

from im2im_helpers import io
from im2im_helpers.data.registry import archives, download
from im2im_helpers.data.registry.organisers import ORGANISERS
from im2im_helpers.schema import SchemaError, from_dict

REGISTRY_ENV = "IM2IM_REGISTRY"
DATA_ENV = "IM2IM_DATA"
DONE = ".organised.json"
#: Prefix of the temporary folders archives are unpacked in (inside ``raw/``).
UNPACKING = ".unpacking-"


class UnknownDatasetError(KeyError):
    """A name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class RemoteFile:
    """One file of a dataset: where it lives, how to check it, how to unpack it."""

    url: str
    filename: str
    hash: str | None
    hash_note: str | None = None
    mirrors: list[str] = field(default_factory=list)
    size: int | None = None
    size_text: str | None = None
    unpack: str | None = None


@dataclass
class SplitPolicy:
    """How the paper split this dataset, and how we reproduce it (seeded, written to disk)."""

    policy: str
    test: float = 0.0
    val: float = 0.0
    keep_source_split: bool = False


@dataclass
class Entry:
    """A dataset of the registry (one YAML file)."""

    name: str
    title: str
    task: str
    paper_section: str
    dims: int
    files: list[RemoteFile] = field(metadata={"item": RemoteFile})
    licence: str
    citation: str
    doi: str | None
    layout: str
    organiser: str
    split: SplitPolicy = field(default_factory=lambda: SplitPolicy(""))
    organiser_options: dict = field(default_factory=dict)
    notes: str | None = None




def registry_dir() -> Path:
    """The folder of registry YAML files: ``$IM2IM_REGISTRY``, else ``data_registry/`` of the
    source tree (a clone), else the copy installed inside the package (a wheel)."""
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[2]  # im2im_helpers/
    in_tree = package.parent / "data_registry"
    return in_tree if in_tree.is_dir() else package / "data_registry"


def cache_dir() -> Path:
    """Folder for downloaded data and default split files: ``$IM2IM_DATA`` or the OS cache.

    Raises ``NotADirectoryError``/``PermissionError`` with what to do when it exists but is a
    file or cannot be written."""
    env = os.environ.get(DATA_ENV)
    folder = Path(env).expanduser() if env else Path(pooch.os_cache("im2im"))
    where = f"${DATA_ENV}={env}" if env else "the cache folder"
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} ({where}): is a file, not a folder. Set {DATA_ENV} "
                                 "to a folder you can write to.")
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{folder} ({where}): cannot be written. Set {DATA_ENV} to a "
                              "folder you can write to (downloads and splits go there).")
    return folder


def check_entry(entry: Entry, origin: str) -> Entry:
    """Cross-field rules the schema cannot express; raises :class:`SchemaError`."""
    if entry.organiser not in ORGANISERS:
        raise SchemaError(f"{origin}: organiser {entry.organiser!r} is not one of "
                          f"{sorted(ORGANISERS)}.")
    for i, f in enumerate(entry.files):
        if f.hash is None and not f.hash_note:
            raise SchemaError(f"{origin}: files[{i}] has no hash: give 'hash' or, when none is "
                              "published, 'hash_note' saying so.")
        if f.hash is not None and f.hash.split(":")[0] not in ("md5", "sha256"):
            raise SchemaError(f"{origin}: files[{i}].hash must start with md5: or sha256:.")
        if f.unpack is not None and f.unpack not in archives.UNPACKERS:
            raise SchemaError(f"{origin}: files[{i}].unpack must be zip, tar.gz or empty.")
    if not entry.split.keep_source_split and not 0 < entry.split.test < 1 \
            and entry.organiser != "unpack_only":
        raise SchemaError(f"{origin}: split.test must be a fraction, or keep_source_split true.")
    return entry


def read_entry(path: Path) -> Entry:
    """Read and validate one registry YAML file."""
    values = yaml.safe_load(Path(path).read_text())
    entry = check_entry(from_dict(Entry, values, str(path)), str(path))
    if entry.name != Path(path).stem:
        raise SchemaError(f"{path}: name {entry.name!r} must equal the file name.")
    return entry


def entries() -> dict[str, Entry]:
    """Every registry entry by name."""
    return {p.stem: read_entry(p) for p in sorted(registry_dir().glob("*.yaml"))}


def get(name: str) -> Entry:
    """One registry entry; an unknown name lists the known ones."""
    path = registry_dir() / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in registry_dir().glob("*.yaml"))
        raise UnknownDatasetError(
            f"{name!r} is not in the registry ({registry_dir()}); known: {known}.")
    return read_entry(path)


def fetch(entry: Entry | str, progress: bool = True) -> Path:
    """Download (hash-checked) and unpack every file of a dataset; return its raw folder.

    An archive is unpacked once into ``FILENAME.unpacked/``, beside a record of the archive it
    came from: a new version of the archive (another hash) is unpacked again. Temporary folders
    of unpacking that was killed are removed first (they are this function's own). An archive
    without a published hash that cannot be unpacked (cut short under a wrong length, say) is
    deleted with its download record, so that the next call downloads it again."""
    entry = get(entry) if isinstance(entry, str) else entry
    raw = cache_dir() / entry.name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for stale in raw.glob(f"{UNPACKING}*"):
        shutil.rmtree(stale, ignore_errors=True)
    for f in entry.files:
        path = download.fetch([f.url, *f.mirrors], f.hash, raw, f.filename, progress, f.size)
        if f.unpack is None:
            continue
        try:
            _unpack_once(path, f, raw)
        except archives.ArchiveError as err:
            if f.hash is not None:  # the published file itself: keep it, the error says so
                raise
            download.forget(path)  # e.g. cut short under a wrong Content-Length
            raise archives.ArchiveError(
                f"{err}\n{f.filename} has no published checksum, so it was deleted with its "
                "download record: run the same command again to download it afresh (if it "
                "fails the same way, the source itself is broken: report it).") from err
    return raw


def _unpack_once(path: Path, f: RemoteFile, raw: Path) -> Path:
    """``raw/FILENAME.unpacked``, unpacked from ``path`` unless already done from this very
    archive (its hash recorded in ``raw/.FILENAME.unpacked.json``)."""
    target = raw / (f.filename + ".unpacked")
    record = raw / f".{f.filename}.unpacked.json"
    digest = f.hash or f"sha256:{pooch.file_hash(str(path))}"
    if target.is_dir():
        done = json.loads(record.read_text()).get("archive") if record.is_file() else None
        if done == digest:
            return target
        shutil.rmtree(target)  # unpacked from another version of the archive (or unrecorded)
    tmp = Path(tempfile.mkdtemp(prefix=UNPACKING, dir=raw))
    try:
        archives.unpack(path, f.unpack, tmp / "content", f.size)  # checked member by member
        os.replace(tmp / "content", target)  # complete or absent, never half unpacked
        io.write_text(record, json.dumps({"archive": digest}) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def options_key(entry: Entry, options: dict) -> str:
    """Folder suffix for one choice of organiser options."""
    text = json.dumps({"organiser": entry.organiser, **entry.organiser_options, **options},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def prepare(entry: Entry | str, progress: bool = True, **options) -> Path:
    """Fetch, unpack and organise a dataset once; return the folder of organised pairs.

    ``options`` override the entry's ``organiser_options`` (e.g. ``target="dapi"``). The work
    happens in a temporary folder renamed into place when complete, so it is done exactly once.
    """
    entry = get(entry) if isinstance(entry, str) else entry
    unknown = set(options) - set(entry.organiser_options)
    if unknown:
        raise ValueError(f"{entry.name}: no organiser option {sorted(unknown)}; its options are "
                         f"{entry.organiser_options}.")
    out = cache_dir() / entry.name / f"pairs-{options_key(entry, options)}"
    sources = {f.filename: f.hash for f in entry.files}
    if (out / DONE).is_file():
        if json.loads((out / DONE).read_text()).get("files") == sources:
            return out
        shutil.rmtree(out)  # organised from other versions of the files: organise again
    raw = fetch(entry, progress)
    tmp = Path(tempfile.mkdtemp(prefix=".organising-", dir=out.parent))
    try:
        count = ORGANISERS[entry.organiser](raw, tmp, **{**entry.organiser_options, **options})
        record = {"dataset": entry.name, "organiser": entry.organiser, "pairs": count,
                  "options": {**entry.organiser_options, **options}, "files": sources}
        (tmp / DONE).write_text(json.dumps(record, indent=1) + "\n")
        if out.exists():  # an earlier attempt that did not finish
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def is_prepared(entry: Entry, **options) -> bool:
    """Whether the organised pairs are in the cache."""
    return (cache_dir() / entry.name / f"pairs-{options_key(entry, options)}" / DONE).is_file()


def table() -> list[tuple[str, str, str, str, str]]:
    """One row per dataset: name, task, size, licence, cached ("yes"/"no")."""
    rows = []
    for name, entry in entries().items():
        size = sum(f.size or 0 for f in entry.files)
        size_text = f"{size / 1e6:.0f} MB" if size else (
            ", ".join(f.size_text for f in entry.files if f.size_text) or "?")
        rows.append((name, entry.task, size_text, entry.licence,
                     "yes" if is_prepared(entry) else "no"))
    return rows


def describe(entry: Entry) -> dict:
    """The entry as plain data (for ``data info``)."""
    return asdict(entry)


def with_files(entry: Entry, files: list[RemoteFile], **options) -> Entry:
    """A copy of ``entry`` with other files (e.g. a local mirror) and organiser options."""
    return replace(entry, files=files,
                   organiser_options={**entry.organiser_options, **options})
