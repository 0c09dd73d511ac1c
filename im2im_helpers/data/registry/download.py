"""Downloads with pooch: hash-checked, atomic (a file appears only once complete and verified),
tried on every mirror, with errors that say where to put the file by hand."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pooch

from im2im_helpers import io


class DownloadError(RuntimeError):
    """No URL could deliver the file."""


class HashMismatchError(ValueError):
    """A downloaded file does not have its published checksum; it was not kept."""


def _record_path(path: Path) -> Path:
    return path.parent / f".{path.name}.download.json"


def _record(path: Path) -> None:
    """Note the size and hash of a file downloaded without a published hash."""
    record = _record_path(path)
    if not record.is_file():
        io.write_text(record, json.dumps({"size": path.stat().st_size,
                                          "sha256": pooch.file_hash(str(path))}) + "\n")


def _drop_if_changed(path: Path, size: int | None) -> None:
    """Delete a cached file without a published hash if it is not what was first downloaded
    (or not ``size`` bytes), so that it is fetched again."""
    if not path.is_file():
        _record_path(path).unlink(missing_ok=True)
        return
    record = _record_path(path)
    seen = json.loads(record.read_text()) if record.is_file() else None
    wrong_size = size is not None and path.stat().st_size != size
    changed = seen is None or seen.get("size") != path.stat().st_size or \
        seen.get("sha256") != pooch.file_hash(str(path))
    if wrong_size or changed:
        path.unlink()
        record.unlink(missing_ok=True)


def fetch(urls: str | Sequence[str], known_hash: str | None, folder: Path, filename: str,
          progress: bool = True, size: int | None = None) -> Path:
    """Download ``filename`` into ``folder`` from the first URL that works and return its path.

    A file already there with the right hash is not downloaded again. pooch writes to a
    temporary file and moves it into place only after the hash check, so an interrupted or
    corrupted download never leaves a file that a later call would trust. A file without a
    published hash is checked against ``size`` (when known) and, on reuse, against the hash
    recorded when it was first downloaded (``.FILENAME.download.json``): a short or changed
    file is deleted and fetched again.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if known_hash is None:
        _drop_if_changed(folder / filename, size)
    failures = []
    for url in urls:
        try:
            path = Path(pooch.retrieve(url, known_hash=known_hash, fname=filename, path=folder,
                                       progressbar=progress))
            if size is not None and path.stat().st_size != size:
                got = path.stat().st_size
                path.unlink()
                raise DownloadError(
                    f"{filename} from {url}: {got:,} bytes, not the {size:,} the registry "
                    "records (cut short, or another version); it was deleted. Try again, or "
                    f"place a complete copy at {folder / filename}.")
            if known_hash is None:
                _record(path)
            return path
        except DownloadError:
            raise
        except ValueError as err:
            if "does not match" in str(err):
                raise HashMismatchError(
                    f"{filename} from {url} does not have its published checksum ({known_hash}); "
                    "the download was discarded. The server may deliver a different version "
                    f"or a broken file: try again later, or place a verified copy at "
                    f"{folder / filename}."
                ) from err
            failures.append(f"{url}: {err}")
        except Exception as err:  # requests/urllib3/OS errors: try the next mirror
            failures.append(f"{url}: {type(err).__name__}: {err}")
    check = f"its {known_hash.split(':')[0]} hash will be checked" if known_hash else \
        "no checksum is published for it"
    raise DownloadError(
        f"Could not download {filename}.\n  " + "\n  ".join(failures)
        + f"\nCache folder: {folder}. Without internet, download the file elsewhere and place it "
        f"there as {folder / filename} ({check}); then run the same command again."
    )
