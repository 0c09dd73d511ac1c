"""Tutorial 14 (denoising without checkerboards): smoke-level run of plain Noise2Void against
N2V2 on tutorial 02's data, noise and held-out images."""

import pytest

from im2im_helpers import io
from tests.notebooks.helpers import held_out, losses_fell, smoke_record

NOTEBOOK = "14_denoising_checkerboards"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]

NETWORKS = ["noise2void", "noise2void_tta", "n2v2", "n2v2_tta"]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    # tutorial 02's held-out images and noise, written to split.json
    assert record["test_images"] == ["stardist-right", "ndev-t08", "ndev-t09"]
    split = held_out(folder, record["test_images"])
    assert split["val"] == ["ndev-t07"]
    assert record["noise"] == {"photons": 10.0, "read_noise": 0.02}
    # the same recipe for both networks: the same number of optimisation steps, and both learned
    assert record["steps"]["noise2void"] == record["steps"]["n2v2"] > 0
    losses_fell(record)
    for trained in ("noise2void", "n2v2"):
        assert (folder / trained / "config.yaml").is_file()
    methods = record["methods"]
    assert list(methods) == ["noisy", "gaussian", *NETWORKS]
    for name, row in methods.items():
        assert set(row) == {"psnr", "ssim", "checkerboard", "nyquist_share"}, name
        assert 0 <= row["nyquist_share"] <= 1 and row["checkerboard"] >= 0, name
        assert -1 <= row["ssim"] <= 1, name
    # at the smoke level (a few dozen steps) N2V2 already denoises and plain Noise2Void with
    # test-time augmentation beats the noisy input; plain Noise2Void's checkerboard is far
    # stronger than N2V2's, with and without test-time augmentation (the tutorial's claim)
    for name in ("n2v2", "n2v2_tta"):
        assert methods[name]["psnr"] > methods["noisy"]["psnr"] + 1, name
    assert methods["noise2void_tta"]["psnr"] > methods["noisy"]["psnr"]
    assert methods["n2v2"]["checkerboard"] < methods["noise2void"]["checkerboard"] / 10
    assert methods["n2v2_tta"]["checkerboard"] < methods["noise2void_tta"]["checkerboard"]
    # white noise puts far more of the variance at the period-2 frequencies than the clean
    # nuclei have; a blur almost none
    assert methods["noisy"]["checkerboard"] > 2
    assert methods["gaussian"]["checkerboard"] < 0.1 < methods["noisy"]["checkerboard"]
    assert methods["noisy"]["psnr"] < methods["gaussian"]["psnr"]
    assert record["chosen"]["gaussian"] > 0
    per_image = record["checkerboard_per_image"]
    assert set(per_image) == set(methods) and all(len(v) == 3 for v in per_image.values())
    # the claims the default and full runs are checked against
    assert [(h["metric"], h["network"], h["baseline"], h["higher_is_better"], h["input"],
             h["others"]) for h in record["headline"]] == [
        ("checkerboard", "n2v2", "noise2void", False, None, []),
        ("psnr", "n2v2", "noise2void", True, None, []),
        ("psnr", [], "gaussian", True, "noisy", NETWORKS)]
    for name, shape in (("stardist-right", (1, 1, 1, 512, 256)),
                        ("ndev-t08", None), ("ndev-t09", None)):
        saved = io.read(folder / "predictions" / f"{name}_n2v2.ome.tiff").data
        assert saved.ndim == 5 and saved.shape[:3] == (1, 1, 1), (name, saved.shape)
        if shape:
            assert saved.shape == shape
    for figure in ("checkerboard_zoom", "power_spectra_2d", "tta_zoom", "loss_n2v2"):
        assert (folder / "figures" / f"{figure}.png").is_file(), figure
