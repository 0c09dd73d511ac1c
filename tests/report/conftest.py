"""A tutorial's output folder made once for the report tests: a tiny trained run, its split
file, metrics.json, a figure and an uncertainty summary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from im2im_helpers import data, metrics, models, tasks, train  # noqa: E402
from im2im_helpers.data.splits import Split  # noqa: E402
from tests.helpers import smooth_pair, write  # noqa: E402


@dataclass
class Tutorial:
    """A tutorial's output folder: ``out`` holds ``run/``, split.json, metrics.json,
    figures/ and uncertainty.json."""

    out: Path
    run: Path
    split: Split
    metrics: dict
    uncertainty: dict


UNCERTAINTY = {  # as im2im_helpers.uncertainty.summarize writes it
    "method": "tta", "metric": "absolute error", "spearman_rho": 0.8, "spearman_p": 0.2,
    "patch": [16, 16], "n_patches": 12,
    "sparsification": {"fractions": [0.0, 0.5, 0.9], "model": [0.3, 0.2, None],
                       "oracle": [0.3, 0.1, 0.05], "random": [0.3, 0.3, 0.3]},
    "ause": 0.07, "aurg": 0.12, "relative_ause": None, "below_random": 1.0, "mean_error": 0.3,
    "per_image": [{"name": "img1", "uncertainty": 0.11, "error": 0.25}],
    "objects": {"auroc": 0.71, "n": 12, "matched": 9, "threshold": 0.5},
    "dataset": "report-pairs",
}


def make_tutorial(out: Path) -> Tutorial:
    rng = np.random.default_rng(0)
    folder = out / "pairs"
    folder.mkdir(parents=True)
    for i in range(5):
        x, y = smooth_pair(rng)
        write(folder / f"img{i}_IM.ome.tiff", x, pixel_sizes=(None, 0.65, 0.65))
        write(folder / f"img{i}_GT.ome.tiff", y, pixel_sizes=(None, 0.65, 0.65))
    pairs = data.load(folder)
    split = data.split(pairs, test=1, val=1, seed=0, path=out / "split.json")
    dm = data.patches(split, patch=(32, 32), batch_size=4, samples_per_image=4, seed=0)
    net = models.build("unet", 2, channels=(4, 8), num_res_units=0, seed=0)
    run = train.fit(tasks.Supervised(net, loss="mse", lr=3e-3), dm, out / "run",
                    max_epochs=2, progress=False).path
    table = {"input": {"pearson": 0.1, "nrmse": 0.3},
             "ridge": {"pearson": 0.6123456, "nrmse": 0.2},
             "unet": {"pearson": 0.8765432, "nrmse": 0.1}}
    metrics.write_json(out / "metrics.json", "99_report_test", "report-pairs", table,
                       simulated=True, level="smoke",
                       headline=metrics.Headline("pearson", "unet", "ridge", input="input"),
                       test_images=split.test.names)
    (out / "figures").mkdir()
    for name in ("comparison", "loss"):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.imshow(split.test[0].input[0])
        fig.savefig(out / "figures" / f"{name}.png")
        plt.close(fig)
    (out / "uncertainty.json").write_text(json.dumps(UNCERTAINTY))
    return Tutorial(out, run, split, json.loads((out / "metrics.json").read_text()), UNCERTAINTY)


@pytest.fixture(scope="package")
def tutorial(tmp_path_factory) -> Tutorial:
    """The tutorial folder, made once; tests copy it before changing anything."""
    return make_tutorial(tmp_path_factory.mktemp("tutorial") / "out")
