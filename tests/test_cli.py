"""The command line (``python -m im2im_helpers``): train then predict on a small folder of
pairs, and the dataset registry's ``data list|info|prepare`` (:mod:`im2im_helpers.__main__`)."""

import subprocess
import sys

import numpy as np
import pytest
import yaml

from im2im_helpers import io
from tests.helpers import serve_entry, tiff_bytes


@pytest.mark.slow
def test_train_then_predict_from_the_command_line(pair_folder, tmp_path):
    cfg = {
        "data": {"source": str(pair_folder),
                 "patches": {"patch": [32, 32], "batch_size": 4, "samples_per_image": 4},
                 "split": {"test": 1, "val": 1, "path": str(tmp_path / "split.json")}},
        "model": {"name": "unet", "dims": 2, "channels": [8, 16], "num_res_units": 0},
        "train": {"max_epochs": 2},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "im2im_helpers"]
    done = subprocess.run([*cmd, "train", str(tmp_path / "run.yaml"), "--out",
                           str(tmp_path / "run"), "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()

    again = subprocess.run([*cmd, "train", str(tmp_path / "run.yaml"), "--out",
                            str(tmp_path / "run"), "--quiet"], capture_output=True, text=True)
    assert again.returncode == 2 and "already holds a run" in again.stderr

    image = pair_folder / "img0_IM.ome.tiff"
    done = subprocess.run([*cmd, "predict", str(tmp_path / "run"), str(image), "--out",
                           str(tmp_path / "pred")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    pred = io.read(tmp_path / "pred" / "img0_IM_pred.ome.tiff")
    assert pred.data.shape == (1, 1, 1, 48, 64) and np.isfinite(pred.data).all()

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**cfg, "trian": {}}))
    done = subprocess.run([*cmd, "train", str(bad), "--out", str(tmp_path / "r2")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "unknown key 'trian'" in done.stderr
    assert not (tmp_path / "r2").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("cache")
def test_command_line_lists_describes_and_prepares(server, tmp_path, monkeypatch):
    from dataclasses import asdict

    movie = np.zeros((2, 5, 8, 8), np.uint16)
    entry = serve_entry(server, "labelfree-2d-timelapse", [tiff_bytes(tmp_path, movie, "TCYX")])
    own = tmp_path / "registry"
    own.mkdir()
    (own / f"{entry.name}.yaml").write_text(yaml.safe_dump(asdict(entry)))
    monkeypatch.setenv("IM2IM_REGISTRY", str(own))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "im2im_helpers", "data", *args],
                              capture_output=True, text=True)

    listing = cli("list")
    assert listing.returncode == 0 and "labelfree-2d-timelapse" in listing.stdout
    assert "no" in listing.stdout.splitlines()[1]  # not cached yet
    assert "mCherry-H2B" in cli("info", entry.name).stdout
    prepared = cli("prepare", entry.name)
    assert prepared.returncode == 0, prepared.stderr
    assert "yes" in cli("list").stdout.splitlines()[1]
    unknown = cli("info", "nope")
    assert unknown.returncode == 2 and "not in the registry" in unknown.stderr


def test_errors_of_the_command_line_are_one_paragraph_with_status_2(tmp_path, capsys,
                                                                     monkeypatch, cache):
    """Issue 14, item 12: an output path that is a file, an unwritable IM2IM_DATA and a
    configuration error end with a message naming the path and exit status 2."""
    from im2im_helpers.__main__ import main

    good = {"data": {"source": "ndev-labelfree", "patches": {"patch": [32, 32]}},
            "model": {"name": "unet", "dims": 2, "channels": [4, 8]}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(good))
    (tmp_path / "a-file").write_text("not a folder")
    assert main(["train", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "a-file")]) == 2
    assert "a-file: is a file, not a folder" in capsys.readouterr().err
    good["data"]["patches"]["patch"] = [0, 0]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(good))
    assert main(["train", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert "bad.yaml: data.patches.patch=[0, 0]" in capsys.readouterr().err
    monkeypatch.setenv("IM2IM_DATA", str(tmp_path / "a-file"))
    assert main(["data", "list"]) == 2
    assert "a-file ($IM2IM_DATA=" in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_writes_one_run_that_predicts(pair_folder, tmp_path):
    """Issue 14, item 6: Lightning's launcher runs the command again for process 1; only
    process 0 prepares and writes the run folder, and each process trains on half the
    patches (gloo on CPU) with one thread per core."""
    cfg = {
        "data": {"source": str(pair_folder),
                 "patches": {"patch": [32, 32], "batch_size": 4, "samples_per_image": 8},
                 "split": {"test": 1, "val": 1, "path": str(tmp_path / "split.json")}},
        "model": {"name": "unet", "dims": 2, "channels": [8, 16], "num_res_units": 0},
        "train": {"max_epochs": 2, "accelerator": "cpu", "devices": 2, "strategy": "ddp"},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "im2im_helpers"]
    done = subprocess.run([*cmd, "train", str(tmp_path / "run.yaml"), "--out",
                           str(tmp_path / "run"), "--quiet"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run folder:") == 1
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.yaml", "logs"]
    assert [p.name for p in (run / "logs").iterdir()] == ["attempt-0"]
    assert len(list((run / "checkpoints").glob("best-*.ckpt"))) == 1
    import torch

    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    # 3 training pairs x 8 patches = 24, split over 2 processes: 3 steps of 4 per epoch each
    assert saved["epoch"] == 1 and saved["global_step"] == 6

    image = pair_folder / "img0_IM.ome.tiff"
    done = subprocess.run([*cmd, "predict", str(run), str(image), "--out", str(tmp_path / "pred")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    pred = io.read(tmp_path / "pred" / "img0_IM_pred.ome.tiff")
    assert pred.data.shape == (1, 1, 1, 48, 64) and np.isfinite(pred.data).all()


def test_an_output_folder_that_cannot_be_written_is_explained(pair_folder, tmp_path, capsys,
                                                              monkeypatch):
    """Issue 14, item 12: a read-only --out ends in one paragraph naming the folder and what to
    do, exit status 2 (the tests run as root, whom permissions do not stop: the operating
    system's answer for a read-only folder is simulated)."""
    import errno
    import pathlib

    from im2im_helpers.__main__ import main

    cfg = {"data": {"source": str(pair_folder), "patches": {"patch": [32, 32]},
                    "split": {"test": 1, "val": 1, "path": str(tmp_path / "split.json")}},
           "model": {"name": "unet", "dims": 2, "channels": [4, 8]}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    locked = tmp_path / "shared" / "readonly"
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(locked)):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    assert main(["train", str(tmp_path / "run.yaml"), "--out", str(locked / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{locked / 'run'}: Permission denied; nothing was written there" in err
    assert "choose a folder you can write to" in err
    image = pair_folder / "img0_IM.ome.tiff"
    monkeypatch.setattr(pathlib.Path, "mkdir", real_mkdir)
    assert main(["train", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "run"),
                 "--max-epochs", "1", "--quiet"]) == 0
    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), str(image), "--out", str(locked)]) == 2
    assert f"{locked}: Permission denied" in capsys.readouterr().err
