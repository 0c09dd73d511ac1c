"""One source of truth for a task's settings: the object's ``hparams``, the run's ``config.yaml``
and its checkpoints report the same hyperparameters, for every kind of task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from im2im_helpers import config, data, tasks, train
from im2im_helpers.data.pairs import Pair, Pairs
from im2im_helpers.data.splits import make_split

UNET = {"name": "unet", "dims": 2, "channels": (4, 8), "num_res_units": 0}

#: Each kind of task with settings that differ from its defaults.
KINDS = {
    "supervised": dict(loss="l1", lr=5e-4, scheduler="cosine"),
    "noise2void": dict(mask_fraction=0.03, radius=3, seed=7, replacement="median"),
    "embedding": dict(sigma_init=6.0, min_size=5, seed_threshold=0.7),
    "pix2pix": dict(l1_weight=50.0, betas=(0.4, 0.99), samples=0),
    "cyclegan": dict(cycle_weight=5.0, pool_size=4, samples=0, seed=2),
}


def tiny_split(tmp_path, labels: bool) -> object:
    rng = np.random.default_rng(0)
    items = []
    for i in range(3):
        target = np.zeros((1, 32, 32), np.float32)
        target[0, 8:16, 8 + 4 * i:18 + 4 * i] = 1
        image = target + rng.normal(0, 0.1, target.shape).astype(np.float32)
        items.append(Pair(f"img{i}", image, target if labels else target * 0.5))
    return make_split(Pairs(items, {"source": {"folder": "memory"}}), tmp_path / "split.json",
                      test=1, val=1, shuffle=False)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_config_checkpoint_and_object_agree(kind, tmp_path):
    torch.set_num_threads(1)
    task = tasks.TASKS[kind](dict(UNET), **KINDS[kind])
    for name, value in KINDS[kind].items():
        assert tasks.plain(task.hparams[name]) == tasks.plain(value), name
    split = tiny_split(tmp_path, labels=kind == "embedding")
    dm = data.patches(split, patch=(32, 32), batch_size=2, samples_per_image=1)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=1, progress=False)

    from_object = tasks.hyperparameters(run.model)
    from_yaml = config.load(run.path / "config.yaml").task.hparams
    ckpt = torch.load(run.path / "checkpoints" / "last.ckpt", map_location="cpu",
                      weights_only=False)["hyper_parameters"]
    from_checkpoint = {k: tasks.plain(v) for k, v in ckpt.items() if k != "model"}
    reloaded = tasks.hyperparameters(train.load_run_model(run.path, type(task)))
    rebuilt = tasks.hyperparameters(config.build_task(config.load(run.path / "config.yaml")))
    assert from_object == from_yaml == from_checkpoint == reloaded == rebuilt
    assert {k: from_yaml[k] for k in KINDS[kind]} == tasks.plain(KINDS[kind])
