"""Every tutorial runs top to bottom under papermill in QUICK mode and records real results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tar_gz_bytes, zip_bytes

from im2im_helpers import io

NOTEBOOKS_DIR = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(notebook, tmp_path):
    # In a fresh process, as `make tutorials` runs it: a kernel client inside the test process
    # could hang on state that earlier tests left behind (seen after Lightning runs).
    done = subprocess.run([sys.executable, "-m", "im2im_helpers.tutorials", "--no-book", "--out",
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
    if notebook.stem == "02_denoising":
        methods = record["methods"]
        for trained in ("supervised", "noise2void"):  # both learned something real
            assert record["train_loss"][trained]["last"] < record["train_loss"][trained]["first"]
            assert methods[trained]["psnr"] > methods["noisy"]["psnr"] + 1
        assert methods["noisy"]["psnr"] < methods["gaussian"]["psnr"]
        assert record["methods_3d"]["supervised"]["psnr"] > record["methods_3d"]["noisy"]["psnr"]
        saved = io.read(folder / "predictions" / "stardist-right_denoised.ome.tiff")
        assert saved.data.shape == (1, 1, 1, 512, 256)
    if notebook.stem == "03_modality_transfer":
        methods = record["methods"]
        assert record["train_loss_last"] < record["train_loss_first"]
        assert methods["unet"]["ssim"] > methods["input"]["ssim"]
        assert methods["unet"]["pearson"] > methods["input"]["pearson"]
        saved = io.read(folder / "predictions" / "phalloidin-test_pred.ome.tiff")
        assert saved.data.shape == (1, 1, 1, 623, 251)
        assert saved.pixel_sizes[2] == pytest.approx(0.1241)


@pytest.mark.notebook
def test_labelfree_tutorial_switches_to_the_papers_dataset(server, tmp_path):
    """DATASET=labelfree-2d-timelapse: fetched from a local copy in its real layout (one
    T x C TIFF, brightfield channel 2 -> H2B channel 4), organised, split by the paper's policy."""
    import numpy as np
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    nuclei = ndi.gaussian_filter(rng.random((12, 1, 144, 160)), (0, 0, 3, 3))
    movie = np.concatenate([rng.random((12, 2, 144, 160)), 2 * nuclei,
                            rng.random((12, 1, 144, 160)), nuclei], axis=1)
    movie = (movie * 5000).astype(np.uint16)  # channel 2 (input) carries the nuclei signal too
    tif = tmp_path / "movie.ome.tiff"
    io.write_ome_tiff(tif, movie, "TCYX", (None, 0.5, 0.5))
    env = _serve_registry_entry(server, tmp_path, "labelfree-2d-timelapse", tif.read_bytes())
    done = subprocess.run([sys.executable, "-m", "im2im_helpers.tutorials", "--no-book", "--out",
                           str(tmp_path / "out"), "-p", "DATASET", "labelfree-2d-timelapse",
                           str(NOTEBOOKS_DIR / "01_labelfree_2d.ipynb")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads((tmp_path / "out" / "01_labelfree_2d" / "metrics.json").read_text())
    assert record["dataset"] == "labelfree-2d-timelapse" and record["simulated"] is False
    assert record["test_frames"] == ["t008", "t001"]  # 15 % of 12 frames, seeded (seed 0)
    pred = io.read(tmp_path / "out" / "01_labelfree_2d" / "predictions" /
                   "test_frames_pred.ome.tiff")
    assert pred.data.shape == (2, 1, 1, 144, 160) and pred.pixel_sizes[2] == pytest.approx(0.5)


def _serve_registry_entry(server, tmp_path, name: str, archive: bytes) -> dict:
    """Serve ``archive`` as the only file of registry entry ``name``; return the environment
    that points a tutorial at the local copy."""
    import hashlib
    from dataclasses import asdict

    import yaml

    from im2im_helpers import registry

    root, base = server
    entry = registry.get(name)
    (root / entry.files[0].filename).write_bytes(archive)
    entry.files[0].url = f"{base}/{entry.files[0].filename}"
    entry.files[0].mirrors = []
    entry.files[0].hash = "sha256:" + hashlib.sha256(archive).hexdigest()
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / f"{name}.yaml").write_text(yaml.safe_dump(asdict(entry)))
    return {**os.environ, "IM2IM_REGISTRY": str(tmp_path / "registry"),
            "IM2IM_DATA": str(tmp_path / "cache")}


def _volume_bytes(tmp_path, arr) -> bytes:
    path = tmp_path / "vol.ome.tiff"
    io.write_ome_tiff(path, arr, "ZYX", (0.5, 0.2, 0.2), overwrite=True)
    return path.read_bytes()


def _clean_volumes(n, shape=(8, 40, 40), seed=0):
    import numpy as np
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    return [ndi.gaussian_filter(rng.random(shape), 2).astype("float32") for _ in range(n)]


@pytest.mark.notebook
def test_denoising_tutorial_trains_on_care_data(server, tmp_path):
    """DATASET=care-planaria: CARE's data_label.npz (noisy/clean training patches) and its test
    conditions, fetched from a local copy in the real layout, train and test in 3D."""
    import io as stdio

    import numpy as np

    rng = np.random.default_rng(1)
    clean = np.stack(_clean_volumes(6))[:, None]  # S C Z Y X
    buffer = stdio.BytesIO()
    np.savez(buffer, X=clean + rng.normal(0, 0.05, clean.shape).astype("float32"), Y=clean,
             axes="SCZYX")
    test_clean = _clean_volumes(1, seed=9)[0]
    files = {"Denoising_Planaria/train_data/data_label.npz": buffer.getvalue(),
             "Denoising_Planaria/test_data/condition_1/a.tif":
                 _volume_bytes(tmp_path, test_clean + rng.normal(0, 0.05, test_clean.shape)),
             "Denoising_Planaria/test_data/GT/a.tif": _volume_bytes(tmp_path, test_clean)}
    env = _serve_registry_entry(server, tmp_path, "care-planaria",
                                tar_gz_bytes(files))
    done = subprocess.run([sys.executable, "-m", "im2im_helpers.tutorials", "--no-book", "--out",
                           str(tmp_path / "out"), "-p", "DATASET", "care-planaria", "-p", "PATCH",
                           "32", "-p", "BATCH", "4", str(NOTEBOOKS_DIR / "02_denoising.ipynb")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = tmp_path / "out" / "02_denoising"
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "care-planaria" and record["simulated"] is False
    assert record["test_images"] == ["test/condition_1_a"] and record["sweep"] is None
    saved = io.read(folder / "predictions" / "test_condition_1_a_denoised.ome.tiff")
    assert saved.data.shape == (1, 1, 8, 40, 40)


@pytest.mark.notebook
def test_modality_transfer_tutorial_trains_on_confocal_sted_data(server, tmp_path):
    """DATASET=confocal-sted: the 3D-RCAN folders (Training/test, raw/gt), real layout."""
    from scipy import ndimage as ndi

    root = "Confocal_2_STED/Microtubule"
    files = {}
    for part, names, seed in (("Training", ["a", "b", "c"], 0), ("test", ["d"], 5)):
        for name, sharp in zip(names, _clean_volumes(len(names), seed=seed)):
            files[f"{root}/{part}/gt/{name}.tif"] = _volume_bytes(tmp_path, sharp)
            files[f"{root}/{part}/raw/{name}.tif"] = _volume_bytes(
                tmp_path, ndi.gaussian_filter(sharp, 1.5))
    env = _serve_registry_entry(server, tmp_path, "confocal-sted",
                                zip_bytes(files))
    done = subprocess.run([sys.executable, "-m", "im2im_helpers.tutorials", "--no-book", "--out",
                           str(tmp_path / "out"), "-p", "DATASET", "confocal-sted", "-p", "PATCH",
                           "32", str(NOTEBOOKS_DIR / "03_modality_transfer.ipynb")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = tmp_path / "out" / "03_modality_transfer"
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "confocal-sted" and record["simulated"] is False
    assert record["test_images"] == ["test/d"]
    assert io.read(folder / "predictions" / "test_d_pred.ome.tiff").data.shape == (1, 1, 8, 40, 40)
