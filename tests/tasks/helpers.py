"""Helpers of the task tests: label scenes with curved and touching objects and their perfect
embeddings (instance clustering, embedding loss), and small GAN runs checked after a reload."""

from __future__ import annotations

import numpy as np
import torch

from im2im_helpers import config, data, tasks, train
from im2im_helpers.tasks import instances
from im2im_helpers.tasks.embedding import LOSS_MEDOID_POINTS

PS = instances.PIXEL_SIZE


def u_shape(shape, top, left, height=20, width=18, thick=5):
    """A U (opening upwards) in the last two axes: its centroid lies in the gap, outside."""
    m = np.zeros(shape[-2:], bool)
    m[top:top + height, left:left + thick] = True
    m[top:top + height, left + width - thick:left + width] = True
    m[top + height - thick:top + height, left:left + width] = True
    return m


def scene_2d() -> np.ndarray:
    """64 x 64: a U, a curved arc, a disk and a rectangle touching the disk-free border."""
    lab = np.zeros((64, 64), np.int32)
    lab[u_shape(lab.shape, 4, 4)] = 1
    yy, xx = np.indices(lab.shape)
    r = np.hypot(yy - 60, xx - 60)
    lab[(r >= 14) & (r <= 19) & (yy < 58)] = 2  # quarter ring: curved, centroid outside
    lab[np.hypot(yy - 12, xx - 44) <= 6] = 3
    lab[44:60, 4:14] = 4
    return lab


def scene_3d() -> np.ndarray:
    """16 x 32 x 32: an extruded U, a ball and a box."""
    lab = np.zeros((16, 32, 32), np.int32)
    lab[3:13][:, u_shape((32, 32), 2, 2, height=14, width=13, thick=4)] = 1
    zz, yy, xx = np.indices(lab.shape)
    lab[np.sqrt((zz - 8) ** 2 + (yy - 22) ** 2 + (xx - 22) ** 2) <= 5] = 2
    lab[2:8, 4:10, 20:30] = 3
    return lab


def perfect(labels: np.ndarray, sigma_px: float = 2.0):
    """Perfect embedding of a label image: every object pixel points exactly at its medoid (the
    one the loss searches, among :data:`~im2im_helpers.tasks.embedding.LOSS_MEDOID_POINTS`)."""
    ids, centres = instances.centres_of(labels, LOSS_MEDOID_POINTS)
    index = np.indices(labels.shape).astype(np.float32)
    target = index.copy()
    for i, c in zip(ids, centres):
        target[:, labels == i] = c[:, None]
    offsets = (target - index) * PS  # 0 on background
    sigma = np.full((labels.ndim, *labels.shape), sigma_px * PS, np.float32)
    seed = (labels > 0).astype(np.float32)
    return offsets, sigma, seed


def perfect_raw(labels: np.ndarray, sigma_px: float = 2.0, sigma_init: float = 8.0):
    """The raw network outputs (before tanh/exp/sigmoid) of :func:`perfect`, with background
    pixels pointing far outside the image (near no centre)."""
    offsets, sigma, seed = perfect(labels, sigma_px)
    offsets[:, labels == 0] = -0.9
    raw = np.concatenate([np.arctanh(offsets), np.log(sigma / (sigma_init * PS)),
                          (seed * 20 - 10)[None]])
    return torch.tensor(raw[None], dtype=torch.float32)


def check_label_image(lab: np.ndarray, shape) -> int:
    """Integer labels, background 0, objects 1..N; returns N."""
    assert lab.shape == tuple(shape) and lab.dtype == np.int32
    values = np.unique(lab)
    assert values[0] == 0 and np.array_equal(values, np.arange(len(values)))
    return len(values) - 1


UNET = {"name": "unet", "channels": [8, 16], "num_res_units": 0}


SMALL_D = {"features": 8, "n_layers": 2}


def epochs(run, name):
    return [v for _, _, v in run.history()[name]]


def pairs_run(pair_folder, tmp_path):
    pairs = data.load(pair_folder)
    split = data.split(pairs, test=1, val=1, path=tmp_path / "split.json")
    return data.patches(split, patch=(32, 32), batch_size=4, samples_per_image=8)


def check_reload(run, task_class):
    """config.yaml rebuilds the same task; the checkpoint reloads the trained weights."""
    cfg = config.load(run.path / "config.yaml")
    assert cfg.task.kind == run.model.KIND
    assert cfg.task.hparams == tasks.hyperparameters(run.model)
    rebuilt, _ = config.build(cfg)
    assert type(rebuilt) is task_class
    assert tasks.hyperparameters(rebuilt) == tasks.hyperparameters(run.model)
    loaded = train.load_run_model(run.path, task_class)
    assert tasks.hyperparameters(loaded) == tasks.hyperparameters(run.model)
    for (name, a), b in zip(run.model.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    return loaded
