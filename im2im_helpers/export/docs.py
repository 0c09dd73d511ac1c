"""The human side of a package: its README (what the model does, its training data, how to use
it in napari, Fiji/deepImageJ and Python, its normalisation, how it was validated) and a cover
image made from its test input and output."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: What each role's outputs are, for the README.
ROLE_TEXT = {
    "regression": "predicts an image from an image (a label-free prediction or a restoration): "
                  "one output value per pixel, in the normalised intensity units of the "
                  "training targets",
    "denoising": "removes pixel noise from an image (Noise2Void, trained on the noisy images "
                 "alone): the output is the denoised image in normalised intensity units",
    "segmentation": "segments an image: one probability per pixel and class (sigmoid for one "
                    "class, softmax over classes otherwise)",
    "instance embedding": "predicts, per pixel, an offset to its object's centre, a bandwidth "
                          "and a seediness (EmbedSeg-style spatial embeddings); clustering "
                          "them into objects (im2im_helpers.tasks.instances.cluster) is not "
                          "part of the package",
    "generator": "translates an image into another domain (the generator of a GAN: pix2pix, "
                 "or CycleGAN's A -> B): the output is in the normalised intensity units of "
                 "the target domain",
}


@dataclass
class ReadmeFacts:
    """What the README says about one exported model."""

    name: str
    role: str
    dims: int
    network: str
    task_kind: str
    source_name: str
    patch: list[int]
    percentiles: tuple[float, float] | None
    postprocessing: str
    halo: list[int]
    receptive_field: list[int]
    min_size: list[int]
    step: int
    test_origin: str
    formats: list[str]
    differences: dict[str, float]
    tolerances: dict[str, float]
    checkpoint: str
    history: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def readme(f: ReadmeFacts) -> str:
    """The package's ``README.md`` (Markdown) for the facts ``f``."""
    axes = "ZYX"[3 - f.dims:]
    norm = ("No normalisation: the network takes raw pixel values, as in training."
            if f.percentiles is None else
            f"Each image and channel is scaled so that its percentile {f.percentiles[0]:g} "
            f"becomes 0 and its percentile {f.percentiles[1]:g} becomes 1 (`scale_range` over "
            f"the spatial axes, `eps = 1e-6`); values outside are kept. Training used "
            f"`(x - lo) / max(hi - lo, 1e-6)`; the spec's `(x - lo) / (hi - lo + 1e-6)` "
            f"differs from it by a factor `1 + 1e-6 / (hi - lo)`.")
    post = {"none": "none", "sigmoid": "sigmoid", "softmax": "softmax over channels"}[
        f.postprocessing]
    rows = "\n".join(f"| `{w}` | {f.differences.get(w, 0.0):.3g} | {f.tolerances.get(w, 0):.3g} |"
                     for w in f.formats)
    history = "".join(f"- {k}: {v:.4g}\n" for k, v in f.history.items())
    history = f"\nLast logged values of the run:\n\n{history}" if history else ""
    fields = ", ".join(a.lower() for a in axes)
    patch = " x ".join(map(str, f.patch))
    sizes = ", ".join(f"{a} {m} + {f.step} n" for a, m in zip(axes, f.min_size))
    halos = ", ".join(f"{a} {h}" for a, h in zip(axes, f.halo))
    widths = ", ".join(f"{a} {2 * r + 1}" for a, r in zip(axes, f.receptive_field))
    notes = "".join(f"Note: {n}\n\n" for n in f.notes)
    return f"""# {f.name}

A {f.dims}D {f.network} that {ROLE_TEXT[f.role]}. Trained with the im2im tutorials'
helpers (`im2im_helpers`, task `{f.task_kind}`), built on MONAI and PyTorch, following the
applications of MMV_Im2Im (Sonneck, Zhou, Chen; GigaScience 2024).

## Training data

Pairs from `{f.source_name}`, trained in patches of {patch} pixels
({axes}); the weights are those of `{f.checkpoint}` (the lowest validation loss when the run
had a validation set). The test image of this package is the {f.test_origin}, held out
from training.
{history}
## Input and output

- Input: `batch, channel, {fields}`, float32, raw pixel values.
- Preprocessing: {norm}
- Postprocessing: {post}.
- Valid sizes (pixels, n = 0, 1, 2, ...): {sizes}; sizes are multiples of {f.step}, the
  factor by which the network downsamples.
- Tiles: crop a halo from each side of every output tile ({halos} pixels). The receptive
  field of the convolutions is {widths} pixels wide; the halo is its radius, capped at a
  quarter of the training patch. Instance normalisation (if the network has it) depends on
  the whole tile, so tiles of other sizes give slightly different outputs.

## How to use

- **Python** (`bioimageio.core`): `bioimageio.core.predict(model="this.zip", inputs=image)`;
  or with the tutorials' helpers: `model = im2im_helpers.export.load_package("this.zip")`,
  then `im2im_helpers.predict.file(model, IMAGE, OUT)` (raw files, normalised as above; the
  tutorials' sliding windows) or `predict.image(model, model.preprocess(array))`; on the
  command line `python -m im2im_helpers predict this.zip IMAGE... --out DIR`.
- **napari**: from napari's Python console, run `bioimageio.core.predict` on a layer's
  data (or use a BioImage.IO plugin from the napari hub with this zip file).
- **Fiji / deepImageJ**: install deepImageJ (Fiji update site), install this zip file with
  deepImageJ's model installer and run it with *DeepImageJ Run* on an open image; deepImageJ
  uses the `torchscript` weights, applies the preprocessing and postprocessing above and
  tiles with the halo above.

## Validation

The package's test input is the held-out image above; its test output was computed from the
trained weights. `bioimageio test` reproduces it from the test input with every weight format
(`bioimageio.core`, offline), and runs the model at several input sizes and batch sizes.
Largest absolute difference from the state-dict output measured at export (CPU) and the
absolute tolerance the package declares (`config.bioimageio.reproducibility_tolerance`):

| weights | measured max abs difference | absolute tolerance |
|---|---|---|
{rows}

How good the predictions are is reported by the tutorial that trained the model (its
`metrics.json` on the held-out test pairs); validate on your own images before use: a
model trained on one microscope and sample preparation can fail silently on others.

{notes}## Citation

Sonneck J, Zhou Y, Chen J. MMV_Im2Im: an open-source microscopy machine vision toolbox for
image-to-image transformation. GigaScience (2024), doi:10.1093/gigascience/giad120.
"""


def _panel(a: np.ndarray) -> np.ndarray:
    """The first channel of ``(C, *spatial)``, the middle Z plane when 3D."""
    a = np.asarray(a)[0]
    return a[a.shape[0] // 2] if a.ndim == 3 else a


def cover(path: Path, test_input: np.ndarray, test_output: np.ndarray, title: str) -> Path:
    """Write a 2:1 PNG cover: the test input (first channel) beside the test output (last
    channel: the seediness of embeddings, else the only or the last class), each on its own
    grey scale."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3), dpi=100, layout="constrained")
    axes = fig.subplots(1, 2)
    output = np.asarray(test_output)[-1:]
    for ax, image, label in ((axes[0], _panel(test_input), "input"),
                             (axes[1], _panel(output), "output")):
        ax.imshow(image, cmap="gray")
        ax.set_title(label)
        ax.set_axis_off()
    fig.suptitle(title)
    fig.savefig(path, format="png")
    return path
