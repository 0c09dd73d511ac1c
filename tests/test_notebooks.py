"""Every tutorial runs top to bottom under papermill in QUICK mode and records real results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from im2im_helpers import io

NOTEBOOKS = sorted(Path(__file__).parent.parent.glob("notebooks/*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(notebook, tmp_path):
    # In a fresh process, as `make tutorials` runs it: a kernel client inside the test process
    # could hang on state that earlier tests left behind (seen after Lightning runs).
    done = subprocess.run([sys.executable, "-m", "im2im_helpers.tutorials", "--out",
                           str(tmp_path), str(notebook)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = tmp_path / notebook.stem
    record = json.loads((folder / "metrics.json").read_text())
    assert record["quick"] is True and record["split"] == "test"
    assert record["tutorial"] == notebook.stem
    assert list((folder / "figures").glob("*.png")), "every tutorial leaves static figures"
    if notebook.stem == "01_labelfree_2d":
        assert record["train_loss_last"] < record["train_loss_first"]  # training lowered the loss
        methods = record["methods"]
        assert methods["unet"]["pearson"] > methods["input"]["pearson"] + 0.1
        pred = io.read(folder / "predictions" / "test_frames_pred.ome.tiff")
        assert pred.data.shape[0] == len(record["test_frames"])
        assert pred.pixel_sizes[2] == pytest.approx(0.619)
