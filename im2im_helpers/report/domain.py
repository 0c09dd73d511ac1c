"""The report's "intended use and limits": the training domain as facts of the run (data,
task, network, image sizes, pixel sizes, normalisation) and, from those facts, what the model
must not be used for."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from im2im_helpers.report.document import Bullets, Paragraph, Section, Table
from im2im_helpers.report.sources import Sources

#: Fewer training images than this: the report warns that the training set is small.
FEW_IMAGES = 20
#: A Spearman correlation of uncertainty and error below this ranks errors poorly.
WEAK_RHO = 0.3

#: What each kind of task must not be used for, whatever the data.
TASK_LIMITS = {
    "regression": "measuring intensities (amounts, concentrations) in its predictions as if "
                  "they had been acquired: a prediction is an estimate from the input, not a "
                  "measurement; validate any quantity against real acquisitions first",
    "segmentation": "counting or measuring objects in images unlike its test images without "
                    "checking a sample of the masks by eye",
    "noise2void": "images whose noise is correlated between neighbouring pixels (stripes, "
                  "compression artefacts, processed or resampled images) or much stronger than "
                  "in training: it assumes independent pixel noise",
    "embedding": "objects much larger or smaller, or much more crowded, than its training "
                 "objects: the clustering thresholds were tuned on its validation images",
    "gan": "measurements or diagnosis: a generative network can draw plausible structures "
           "that are not in the sample; treat its images as illustrations",
}


def plain_doc(obj) -> str:
    """The docstring of ``obj`` as one line of plain text (reST marks removed)."""
    text = " ".join((getattr(obj, "__doc__", None) or "").split())
    return re.sub(r"``|\*\*|:\w+:`~?([^`]*)`", r"\1", text)


def describe_source(source: str, short: bool = False) -> str:
    """What the data source of a run is, in words: a sample's or registry dataset's own
    description (its first sentence when ``short``), or the folder."""
    if not source:
        return "pairs built in memory (the configuration names no source)"
    from im2im_helpers.data import SAMPLES, registry

    if source in SAMPLES:
        doc = plain_doc(SAMPLES[source])
        return f"the sample {source!r}: {doc.split('. ')[0].rstrip('.') if short else doc}"
    try:
        if (registry.registry_dir() / f"{source}.yaml").is_file():
            entry = registry.get(source)
            return (f"the registry dataset {source!r}: {entry.title} (task: {entry.task}; "
                    f"licence: {entry.licence})")
    except Exception as err:  # an unreadable registry entry: name it and go on
        return f"the registry dataset {source!r} (its entry could not be read: {err})"
    return f"the pairs in the folder {source}"


def size_text(sizes: Sequence) -> str:
    """Pixel sizes ``(Z, Y, X)`` in micrometres as text; ``"unknown"`` when none is known."""
    known = [f"{axis} {size:g} µm" for axis, size in zip("ZYX", sizes) if size]
    return ", ".join(known) if known else "unknown"


def task_family(src: Sources) -> str:
    """``"regression"``, ``"segmentation"``, ``"noise2void"``, ``"embedding"`` or ``"gan"``."""
    kind = src.section("task", "kind", default="supervised")
    if kind in ("pix2pix", "cyclegan"):
        return "gan"
    if kind in ("noise2void", "embedding"):
        return kind
    from im2im_helpers.tasks.supervised import SEGMENTATION_LOSSES

    loss = src.section("task", "hparams", "loss", default=src.section("task", "loss"))
    return "segmentation" if loss in SEGMENTATION_LOSSES else "regression"


def _training_pairs(src: Sources) -> list:
    if src.pairs is None or src.split_names is None:
        return []
    return [src.pairs[n] for n in src.split_names["train"] if n in src.pairs]


def facts(src: Sources) -> list[tuple[str, str]]:
    """The training domain as ``(what, value)`` rows."""
    metrics = src.metrics.record or {}
    kind = src.section("task", "kind", default="?")
    model = src.section("model", default={}) or {}
    norm = src.section("data", "load", "normalize_percentiles",
                       default=src.section("data", "normalize_percentiles"))
    norm_target = src.section("data", "load", "normalize_target",
                              default=src.section("data", "normalize_target", default=True))
    rows = [("data", describe_source(str(src.section("data", "source", default="") or "")))]
    if metrics.get("dataset"):
        simulated = metrics.get("simulated")
        rows.append(("dataset (metrics.json)", f"{metrics['dataset']}"
                     + (" — simulated images" if simulated else
                        " — real images" if simulated is False else "")))
    from im2im_helpers.tasks import TASKS

    rows.append(("task", f"{kind} ({task_family(src)})"
                 + (f": {plain_doc(TASKS[kind]).split('. ')[0]}" if kind in TASKS else "")))
    rows.append(("network", f"{model.get('name', '?')}, {model.get('dims', '?')}D, "
                 f"{model.get('in_channels', 1)} input channel(s) -> "
                 f"{model.get('out_channels', 1)} output channel(s)"
                 + (f", output activation {model['activation']}" if model.get("activation")
                    else "")))
    if norm:
        rows.append(("intensity normalisation", f"per image and channel, percentile {norm[0]} "
                     f"-> 0 and {norm[1]} -> 1 for inputs"
                     + (" and targets" if norm_target else " (targets kept as they are)")))
    else:
        rows.append(("intensity normalisation", "none: raw intensities"))
    transforms = src.section("data", "transforms", default=[]) or []
    if transforms:
        rows.append(("transforms of the pairs", ", ".join(
            str(t.get("kind", t)) if isinstance(t, dict) else str(t) for t in transforms)))
    patch = src.section("data", "patches", "patch", default=src.section("data", "patch"))
    if patch:
        rows.append(("training patch", " × ".join(map(str, patch)) + " pixels"))
    if src.split_names is not None:
        rows.append(("images", ", ".join(f"{len(src.split_names[p])} {p}"
                                         for p in ("train", "val", "test"))))
    pairs = _training_pairs(src)
    if pairs:
        shapes = sorted({" × ".join(map(str, p.input.shape[1:])) for p in pairs})
        rows.append(("training image sizes", "; ".join(shapes[:6]) + " pixels"
                     + (f" (and {len(shapes) - 6} more)" if len(shapes) > 6 else "")))
        sizes = sorted({size_text(p.pixel_sizes) for p in pairs})
        rows.append(("training pixel sizes", "; ".join(sizes)))
    else:
        rows.append(("training image and pixel sizes", f"not known here: {src.pairs_note}"))
    if metrics.get("level"):
        rows.append(("run level", str(metrics["level"])))
    return rows


def limits(src: Sources) -> list[str]:
    """What the model must not be used for, from the facts of the run."""
    metrics = src.metrics.record or {}
    model = src.section("model", default={}) or {}
    source = str(src.section("data", "source", default="") or "")
    dataset = metrics.get("dataset") or source or "its training data"
    out = [f"images of another kind than its training inputs ({describe_source(source, True)}): "
           f"another modality, stain or label, organism, cell type or preparation than in "
           f"{dataset} — nothing in this report tells how it behaves on them"]
    pairs = _training_pairs(src)
    sizes = sorted({size_text(p.pixel_sizes) for p in pairs})
    if pairs and sizes != ["unknown"]:
        out.append(f"images at another pixel size (magnification, binning) than its training "
                   f"images ({'; '.join(sizes)}) unless they are resampled to it first: it "
                   "learned structures at that scale only")
    else:
        out.append("images from other microscope settings (objective, binning, camera) than "
                   "its training images: their pixel size is not known here, so the scale "
                   "it learned cannot be checked")
    dims = model.get("dims")
    if dims == 2:
        out.append("3D stacks as volumes: this 2D network sees each plane alone, without "
                   "context along Z")
    elif dims == 3:
        out.append("single 2D images, or stacks whose Z step differs from its training stacks")
    channels = model.get("in_channels", 1)
    out.append(f"inputs with other channels than its {channels} training input channel(s), or "
               "in another order")
    norm = src.section("data", "load", "normalize_percentiles",
                       default=src.section("data", "normalize_percentiles"))
    if norm:
        out.append(f"inputs not normalised as in training (percentiles {norm[0]} and {norm[1]} "
                   "per image; predict.image and predict.file do it when given "
                   "normalize_percentiles)")
    out.append(TASK_LIMITS[task_family(src)])
    if metrics.get("simulated"):
        out.append("real microscope images without testing it on them: it was trained and "
                   "tested on simulated images only")
    if src.split_names is not None and len(src.split_names["train"]) < FEW_IMAGES:
        out.append(f"samples unlike its {len(src.split_names['train'])} training image(s) "
                   "without checking: so few images cover little of the variation between "
                   "samples, days and microscopes")
    from im2im_helpers.metrics.headline import compare

    try:
        lost = [c for c in compare(metrics) if not c.won]
    except (KeyError, TypeError, ValueError):
        lost = []
    for c in lost:
        out.append(f"anything where {c.reference} does as well: on the held-out images "
                   f"{c.method} did not beat {c.reference} on {c.metric} "
                   f"({c.value:.4g} vs {c.reference_value:.4g})")
    if metrics.get("level") == "smoke":
        out.append("anything at all: this is a smoke-level run (a few steps that test the "
                   "code), its numbers say nothing about the method")
    unc = src.uncertainty.record or {}
    rho = unc.get("spearman_rho")
    if isinstance(rho, (int, float)) and rho < WEAK_RHO:
        out.append(f"flagging bad predictions by its uncertainty ({unc.get('method', '?')}): "
                   f"it ranks the errors poorly (Spearman ρ = {rho:.2f})")
    return out


def section(src: Sources) -> Section:
    """The "intended use and limits" section."""
    metrics = src.metrics.record or {}
    tutorial = metrics.get("tutorial") or Path(src.run).parent.name
    blocks = [
        Paragraph(f"Intended use: the task of this run ({src.section('task', 'kind', default='?')}"
                  f", tutorial {tutorial}) on images like its training images, described "
                  "here. Outside this domain the results below do not apply."),
        Table(["training domain", ""], [list(r) for r in facts(src)],
              caption="Facts of the run: its configuration, split, images and metrics."),
        Paragraph("Must not be used for:"),
        Bullets(limits(src)),
    ]
    return Section("intended-use", "Intended use and limits", blocks)
