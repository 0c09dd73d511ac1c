"""Downloads: complete and checked before they appear, tried on every mirror, with errors that
say where to put the file by hand.

A file is downloaded to a hidden temporary file beside its place (``.FILENAME.RANDOM.part``,
ignored by organisers, removed when the download fails and, when a killed process left it, by a
later fetch once it is stale), checked (the bytes received against the Content-Length the server
announced, then the registry's size and the hash), and only then renamed into place: a download
cut short, announced with a wrong length, or of another file never leaves a file that a later
call would trust.

A file without a published hash is held to its first download: its size and sha256 are recorded
in ``.FILENAME.download.json``; a cached copy that no longer matches is deleted, and a new
download must match the record (delete the record to accept a new version of the file).
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pooch

from im2im_helpers import io

#: Seconds to wait for a server to answer or to send the next bytes.
TIMEOUT = 30
CHUNK = 1 << 16
#: Suffix of partial downloads (``.FILENAME.RANDOM.part`` beside the file).
PART = ".part"


class DownloadError(RuntimeError):
    """No URL could deliver the file."""


class HashMismatchError(ValueError):
    """A downloaded file does not have its published checksum (or, without one, is not the file
    first downloaded); it was not kept."""


class _Incomplete(Exception):
    """A download that is known to be, or cannot be told from, a file cut short."""


def _record_path(path: Path) -> Path:
    return path.parent / f".{path.name}.download.json"


def _recorded(path: Path) -> dict | None:
    """The record of the first download of a file without a published hash, if readable."""
    record = _record_path(path)
    try:
        seen = json.loads(record.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        record.unlink(missing_ok=True)  # unreadable: as if there were none
        return None
    return seen if isinstance(seen, dict) and "sha256" in seen and "size" in seen else None


def _drop_if_changed(path: Path, size: int | None) -> dict | None:
    """Delete a cached file without a published hash if it is not what was first downloaded
    (or not ``size`` bytes), so that it is fetched again; return the record the new download
    must match (none when the registry's ``size`` says another version is expected)."""
    seen = _recorded(path)
    if seen is not None and size is not None and seen["size"] != size:
        _record_path(path).unlink(missing_ok=True)
        seen = None
    if path.is_file():
        unchanged = seen is not None and path.stat().st_size == seen["size"] and \
            pooch.file_hash(str(path)) == seen["sha256"]
        if not unchanged:
            path.unlink()
    return seen


def forget(path: str | os.PathLike) -> None:
    """Delete a downloaded file and its download record: the next fetch downloads it afresh and
    takes that download as the reference (for a file found broken only after its download)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    _record_path(path).unlink(missing_ok=True)


def _remove_stale_parts(path: Path) -> None:
    """Delete the partial downloads of ``path`` that a killed process left, once older than
    :data:`im2im_helpers.io.STALE_SECONDS` (a younger one may be a download running elsewhere)."""
    now = time.time()
    for part in path.parent.glob(f".{glob.escape(path.name)}.*{PART}"):
        try:
            if now - part.stat().st_mtime > io.STALE_SECONDS:
                part.unlink()
        except FileNotFoundError:
            continue


def _progress_bar(total: int | None, filename: str):
    try:
        from tqdm import tqdm
    except ImportError:  # no progress bar without tqdm
        return None
    return tqdm(total=total, desc=filename, ncols=79, unit="B", unit_scale=True, leave=True)


def _download(url: str, dest: Path, progress: bool, checkable: bool) -> None:
    """Write what ``url`` delivers to ``dest``; raise :class:`_Incomplete` when the connection
    broke, fewer bytes came than announced, or (``checkable`` false: no hash or size to check
    afterwards) the server did not say how long the file is."""
    if not url.startswith(("http://", "https://")):  # doi:, ftp:, sftp: pooch's downloaders
        pooch.downloaders.choose_downloader(url, progressbar=progress)(url, str(dest), None)
        return
    import requests

    with requests.get(url, stream=True, timeout=TIMEOUT) as response:
        response.raise_for_status()
        headers = response.headers
        declared = headers.get("Content-Length", "")
        total = int(declared) if declared.isdigit() else None
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        if total is None and not chunked and not checkable:
            raise _Incomplete(
                "the server did not say how long the file is (no Content-Length), and neither a "
                "hash nor a size is known to check it, so a download cut short could not be told "
                "from a complete one; nothing was kept")
        received = 0
        bar = _progress_bar(total, dest.name) if progress else None
        try:
            with open(dest, "wb") as out:
                for block in response.iter_content(CHUNK):
                    out.write(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
        except requests.RequestException as err:
            try:  # bytes off the wire, also those not yet handed out
                received = max(received, int(response.raw.tell()))
            except (AttributeError, TypeError, ValueError, OSError):
                pass
            of = f" of {total:,}" if total is not None else ""
            how = f"the server sent nothing for {TIMEOUT} s" if "timed out" in str(err) else \
                "the connection broke"
            raise _Incomplete(f"{how} after {received:,}{of} bytes; nothing was kept") from err
        finally:
            if bar is not None:
                bar.close()
        if total is not None and "Content-Encoding" not in headers and received != total:
            raise _Incomplete(f"{received:,} bytes arrived, not the {total:,} the server "
                              "announced; nothing was kept")


def _check(part: Path, url: str, path: Path, known_hash: str | None, seen: dict | None,
           size: int | None) -> str | None:
    """Check a complete download against ``size``, then ``known_hash`` (or, without one, the
    record ``seen`` of the first download); return its sha256 when there is no published hash."""
    got = part.stat().st_size
    if size is not None and got != size:
        raise DownloadError(
            f"{path.name} from {url}: {got:,} bytes, not the {size:,} the registry records "
            f"(cut short, or another version); it was discarded. Try again, or place a complete "
            f"copy at {path}.")
    if known_hash is not None:
        algorithm = pooch.hashes.hash_algorithm(known_hash)
        if pooch.file_hash(str(part), algorithm) != known_hash.split(":")[-1].lower():
            raise HashMismatchError(
                f"{path.name} from {url} does not have its published checksum ({known_hash}); "
                f"the download ({got:,} bytes) was discarded. The server may deliver a different "
                "version or a broken file: try again later, or place a verified copy at "
                f"{path}.")
        return None
    digest = pooch.file_hash(str(part))
    if seen is not None and (got, digest) != (seen["size"], seen["sha256"]):
        record = _record_path(path)
        raise HashMismatchError(
            f"{path.name} from {url} is not the file first downloaded into this cache "
            f"({seen['size']:,} bytes, sha256 {seen['sha256']}, recorded in {record}); no "
            f"checksum is published for it, so that first download is the reference. The "
            f"download ({got:,} bytes) was discarded. It may be cut short or broken: try again "
            f"later. If the source has published a new version, delete {record} and run the "
            "same command again.")
    return digest


def fetch(urls: str | Sequence[str], known_hash: str | None, folder: Path, filename: str,
          progress: bool = True, size: int | None = None) -> Path:
    """Download ``filename`` into ``folder`` from the first URL that works and return its path.

    A file already there with the right hash (and ``size``, when known) is not downloaded again.
    The download goes to a hidden ``.part`` file, is checked, and is renamed into place only
    then (module docstring), so an interrupted, cut or different download never leaves a file
    that a later call would trust. A file without a published hash is checked against ``size``
    (when known) and against its first download (``.FILENAME.download.json``): a cached copy
    that changed is deleted and fetched again, and the new download must match the record.

    Raises :class:`HashMismatchError` (a download that is not the file) or
    :class:`DownloadError` (wrong size, or no URL delivered the file), each naming the file,
    the URL and what to do.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    _remove_stale_parts(path)
    seen = None
    if known_hash is None:
        seen = _drop_if_changed(path, size)
        if path.is_file():
            return path
    elif path.is_file():
        if (size is None or path.stat().st_size == size) and pooch.file_hash(
                str(path), pooch.hashes.hash_algorithm(known_hash)) == \
                known_hash.split(":")[-1].lower():
            return path
        path.unlink()  # not the published file: never used, fetched again
    failures = []
    for url in urls:
        fd, name = tempfile.mkstemp(prefix=f".{filename}.", suffix=PART, dir=folder)
        os.close(fd)
        part = Path(name)
        try:
            _download(url, part, progress,
                      checkable=known_hash is not None or seen is not None or size is not None)
            digest = _check(part, url, path, known_hash, seen, size)
            os.replace(part, path)
            if digest is not None and seen is None:
                io.write_text(_record_path(path), json.dumps(
                    {"size": path.stat().st_size, "sha256": digest}) + "\n")
            return path
        except (DownloadError, HashMismatchError):
            raise
        except _Incomplete as err:
            failures.append(f"{url}: {err}")
        except Exception as err:  # requests/urllib3/OS errors: try the next mirror
            failures.append(f"{url}: {type(err).__name__}: {err}")
        finally:
            part.unlink(missing_ok=True)
    check = f"its {known_hash.split(':')[0]} hash will be checked" if known_hash else \
        "no checksum is published for it"
    raise DownloadError(
        f"Could not download {filename}.\n  " + "\n  ".join(failures)
        + f"\nTry again later (a server or a connection may fail for a while). Cache folder: "
        f"{folder}. Without internet, download the file elsewhere and place it there as "
        f"{folder / filename} ({check}); then run the same command again."
    )
