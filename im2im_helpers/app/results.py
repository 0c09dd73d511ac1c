"""After training: predictions on the held-out images next to the task's classical baseline
(``metrics.table``), written as OME-TIFF, and the model exported as a BioImage.IO package."""

from __future__ import annotations

import io as stdio
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from im2im_helpers import baselines, io, metrics, predict
from im2im_helpers.app.recipe import AppError, Prepared

#: The baseline each task is compared with, by task name.
BASELINES = {"labelfree": "ridge", "denoising": "gaussian", "semantic": "otsu"}


@dataclass
class Results:
    """Predictions on the held-out (test) pairs and their scores.

    Attributes
    ----------
    names : list of str
        The test pairs.
    inputs, targets, predictions, baseline : list of numpy.ndarray
        Per test pair: the input, the target, the network's prediction (probabilities thresholded
        at 0.5 for segmentation) and the baseline's.
    table : dict
        ``{method: {metric: mean}}`` of :func:`im2im_helpers.metrics.table` (methods
        ``"network"`` and the baseline's name).
    metric : str
        The task's headline metric (higher is better).
    baseline_name : str
        The baseline's row in ``table``.
    pixel_sizes : tuple
        The first test pair's pixel sizes (Z, Y, X), written with the predictions.
    """

    names: list[str]
    inputs: list[np.ndarray]
    targets: list[np.ndarray]
    predictions: list[np.ndarray]
    baseline: list[np.ndarray]
    table: dict[str, dict[str, float]]
    metric: str
    baseline_name: str
    pixel_sizes: tuple

    def summary(self) -> str:
        """One line: the headline metric of the network against the baseline."""
        net, base = self.table["network"][self.metric], self.table[self.baseline_name][self.metric]
        verdict = "beats" if net > base else "does not beat"
        return (f"{self.metric} on {len(self.names)} held-out image(s): network {net:.3f}, "
                f"{self.baseline_name} {base:.3f} (the network {verdict} the baseline)")


def fit_baseline(prepared: Prepared):
    """The task's classical baseline, its parameters chosen on the training pairs only: a
    callable image -> prediction."""
    train = prepared.split.train
    x, y = [p.input for p in train], [p.target for p in train]
    name = prepared.task.name
    if name == "semantic":
        return baselines.fit_otsu(x, y)
    if name == "denoising":
        return baselines.fit_denoisers(x, y, methods=("gaussian",))["gaussian"]
    ridge = baselines.FilterRidge(samples=20_000, seed=prepared.settings.seed).fit(x, y)
    return ridge.predict


def evaluate(model: torch.nn.Module, prepared: Prepared) -> Results:
    """Predict every test pair with ``model`` (windows of the training patch) and with the
    baseline; score both with the task's metrics."""
    test = prepared.split.test
    if not len(test):
        raise AppError(f"{prepared.settings.source}: the split holds no test image to predict.")
    patch = (prepared.settings.patch,) * 2
    segmentation = prepared.task.segmentation
    predictions = []
    for pair in test:
        out = predict.image(model, pair.input, roi=patch)
        predictions.append((out > 0.5).astype(np.float32) if segmentation else out)
    base = fit_baseline(prepared)
    baseline = [np.asarray(base(p.input), dtype=np.float32) for p in test]
    targets = [p.target for p in test]
    name = BASELINES[prepared.task.name]
    table = metrics.table({"network": predictions, name: baseline}, targets,
                          prepared.task.metrics)
    return Results(list(test.names), [p.input for p in test], targets, predictions, baseline,
                   table, prepared.task.metric, name, tuple(test[0].pixel_sizes))


def write_metrics(results: Results, out: Path) -> Path:
    """``out/metrics.json``: the table, the headline metric and the test pairs (atomically)."""
    record = {"methods": results.table, "metric": results.metric,
              "baseline": results.baseline_name, "test": results.names}
    return io.write_text(out / "metrics.json", json.dumps(record, indent=2))


def write_predictions(results: Results, out: Path, overwrite: bool = True) -> list[Path]:
    """Each prediction as ``out/predictions/<pair>_pred.ome.tiff`` (CYX, the pair's pixel
    sizes); returns the files."""
    folder = out / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pred in zip(results.names, results.predictions):
        path = folder / f"{name.replace('/', '_')}_pred.ome.tiff"
        io.write_ome_tiff(path, pred.astype(np.float32), "CYX", results.pixel_sizes,
                          overwrite=overwrite)
        written.append(path)
    return written


def export_model(out: Path, overwrite: bool = True) -> Path:
    """The run in ``out/run`` as the BioImage.IO package ``out/model.zip`` (PyTorch weights,
    tested by bioimageio.core before it is kept)."""
    from im2im_helpers.export import export_run

    return export_run(out / "run", out / "model.zip", formats=["pytorch_state_dict"],
                      overwrite=overwrite)


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    return image.mean(axis=0) if image.ndim == 3 else image


def comparison_png(results: Results, index: int = 0) -> bytes:
    """A PNG of one test pair: input, baseline, prediction and target side by side."""
    from matplotlib.figure import Figure

    panels = {"input": results.inputs[index], results.baseline_name: results.baseline[index],
              "prediction": results.predictions[index], "target": results.targets[index]}
    height, width = _grey(results.inputs[index]).shape
    panel = 3.0 * min(1.0, height / width)  # wide images: lower panels, not blank space
    fig = Figure(figsize=(3 * len(panels), panel + 0.8))
    for k, (title, image) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), k + 1)
        grey = _grey(image)
        low, high = np.percentile(grey, (1.0, 99.8))
        ax.imshow(grey, cmap="gray", vmin=low, vmax=high if high > low else low + 1)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.suptitle(f"held-out image {results.names[index]}", fontsize=11)
    fig.tight_layout()
    buffer = stdio.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()
