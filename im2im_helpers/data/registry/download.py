"""Downloads with pooch: hash-checked, atomic (a file appears only once complete and verified),
tried on every mirror, with errors that say where to put the file by hand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pooch


class DownloadError(RuntimeError):
    """No URL could deliver the file."""


class HashMismatchError(ValueError):
    """A downloaded file does not have its published checksum; it was not kept."""


def fetch(urls: str | Sequence[str], known_hash: str | None, folder: Path, filename: str,
          progress: bool = True) -> Path:
    """Download ``filename`` into ``folder`` from the first URL that works and return its path.

    A file already there with the right hash is not downloaded again. pooch writes to a
    temporary file and moves it into place only after the hash check, so an interrupted or
    corrupted download never leaves a file that a later call would trust.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            path = pooch.retrieve(url, known_hash=known_hash, fname=filename, path=folder,
                                  progressbar=progress)
            return Path(path)
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
