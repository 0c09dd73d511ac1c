"""Issue 16, items 3 and 5: export -> import -> predict gives the run's predictions, through
the Python API and the command line (``export``, ``predict PACKAGE.zip``).

Identical, not close, where the same computation runs: the package's network and the run's
network give bit-identical predictions of the same normalised image with the same sliding
windows (max abs difference 0; ``predict.image`` takes normalised images from both). End to
end, from the raw file (``predict.file``: our percentile normalisation for the run, the
package's ``scale_range`` for the package), the two differ only by the normalisation formula:
ours divides by ``max(hi - lo, 1e-6)``, the spec's by ``hi - lo + 1e-6`` (see
:mod:`im2im_helpers.export.processing`); measured max abs difference about 2e-6 for outputs
up to ~5 (4e-7 relative), asserted below ``1e-5`` relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from im2im_helpers import config, io, predict, train
from im2im_helpers.data.pairs import percentile_normalize
from im2im_helpers.export import export_run, is_package, load_package
from im2im_helpers.tasks import TASKS


@pytest.fixture(scope="module")
def exported(run_2d, tmp_path_factory):
    return export_run(run_2d, tmp_path_factory.mktemp("rt") / "model.zip")


def _task(run):
    cfg = config.load(run / "config.yaml")
    return train.load_run_model(run, TASKS[cfg.task.kind]), cfg


@pytest.mark.parametrize("weight_format", ["pytorch_state_dict", "torchscript"])
def test_imported_package_predicts_what_the_run_predicts(run_2d, exported, weight_format,
                                                         tmp_path):
    task, cfg = _task(run_2d)
    model = load_package(exported, weight_format)  # verified by bioimageio.core's test
    assert model.patch == cfg.data.patches.patch and model.size_divisor == 2
    source = run_2d.parent / "pairs" / "img0_IM.ome.tiff"
    x = io.read(source).data[0, :1, 0]
    roi = cfg.data.patches.patch

    normalised = percentile_normalize(x, *cfg.data.load.normalize_percentiles)  # as pairs are
    from_run = predict.image(task, normalised, roi)
    assert np.abs(predict.image(model, normalised, roi) - from_run).max() == 0.0

    ours = predict.file(task, source, tmp_path / "run.ome.tiff", roi=roi,
                        normalize_percentiles=cfg.data.load.normalize_percentiles)
    theirs = predict.file(model, source, tmp_path / "package.ome.tiff", roi=roi)
    a, b = io.read(ours), io.read(theirs)
    assert a.data.shape == b.data.shape and a.pixel_sizes == b.pixel_sizes
    gap = np.abs(a.data - b.data).max()
    assert gap <= 1e-5 * np.abs(a.data).max(), gap
    # and the gap is the normalisation's: the two normalised images differ as little
    norm_gap = np.abs(model.preprocess(x) - percentile_normalize(x, 1.0, 99.8)).max()
    assert norm_gap <= 1e-5 * np.abs(percentile_normalize(x, 1.0, 99.8)).max()


def test_test_time_augmentation_and_3d_packages(run_3d, tmp_path):
    task, cfg = _task(run_3d)
    package = export_run(run_3d, tmp_path / "model3d.zip", formats=["torchscript"],
                         check=False)
    model = load_package(package)
    assert model.weight_format == "torchscript" and model.im2im_spec["dims"] == 3
    x = io.read(run_3d.parent / "pairs" / "vol0_IM.ome.tiff").data[0, :1]
    roi = cfg.data.patches.patch
    x = model.preprocess(x)  # what predict.file does with a package
    for tta in (False, True):
        expected = predict.image(task, x, roi, tta=tta)
        assert np.abs(predict.image(model, x, roi, tta=tta) - expected).max() == 0.0


def test_command_line_exports_and_predicts_with_the_package(run_2d, exported, tmp_path,
                                                            capsys):
    from im2im_helpers.__main__ import main

    out = tmp_path / "cli.zip"
    assert main(["export", str(run_2d), str(out), "--formats", "pytorch_state_dict",
                 "--name", "tiny regression model", "--no-check"]) == 0
    assert capsys.readouterr().out.strip() == str(out) and is_package(out)
    assert main(["export", str(run_2d), str(out), "--no-check"]) == 2
    assert "already exists" in capsys.readouterr().err

    image = run_2d.parent / "pairs" / "img1_IM.ome.tiff"
    assert main(["predict", str(exported), str(image), "--out", str(tmp_path / "pred")]) == 0
    via_package = io.read(tmp_path / "pred" / "img1_IM_pred.ome.tiff").data
    assert main(["predict", str(run_2d), str(image), "--out", str(tmp_path / "run")]) == 0
    via_run = io.read(tmp_path / "run" / "img1_IM_pred.ome.tiff").data
    assert via_package.shape == via_run.shape == (1, 1, 1, 48, 64)
    assert np.abs(via_package - via_run).max() <= 1e-5 * np.abs(via_run).max()


@pytest.mark.slow
def test_python_dash_m_predicts_with_a_package(exported, run_2d, tmp_path):
    import subprocess
    import sys

    image = run_2d.parent / "pairs" / "img0_IM.ome.tiff"
    done = subprocess.run([sys.executable, "-m", "im2im_helpers", "predict", str(exported),
                           str(image), "--out", str(tmp_path / "pred")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert io.read(tmp_path / "pred" / "img0_IM_pred.ome.tiff").data.shape == (1, 1, 1, 48, 64)
