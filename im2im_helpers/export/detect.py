"""Telling a BioImage.IO package from a run folder without importing bioimageio (light: the
command line and every Dask worker ask this before loading a model)."""

from __future__ import annotations

import os
from pathlib import Path

#: Files that mark a folder as an unzipped package.
DESCRIPTION_FILES = ("rdf.yaml", "bioimageio.yaml")


def is_package(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a BioImage.IO package: a ``.zip`` file, or a folder holding
    ``rdf.yaml`` / ``bioimageio.yaml`` (a run folder holds ``config.yaml`` instead)."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".zip"
    return path.is_dir() and any((path / f).is_file() for f in DESCRIPTION_FILES)
