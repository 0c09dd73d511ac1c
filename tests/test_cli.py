"""``python -m im2im_helpers train|predict`` on a small folder of pairs."""

import subprocess
import sys

import numpy as np
import yaml

from im2im_helpers import io


def test_train_then_predict_from_the_command_line(pair_folder, tmp_path):
    cfg = {
        "data": {"source": str(pair_folder), "patch": [32, 32], "batch_size": 4,
                 "samples_per_image": 4, "split": {"test": 1, "val": 1,
                                                    "file": str(tmp_path / "split.json")}},
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
