"""``load_package``: a BioImage.IO model package (ours or another's) as a torch module that
:func:`im2im_helpers.predict.image` and :func:`~im2im_helpers.predict.file` use like a trained
task: the same sliding windows and OME-TIFF writing, its postprocessing applied to each whole
prediction. ``predict.file`` normalises each raw image by the package's preprocessing instead
of our percentile normalisation; ``predict.image`` takes normalised images, as for a task (the
pairs of :func:`im2im_helpers.data.load`, or ``model.preprocess(raw)``).

A package is verified before it is used: bioimageio.core's own test must reproduce its test
outputs from its test inputs with the weights that will be used (``check=False`` skips it).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from im2im_helpers.export.detect import DESCRIPTION_FILES, is_package
from im2im_helpers.export.errors import PackageError
from im2im_helpers.export.processing import AXES, PackageProcessing

#: Weight formats :func:`load_package` can run as a torch module, in order of preference.
LOADABLE = ("pytorch_state_dict", "torchscript")
class PackagedModel(nn.Module):
    """A package's network with its pre- and postprocessing, for :mod:`im2im_helpers.predict`.

    Attributes
    ----------
    network : torch.nn.Module
        The network (``forward`` runs it on preprocessed windows).
    package : pathlib.Path
        Where the package was loaded from.
    weight_format : str
        The weights in use.
    im2im_spec : dict
        The network's spec when the package was exported by :func:`export_run` (else
        ``{"dims": ...}``); gives predict the image dimensionality.
    size_divisor : int
        Every window size is rounded up to a multiple of it (the spec's size ``step``).
    min_size : list of int
        The smallest window per spatial axis (the spec's ``min``).
    patch : list of int or None
        The window predictions use by default: the training patch of an exported run (the
        fixed input size of a package that has one).

    Notes
    -----
    An instance-embedding package of ours holds its postprocessing (``tanh``, ``exp``,
    sigmoid: no operation of the spec) in the network, after the U-Net. BioImage.IO tools crop
    tiles, so for them it makes no difference where it runs; :func:`im2im_helpers.predict`
    blends overlapping windows, so here, as for the trained task, the raw outputs are blended
    and the head runs on the whole prediction (:meth:`postprocess`).
    """

    def __init__(self, network: nn.Module, descr, package: Path, weight_format: str):
        super().__init__()
        self.network = network
        self.package = package
        self.weight_format = weight_format
        self.descr = descr
        self.processing = PackageProcessing(descr)
        dims = len(descr.inputs[0].axes) - 2
        im2im = (descr.config.model_extra or {}).get("im2im") or {}
        self.im2im_spec = dict(im2im.get("model") or {"dims": dims})
        sizes = [a.size for a in descr.inputs[0].axes[2:]]
        steps = [getattr(s, "step", 1) for s in sizes]
        self.size_divisor = math.lcm(*steps)
        self.min_size = [getattr(s, "min", s) for s in sizes]
        self.patch = list(im2im["patch"]) if im2im.get("patch") else None
        if self.patch is None and all(isinstance(s, int) for s in sizes):
            self.patch = [int(s) for s in sizes]  # a network of one input size: its windows
        self.split_head = bool(im2im.get("head")) and hasattr(network, "head")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.net(x) if self.split_head else self.network(x)

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """The package's preprocessing of one whole image ``(C, *spatial)``."""
        return self.processing.preprocess(x)

    def postprocess(self, y: torch.Tensor) -> torch.Tensor:
        """The package's postprocessing of a whole prediction ``(B, C, *spatial)`` (first the
        network's head, when :meth:`forward` leaves it out)."""
        if self.split_head:
            y = self.network.head(y)
        return self.processing.postprocess(y)


def _check_layout(descr, path: Path) -> None:
    """Refuse a package this project cannot predict with (one input, one output, axes
    ``batch, channel, (z,) y, x`` in that order)."""
    if len(descr.inputs) != 1 or len(descr.outputs) != 1:
        raise PackageError(f"{path}: has {len(descr.inputs)} inputs and {len(descr.outputs)} "
                           "outputs; predict handles packages with one of each.")
    for tensor in (descr.inputs[0], descr.outputs[0]):
        axes = tuple(str(a.id) for a in tensor.axes)
        if axes not in AXES.values():
            raise PackageError(f"{path}: tensor {tensor.id!r} has axes {axes}; predict handles "
                               f"{AXES[2]} and {AXES[3]}.")
    if len(descr.inputs[0].axes) != len(descr.outputs[0].axes):
        raise PackageError(f"{path}: input and output have different spatial axes.")


def _network(descr, weight_format: str) -> nn.Module:
    """The network of ``weight_format``: the state dict through bioimageio.core's loader (its
    architecture, ``torch.load(weights_only=True)``), TorchScript through ``torch.jit.load``."""
    if weight_format == "pytorch_state_dict":
        from bioimageio.core.backends.pytorch_backend import load_torch_model

        return load_torch_model(descr.weights.pytorch_state_dict, devices=["cpu"]).eval()
    return torch.jit.load(descr.weights.torchscript.get_reader(), map_location="cpu").eval()


def reproduction_error(model: PackagedModel) -> float:
    """Largest absolute difference between the package's test output and what ``model``
    computes from its test input (preprocessing, network, postprocessing)."""
    from bioimageio.spec.utils import load_array

    x = load_array(model.descr.inputs[0].test_tensor)
    expected = load_array(model.descr.outputs[0].test_tensor)
    with torch.no_grad():
        got = torch.cat([model.postprocess(model(torch.from_numpy(model.preprocess(xb))[None]))
                         for xb in x]).numpy()
    if got.shape != expected.shape:
        return float("inf")
    return float(np.abs(got - expected.astype(np.float32)).max())


def load_package(path: str | os.PathLike, weight_format: str | None = None,
                 check: bool = True) -> PackagedModel:
    """Load a BioImage.IO model package as a :class:`PackagedModel` for
    :func:`im2im_helpers.predict.image` / :func:`~im2im_helpers.predict.file`.

    Parameters
    ----------
    path : path-like
        A package ``.zip`` or an unzipped package folder. It must exist (bioimageio would
        otherwise look a missing path up online as a model id).
    weight_format : {"pytorch_state_dict", "torchscript"}, optional
        The weights to run; by default the first of :data:`LOADABLE` the package has. The
        state dict runs the package's architecture file (Python code from the package: load
        packages you trust); TorchScript runs no Python of the package.
    check : bool
        Verify the package first: bioimageio.core's model test (format, test outputs
        reproduced within the package's tolerance, inference at several sizes) with these
        weights, and the test output reproduced by the returned module.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    PackageError
        If the package is invalid, has no loadable weights or axes predict cannot handle,
        or (with ``check``) its test inputs do not reproduce its test outputs; the message
        names the package and the largest difference.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such package (a BioImage.IO .zip or an unzipped "
                                "package folder).")
    if not is_package(path):
        raise PackageError(f"{path}: not a BioImage.IO package (a .zip file, or a folder with "
                           f"{' or '.join(DESCRIPTION_FILES)}).")
    from bioimageio.spec import InvalidDescr, load_model_description

    source = next((path / f for f in DESCRIPTION_FILES if (path / f).is_file()), path)
    try:
        descr = load_model_description(source, perform_io_checks=check)
    except Exception as err:  # noqa: BLE001 - invalid packages fail in many ways
        raise PackageError(f"{path}: not a valid BioImage.IO model package ({err}).") from err
    if isinstance(descr, InvalidDescr) or getattr(descr, "format_version", "0.4")[:3] != "0.5":
        raise PackageError(f"{path}: not a valid BioImage.IO model package of format 0.5.")
    _check_layout(descr, path)
    present = [w for w in LOADABLE if getattr(descr.weights, w, None) is not None]
    if weight_format is not None and weight_format not in present:
        raise PackageError(f"{path}: has no {weight_format!r} weights that predict can run; "
                           f"it has {present or 'none of ' + str(list(LOADABLE))}.")
    if not present:
        raise PackageError(f"{path}: has none of the weight formats predict runs "
                           f"({list(LOADABLE)}).")
    weight_format = weight_format or present[0]
    try:
        model = PackagedModel(_network(descr, weight_format), descr, path, weight_format)
    except Exception as err:  # noqa: BLE001 - foreign code and processing fail in many ways
        raise PackageError(f"{path}: cannot load its {weight_format} weights or set up its "
                           f"processing ({type(err).__name__}: {err}).") from err
    if check:
        verify(model)
    return model.eval()


def _tolerance(model: PackagedModel) -> tuple[float, float]:
    """``(absolute, relative)`` tolerance the package declares for the model's weights (the
    spec's defaults when it declares none)."""
    from bioimageio.spec.model import v0_5

    for entry in model.descr.config.bioimageio.reproducibility_tolerance:
        if not entry.weights_formats or model.weight_format in entry.weights_formats:
            return entry.absolute_tolerance, entry.relative_tolerance
    default = v0_5.ReproducibilityTolerance()
    return default.absolute_tolerance, default.relative_tolerance


def verify(model: PackagedModel) -> None:
    """Raise :class:`PackageError` unless bioimageio.core's model test passes for the model's
    weights and the model itself reproduces the package's test output within the package's
    tolerance (``absolute + relative x max |test output|``)."""
    from bioimageio.core import test_model
    from bioimageio.spec.utils import load_array

    package = model.package
    if package.is_dir():
        package = next(package / f for f in DESCRIPTION_FILES if (package / f).is_file())
    summary = test_model(package, weight_format=model.weight_format)
    error = reproduction_error(model)
    absolute, relative = _tolerance(model)
    scale = float(np.abs(load_array(model.descr.outputs[0].test_tensor)).max())
    if summary.status != "passed" or not error <= absolute + relative * scale:
        failed = [f"{d.name}: {d.errors[0].msg.splitlines()[0] if d.errors else 'failed'}"
                  for d in summary.details if d.status == "failed"]
        raise PackageError(
            f"{model.package}: failed bioimageio.core's model test with its "
            f"{model.weight_format} weights; its test input reproduces its test output only "
            f"within a max abs difference of {error:.3g} (tolerance {absolute:.3g} + "
            f"{relative:.3g} x {scale:.3g}; {' | '.join(failed)[:1500] or 'no failed check'})."
            " The file may be damaged or made for other software; pass check=False to use "
            "it anyway.")
