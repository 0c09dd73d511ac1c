"""The errors of exporting and importing BioImage.IO packages (each message names the file)."""

from __future__ import annotations


class ExportError(ValueError):
    """A run cannot be exported as asked: not a run folder, no checkpoint, no held-out image,
    an unknown weight format, or a package that does not reproduce its own test outputs."""


class PackageError(ValueError):
    """A BioImage.IO package cannot be used: missing, invalid, not a model this project can
    predict with, or its test inputs do not reproduce its test outputs."""
