"""BioImage.IO model packages: export a trained run (:func:`export_run`) and import one as a
torch module for :mod:`im2im_helpers.predict` (:func:`load_package`).

Modules: :mod:`~im2im_helpers.export.source` (what a run folder gives), ``network`` (the
network, its receptive field and halo), ``architecture`` (the self-contained file a package
rebuilds its network with), ``formats`` and ``weights`` (state dict, TorchScript, ONNX),
``processing`` (the spec's pre- and postprocessing by bioimageio.core), ``docs`` (README,
cover), ``package`` (the export), ``load`` (the import), ``detect`` (a package or a run
folder?), ``cli`` (the command line).

The names below are imported on first use: ``import im2im_helpers.export`` stays light for the
command line, and bioimageio, lightning and onnx load only when a package is made or read.
"""

from __future__ import annotations

import importlib

from im2im_helpers.export.errors import ExportError, PackageError
from im2im_helpers.export.formats import WEIGHT_FORMATS

#: Public names of the submodules, by the submodule that defines them.
_LAZY = {"export_run": "package", "DEFAULT_LICENSE": "package", "load_package": "load",
         "PackagedModel": "load", "is_package": "detect"}

__all__ = ["DEFAULT_LICENSE", "WEIGHT_FORMATS", "ExportError", "PackageError", "PackagedModel",
           "export_run", "is_package", "load_package"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
