"""``export_run``: a trained run as a BioImage.IO model package (format 0.5), tested before it
is written.

What a package holds and why:

* weights as a plain ``pytorch_state_dict`` (with the self-contained architecture file
  :mod:`im2im_helpers.export.architecture` and a conda environment), ``torchscript`` (Fiji /
  deepImageJ) and ``onnx`` (when the network exports);
* axes ``batch, channel, y, x`` (3D: ``batch, channel, z, y, x``); every spatial input size is
  ``min + n * step`` with ``step`` the network's size divisor
  (:func:`im2im_helpers.models.size_divisor`) and ``min`` the smallest multiple of it that
  leaves a pixel after cropping the output halo; the halo is the receptive field of the
  network's convolutions, at most a quarter of the training patch
  (:func:`~im2im_helpers.export.network.halo`);
* preprocessing that reproduces the run's percentile normalisation (``scale_range``, see
  :mod:`~im2im_helpers.export.processing` for the one difference of formula) and
  postprocessing that reproduces the task's ``postprocess`` (sigmoid, softmax; an embedding
  network's is part of its weights);
* a test input (a held-out image) and the test output computed from it by the trained
  weights through bioimageio.core's own processing; README, covers, citation, licence.

The reproducibility tolerance a package declares for each weight format (spec 0.5:
``config.bioimageio.reproducibility_tolerance``) is set from what was measured at export:
absolute tolerance ``max(10 x measured max abs difference, 1e-4 x max |test output|)``
(capped at the spec's limit of 1 % of the test output's maximum), relative tolerance
:data:`RELATIVE_TOLERANCE` and :data:`MISMATCHED_PER_MILLION` elements per million allowed
beyond both. Measured on the CPU for small U-Nets: 0 for the state dict and TorchScript (the
same kernels), about 1e-6 for ONNX Runtime (other kernels); the margin is for other machines
(GPUs sum in other orders).
"""

from __future__ import annotations

import io as stdio
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from im2im_helpers import io, train
from im2im_helpers.data.pairs import percentile_normalize
from im2im_helpers.export import architecture, docs, network, source, weights
from im2im_helpers.export.errors import ExportError
from im2im_helpers.export.formats import FILE_NAMES, WEIGHT_FORMATS
from im2im_helpers.export.processing import AXES, PackageProcessing, postprocessing, preprocessing

#: Licence of exported weights by default: the one most models of the BioImage.IO zoo carry
#: (attribution required, any use allowed); the code of this project is BSD-3-Clause.
DEFAULT_LICENSE = "CC-BY-4.0"
#: Authors of a package unless told otherwise (edit before uploading to the zoo).
DEFAULT_AUTHORS = ("im2im tutorials",)
#: The paper whose applications the tutorials follow.
PAPER = ("Sonneck J, Zhou Y, Chen J. MMV_Im2Im: an open-source microscopy machine vision "
         "toolbox for image-to-image transformation. GigaScience 13 (2024).",
         "10.1093/gigascience/giad120")
#: The methods each exported network rests on.
METHODS = {
    "unet": ("Ronneberger O, Fischer P, Brox T. U-Net: convolutional networks for biomedical "
             "image segmentation. MICCAI 2015.", "10.1007/978-3-319-24574-4_28"),
    "noise2void": ("Krull A, Buchholz TO, Jug F. Noise2Void - learning denoising from single "
                   "noisy images. CVPR 2019.", "10.1109/CVPR.2019.00223"),
    "pix2pix": ("Isola P, Zhu JY, Zhou T, Efros AA. Image-to-image translation with "
                "conditional adversarial networks. CVPR 2017.", "10.1109/CVPR.2017.632"),
    "cyclegan": ("Zhu JY, Park T, Isola P, Efros AA. Unpaired image-to-image translation "
                 "using cycle-consistent adversarial networks. ICCV 2017.",
                 "10.1109/ICCV.2017.244"),
}
#: Relative tolerance of reproduced test outputs (the spec's default).
RELATIVE_TOLERANCE = 1e-3
#: Elements per million allowed beyond the tolerances (the spec's default).
MISMATCHED_PER_MILLION = 100
#: Largest test image per spatial axis (2D, 3D): a centre crop keeps packages small.
TEST_CROP = {2: 256, 3: 64}


def _name(text: str) -> str:
    """``text`` with only the characters a package name may hold, 5 to 64 long."""
    cleaned = re.sub(r"[^A-Za-z0-9_+\- ()]", "-", text).strip()[:64]
    return cleaned if len(cleaned) >= 5 else f"{cleaned} model"


def _check_formats(run: Path, formats: Sequence[str] | None) -> tuple[list[str], bool]:
    """The weight formats to write and whether each one must succeed (asked for by name)."""
    if formats is None:
        return list(WEIGHT_FORMATS), False
    if isinstance(formats, str):
        formats = [formats]
    unknown = [f for f in formats if f not in WEIGHT_FORMATS]
    if unknown or not formats:
        raise ExportError(f"{run}: unknown weight format(s) {unknown or list(formats)}; "
                          f"choose from {list(WEIGHT_FORMATS)}.")
    return [f for f in WEIGHT_FORMATS if f in formats], True


def _crop(x: np.ndarray, mins: Sequence[int], step: int, cap: int, origin: str) -> np.ndarray:
    """The centre of ``x`` at the largest valid size ``min + n * step`` per axis, at most
    ``max(cap, min)``."""
    sizes = []
    for size, low in zip(x.shape[1:], mins):
        if size < low:
            raise ExportError(f"{origin}: spatial shape {x.shape[1:]} is smaller than the "
                              f"smallest input the package accepts ({list(mins)}); pass a "
                              "larger held-out image with test_image= (--test-image FILE).")
        sizes.append(low + (min(size, max(cap, low)) - low) // step * step)
    starts = [(s - t) // 2 for s, t in zip(x.shape[1:], sizes)]
    return np.ascontiguousarray(
        x[(slice(None), *(slice(a, a + t) for a, t in zip(starts, sizes)))])


#: The conda environment of the state-dict weights: what the architecture file needs, at the
#: versions the project supports (pyproject.toml).
ENVIRONMENT = """name: im2im-export
channels:
  - conda-forge
  - nodefaults
dependencies:
  - python>=3.10
  - pytorch>=2.1
  - pip
  - pip:
    - monai>=1.4
"""


def _save_tensor(stage: Path, name: str, array: np.ndarray) -> None:
    """``array`` (with its batch axis) as the test tensor ``NAME.npy`` and, without its
    singleton axes, as the sample image ``sample_NAME.tif`` (what a person looks at)."""
    import tifffile

    array = np.ascontiguousarray(array, dtype=np.float32)
    np.save(stage / f"test_{name}.npy", array)
    tifffile.imwrite(stage / f"sample_{name}.tif", np.squeeze(array), photometric="minisblack")


def _tolerance(measured: float, output: np.ndarray) -> float:
    """Absolute tolerance for a weight format whose largest difference measured was
    ``measured`` (see the module's docstring)."""
    scale = float(np.abs(output).max())
    tol = max(10 * measured, 1e-4 * scale)
    top = float(output.max())
    return min(tol, 0.01 * top) if top > 0 else tol


def _history(path: Path) -> dict[str, float]:
    logged = train.read_history(path)
    return {k: logged[k][-1][2] for k in ("train_loss_epoch", "val_loss") if logged.get(k)}


def _describe(stage: Path, *, name, description, authors, license, cite, tags, x_axes, y_axes,
              preprocessing, post, output_names, kwargs, formats, tolerances, covers, config):
    """The :class:`~bioimageio.spec.model.v0_5.ModelDescr` of the files in ``stage``."""
    from bioimageio.spec.model import v0_5

    torch_version = v0_5.Version(torch.__version__.split("+")[0])
    inputs = [v0_5.InputTensorDescr(
        id=v0_5.TensorId("input"), description="raw image", axes=x_axes,
        test_tensor=v0_5.FileDescr(source=stage / "test_input.npy"),
        sample_tensor=v0_5.FileDescr(source=stage / "sample_input.tif"),
        data=v0_5.IntervalOrRatioDataDescr(type="float32"), preprocessing=preprocessing)]
    outputs = [v0_5.OutputTensorDescr(
        id=v0_5.TensorId("output"), description=", ".join(output_names)[:128], axes=y_axes,
        test_tensor=v0_5.FileDescr(source=stage / "test_output.npy"),
        sample_tensor=v0_5.FileDescr(source=stage / "sample_output.tif"),
        data=v0_5.IntervalOrRatioDataDescr(type="float32"), postprocessing=post)]
    first = formats[0]
    entries = {}
    for fmt in formats:
        parent = None if fmt == first else first
        src = stage / FILE_NAMES[fmt]
        if fmt == "pytorch_state_dict":
            entries[fmt] = v0_5.PytorchStateDictWeightsDescr(
                source=src, pytorch_version=torch_version, parent=parent,
                architecture=v0_5.ArchitectureFromFileDescr(
                    source=stage / "architecture.py", callable="build_network", kwargs=kwargs),
                dependencies=v0_5.FileDescr(source=stage / "environment.yaml"))
        elif fmt == "torchscript":
            entries[fmt] = v0_5.TorchscriptWeightsDescr(
                source=src, pytorch_version=torch_version, parent=parent)
        else:
            entries[fmt] = v0_5.OnnxWeightsDescr(source=src, opset_version=weights.ONNX_OPSET,
                                                 parent=parent)
    reproducibility = [v0_5.ReproducibilityTolerance(
        absolute_tolerance=tolerances[fmt], relative_tolerance=RELATIVE_TOLERANCE,
        mismatched_elements_per_million=MISMATCHED_PER_MILLION, weights_formats=[fmt])
        for fmt in formats]
    return v0_5.ModelDescr(
        name=name, description=description,
        authors=[v0_5.Author(name=a) for a in authors],
        cite=[v0_5.CiteEntry(text=text, doi=doi) for text, doi in cite],
        license=license, tags=tags,
        documentation=v0_5.FileDescr(source=stage / "README.md"),
        covers=[v0_5.FileDescr(source=c) for c in covers],
        inputs=inputs, outputs=outputs, weights=v0_5.WeightsDescr(**entries),
        config=v0_5.Config(bioimageio=v0_5.BioimageioConfig(
            reproducibility_tolerance=reproducibility, **config.pop("bioimageio")), **config))


def _axes(dims: int, in_names, out_names, mins, step, halos):
    from bioimageio.spec.model import v0_5

    spatial = AXES[dims][2:]
    x_axes = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=in_names)] + [
        v0_5.SpaceInputAxis(id=v0_5.AxisId(a), size=v0_5.ParameterizedSize(min=m, step=step))
        for a, m in zip(spatial, mins)]
    y_axes = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=out_names)]
    for a, h in zip(spatial, halos):
        size = v0_5.SizeReference(tensor_id=v0_5.TensorId("input"), axis_id=v0_5.AxisId(a))
        y_axes.append(v0_5.SpaceOutputAxisWithHalo(id=v0_5.AxisId(a), size=size, halo=h) if h
                      else v0_5.SpaceOutputAxis(id=v0_5.AxisId(a), size=size))
    return x_axes, y_axes


def _leaks(package: Path, forbidden: Sequence[str]) -> list[str]:
    """Members of the zip ``package`` (and of the zip archives inside it: TorchScript, state
    dict) whose bytes contain one of the absolute paths ``forbidden``; tensor data and test
    arrays are not searched."""
    needles = [p.encode() for p in forbidden if len(p) > 1]
    found = []

    def scan(archive: zipfile.ZipFile, prefix: str) -> None:
        for member in archive.namelist():
            content = archive.read(member)
            if content[:4] == b"PK\x03\x04":
                with zipfile.ZipFile(stdio.BytesIO(content)) as inner:
                    scan(inner, f"{prefix}{member}/")
            elif not (member.endswith(".npy") or re.search(r"/data/\d+$", member)):
                found.extend(f"{prefix}{member}" for n in needles if n in content)

    with zipfile.ZipFile(package) as z:
        scan(z, "")
    return found


def _check_package(tmp: Path, out: Path) -> None:
    """Run bioimageio.core's model test on the written package (every weight format, test
    outputs reproduced, several input and batch sizes); :class:`ExportError` if it fails."""
    from bioimageio.core import test_model

    summary = test_model(tmp)
    if summary.status != "passed":
        failed = [f"{d.name}: {'; '.join(e.msg.splitlines()[0] for e in d.errors)}"
                  for d in summary.details if d.status == "failed"]
        raise ExportError(f"{out}: the package failed bioimageio.core's model test, so it was "
                          f"not written: {' | '.join(failed)[:2000]}")


def export_run(
    run: str | os.PathLike,
    out: str | os.PathLike,
    *,
    formats: Sequence[str] | None = None,
    test_image: str | os.PathLike | None = None,
    name: str | None = None,
    description: str | None = None,
    authors: Sequence[str] = DEFAULT_AUTHORS,
    license: str = DEFAULT_LICENSE,  # noqa: A002 - the spec's field name
    overwrite: bool = False,
    check: bool = True,
) -> Path:
    """Export a trained run as a BioImage.IO model package (a ``.zip`` of format 0.5).

    Parameters
    ----------
    run : path-like
        A run folder of :func:`im2im_helpers.train.fit`: supervised (regression or
        segmentation), Noise2Void, instance embedding, or a GAN (pix2pix; CycleGAN's
        ``A -> B`` generator).
    out : path-like
        The package to write (``.zip``); written atomically (a temporary file in the same
        folder, renamed when complete and tested).
    formats : sequence of str, optional
        Weight formats among :data:`~im2im_helpers.export.weights.WEIGHT_FORMATS`; by default
        all that work (``onnx`` is left out, with a note in the README, if the network does
        not export). Every format asked for by name must succeed.
    test_image : path-like, optional
        A held-out image file whose centre becomes the test input. By default the first test
        pair of the run's split (the split file ``config.yaml`` names, or ``split.json``
        beside the run folder).
    name, description : str, optional
        The package's name and one-line description (defaults describe the run).
    authors : sequence of str
        Names of the package's authors.
    license : str
        SPDX licence of the weights (default :data:`DEFAULT_LICENSE`).
    overwrite : bool
        Replace an existing ``out``.
    check : bool
        Run bioimageio.core's model test (every weight format, several input and batch
        sizes) before the package is moved into place; a package that fails is not written.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ExportError
        If ``run`` is not a run folder or has no checkpoint, a format is unknown (or, asked
        for, fails), no held-out image is found, or the package fails its test.
    FileExistsError
        If ``out`` exists and ``overwrite`` is false.
    """
    run, out = Path(run), Path(out)
    wanted, strict = _check_formats(run, formats)
    if out.suffix.lower() != ".zip":
        raise ExportError(f"{out}: a BioImage.IO package is a .zip file; name it *.zip.")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists and was left untouched; pass "
                              "overwrite=True (--overwrite) to replace it.")
    src = source.open_run(run)
    ex = network.exportable(src.task)
    dims, spec = src.dims, ex.spec
    if test_image is not None:
        raw = source.read_test_image(test_image, dims, src.in_channels)
        origin = f"image {Path(test_image).name}"
    else:
        raw, origin = source.held_out_input(src)
    step = network.size_step(spec)
    field = network.receptive_field(ex.network.net, dims, step)
    halos = network.halo(field, src.patch)
    mins = network.min_sizes(halos, step)
    test_in = _crop(raw, mins, step, TEST_CROP[dims], str(test_image or run))
    percentiles = source.input_percentiles(src.config)
    in_names = [f"channel{i}" for i in range(src.in_channels)]
    x_axes, y_axes = _axes(dims, in_names, ex.output_names, mins, step, halos)
    meta = _metadata(src, ex, name, description)
    im2im = {"task": src.config.task.kind, "role": ex.role, "model": ex.spec,
             "patch": src.patch, "receptive_field_radius": field, "halo": halos,
             "normalize_percentiles": list(percentiles) if percentiles else None,
             "checkpoint": src.checkpoint.name, "data_source": meta["source_name"],
             "head": "embedding" if ex.role == "instance embedding" else None}

    with tempfile.TemporaryDirectory(prefix="im2im-export-") as tmpdir:
        stage = Path(tmpdir)
        _save_tensor(stage, "input", test_in[None])
        shutil.copyfile(architecture.__file__, stage / "architecture.py")
        (stage / "environment.yaml").write_text(ENVIRONMENT)
        # a first test output from our own normalisation, replaced below by the package's own
        approx_in = percentile_normalize(test_in, *percentiles) if percentiles else test_in
        with torch.no_grad():
            task_out = src.task.postprocess(src.task(torch.from_numpy(approx_in[None]))).numpy()
        _save_tensor(stage, "output", task_out)
        written, notes = _write_weights(ex, stage, wanted, strict, run, test_in[None])
        facts = docs.ReadmeFacts(
            name=meta["name"], role=ex.role, dims=dims, network=spec["name"],
            task_kind=src.config.task.kind, source_name=meta["source_name"], patch=src.patch,
            percentiles=percentiles, postprocessing=ex.postprocessing, halo=halos,
            receptive_field=field, min_size=mins, step=step, test_origin=origin,
            formats=written, differences={}, tolerances={}, checkpoint=src.checkpoint.name,
            history=_history(src.path), notes=notes)
        (stage / "README.md").write_text(docs.readme(facts))
        covers = [shutil.copyfile(p, stage / f"cover{i}.png")
                  for i, p in enumerate(source.figures(src))]
        covers = covers or [docs.cover(stage / "cover.png", test_in, task_out[0],
                                       meta["name"])]

        def describe(tolerances):
            return _describe(
                stage, **{k: v for k, v in meta.items() if k != "source_name"},
                authors=list(authors), license=license, x_axes=x_axes,
                y_axes=y_axes, preprocessing=preprocessing(percentiles, dims),
                post=postprocessing(ex.postprocessing), kwargs=ex.kwargs, formats=written,
                tolerances=tolerances, covers=covers,
                config={"bioimageio": {"architecture_type": "U-Net", "task": ex.role,
                                       "model_parameter_count": sum(
                                           p.numel() for p in ex.network.parameters())},
                        "im2im": dict(im2im)})

        first = describe({f: 1e-4 * float(np.abs(task_out).max()) for f in written})
        # the test output as bioimageio.core computes it: its preprocessing, the network,
        # its postprocessing
        processing = PackageProcessing(first)
        x_pre = processing.preprocess(test_in)[None]
        with torch.no_grad():
            test_out = processing.postprocess(ex.network(torch.from_numpy(x_pre))).numpy()
        gap = float(np.abs(test_out - task_out).max())
        scale = float(np.abs(test_out).max())
        if not gap <= 1e-4 * max(scale, 1e-6):
            raise ExportError(f"{run}: the package's processing does not reproduce the task's "
                              f"prediction (max abs difference {gap:.3g} of outputs up to "
                              f"{scale:.3g}); this network or task cannot be exported.")
        _save_tensor(stage, "output", test_out)
        differences = measure(first, written, stage, x_pre, test_out, processing)
        tolerances = {f: _tolerance(differences[f], test_out) for f in written}
        facts.differences, facts.tolerances = differences, tolerances
        (stage / "README.md").write_text(docs.readme(facts))
        im2im["measured_max_abs_difference"] = differences
        im2im["processing_gap_to_training_normalisation"] = gap
        return _save(describe(tolerances), out, [str(src.path.resolve()), str(stage),
                                                 str(Path.home()), sys.prefix,
                                                 str(Path.cwd())], check)


def _metadata(src: source.RunSource, ex: network.Exportable, name: str | None,
              description: str | None) -> dict:
    """Name, description, citations, tags and the data source's name of a package."""
    source_name = Path(str(src.config.data.source)).name
    dims, net, kind = src.dims, ex.spec["name"], src.config.task.kind
    role = ex.role.replace(" ", "-")
    method = kind if kind in METHODS else None
    return {
        "name": _name(name or f"im2im {role} {dims}D {net} ({source_name})"),
        "description": (description or (
            f"{ex.role.capitalize()} {dims}D {net} trained with the im2im tutorials' helpers "
            f"(task {kind}) on {source_name}."))[:512],
        "cite": [PAPER, METHODS["unet"]] + ([METHODS[method]] if method else []),
        "tags": ["im2im", "pytorch", "monai", f"{dims}d", role, "image-to-image"],
        "source_name": source_name, "output_names": ex.output_names,
    }


def _write_weights(ex: network.Exportable, stage: Path, wanted: Sequence[str], strict: bool,
                   run: Path, example: np.ndarray) -> tuple[list[str], list[str]]:
    """Write the weight files of ``wanted`` into ``stage``: the formats written, and a note for
    each left out (only when not asked for by name: then it is an :class:`ExportError`)."""
    written, notes = [], []
    for fmt in wanted:
        path = stage / FILE_NAMES[fmt]
        try:
            if fmt == "pytorch_state_dict":
                if ex.kwargs is None:
                    raise ValueError(f"the architecture file rebuilds "
                                     f"{sorted(architecture.NETWORKS)}, not "
                                     f"{ex.spec['name']!r}")
                weights.write_state_dict(ex.network, path)
            elif fmt == "torchscript":
                weights.write_torchscript(ex.network, path, torch.from_numpy(example))
            else:
                weights.write_onnx(ex.network, path, torch.from_numpy(example))
            written.append(fmt)
        except Exception as err:  # noqa: BLE001 - an exporter may fail in many ways
            if strict:
                raise ExportError(f"{run}: cannot write {fmt} weights ({type(err).__name__}: "
                                  f"{err}); leave {fmt} out of formats.") from err
            notes.append(f"{fmt} left out: {type(err).__name__}: {err}")
    if not written:
        raise ExportError(f"{run}: no weight format could be written ({'; '.join(notes)}).")
    return written, notes


def measure(descr, formats: Sequence[str], stage: Path, x_pre: np.ndarray,
            expected: np.ndarray, processing: PackageProcessing) -> dict[str, float]:
    """Largest absolute difference between ``expected`` (the test output) and what each
    weight format computes from the preprocessed test input ``x_pre``: the state dict
    rebuilt by bioimageio.core's own loader (the package's architecture file), TorchScript by
    torch, ONNX by onnxruntime."""
    from bioimageio.core.backends.pytorch_backend import load_torch_model

    out = {}
    for fmt in formats:
        if fmt == "pytorch_state_dict":
            net = load_torch_model(descr.weights.pytorch_state_dict, devices=["cpu"]).eval()
            with torch.no_grad():
                raw = net(torch.from_numpy(x_pre)).numpy()
        else:
            raw = weights.runner(fmt, stage / FILE_NAMES[fmt])(x_pre)
        got = processing.postprocess(torch.from_numpy(raw)).numpy()
        out[fmt] = float(np.abs(got - expected).max())
    return out


def _save(descr, out: Path, forbidden: Sequence[str], check: bool) -> Path:
    """Write ``descr`` as a package at ``out`` atomically, after the leak check and (with
    ``check``) bioimageio.core's test."""
    from bioimageio.spec import save_bioimageio_package

    out.parent.mkdir(parents=True, exist_ok=True)
    io.remove_stale_temporaries(out)  # left by an export that was killed
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".zip", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        save_bioimageio_package(descr, output_path=tmp)
        leaks = _leaks(tmp, forbidden)
        if leaks:
            raise ExportError(f"{out}: the package would contain absolute paths of this "
                              f"machine in {leaks[:5]}; it was not written.")
        if check:
            _check_package(tmp, out)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out

