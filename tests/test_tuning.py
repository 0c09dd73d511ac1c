"""Tuned methods: the choice is made on the data given, the object applies it, and an instance
model's tuned clustering survives a reload from its run folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from im2im_helpers import config, data, train
from im2im_helpers.data.pairs import Pair, Pairs
from im2im_helpers.data.splits import make_split
from im2im_helpers.tasks import InstanceEmbedding
from im2im_helpers.tuning import Tuned, tune


def shift(x: np.ndarray, value: float) -> np.ndarray:
    return x + value


def ramps() -> tuple[list[np.ndarray], list[np.ndarray]]:
    targets = [np.linspace(0, 1, 16).reshape(1, 4, 4) * k for k in (3.0, 5.0)]
    return [t - 2 for t in targets], targets


def test_tune_keeps_the_best_value_and_applies_it():
    inputs, targets = ramps()
    tuned = tune(shift, inputs, targets, [0.0, 1.0, 2.0, 3.0], metric="psnr",
                 parameters=("offset",))
    assert isinstance(tuned, Tuned) and tuned.value == 2.0 and tuned.chosen == {"offset": 2.0}
    assert tuned.scores[2.0] == max(tuned.scores.values()) == tuned.best_score
    np.testing.assert_array_equal(tuned(np.zeros((1, 2, 2))), np.full((1, 2, 2), 2.0))


def test_an_error_metric_is_minimised():
    inputs, targets = ramps()
    tuned = tune(shift, inputs, targets, [0.0, 1.0, 2.0, 3.0], metric="nrmse")
    assert tuned.value == 2.0 and tuned.best_score == min(tuned.scores.values()) < 1e-9


def test_tune_takes_a_metric_function_and_breaks_ties_by_order():
    def always_one(pred, target):
        return 1.0

    tuned = tune(shift, [np.zeros(3)], [np.zeros(3)], [5, 1, 3], metric=always_one)
    assert tuned.value == 5 and tuned.metric == "always_one"


def test_tune_refuses_what_it_cannot_score():
    with pytest.raises(ValueError, match="same number"):
        tune(shift, [np.zeros(3)], [], [1])
    with pytest.raises(ValueError, match="no candidate"):
        tune(shift, [np.zeros(3)], [np.zeros(3)], [])
    with pytest.raises(ValueError, match="metric='psrn'.*psnr"):
        tune(shift, [np.zeros(3)], [np.zeros(3)], [1], metric="psrn")


def blob_pairs(n: int, seed: int = 0) -> Pairs:
    """Images of four bright discs and their instance labels."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        labels = np.zeros((48, 48), np.int32)
        yy, xx = np.indices(labels.shape)
        for k, (cy, cx) in enumerate(rng.integers(8, 40, size=(4, 2)), start=1):
            labels[(np.hypot(yy - cy, xx - cx) <= 5) & (labels == 0)] = k
        image = ndi.gaussian_filter((labels > 0).astype(np.float32), 1) + rng.normal(
            0, 0.05, labels.shape)
        items.append(Pair(f"img{i}", image[None].astype(np.float32),
                          labels[None].astype(np.float32)))
    return Pairs(items, {"source": {"folder": "memory"}})


def test_tuned_clustering_is_saved_with_the_run_and_used_after_reloading(tmp_path):
    torch.set_num_threads(1)
    pairs = blob_pairs(3)
    split = make_split(pairs, tmp_path / "split.json", test=1, val=1, shuffle=False)
    dm = data.patches(split, patch=(32, 32), batch_size=2, samples_per_image=2)
    model = {"name": "unet", "dims": 2, "channels": (4, 8), "num_res_units": 0}
    run = train.fit(InstanceEmbedding(model), dm, tmp_path / "run", max_epochs=1,
                    progress=False)
    image, labels = split.val[0].input, split.val[0].target[0]
    default = run.model.segment(image)
    tuned = run.model.tune_clustering([image], [labels], seed_thresholds=(0.3,),
                                      fg_thresholds=(0.2,), min_sizes=(1,))
    assert tuned.value == (0.3, 0.2, 1)
    after = run.model.segment(image)
    assert not np.array_equal(after, default), "the tuned thresholds change the segmentation"
    np.testing.assert_array_equal(tuned(image), after)

    again = train.load_run_model(run.path, InstanceEmbedding)
    np.testing.assert_array_equal(again.segment(image), after)
    saved = config.load(run.path / "config.yaml").task.hparams
    assert (saved["seed_threshold"], saved["fg_threshold"], saved["min_size"]) == tuned.value
    for ckpt in (run.path / "checkpoints").glob("*.ckpt"):
        hparams = torch.load(ckpt, map_location="cpu", weights_only=False)["hyper_parameters"]
        assert hparams["seed_threshold"] == 0.3 and hparams["min_size"] == 1, ckpt.name


def test_a_task_without_a_run_folder_tunes_in_memory_only(tmp_path):
    model = {"name": "unet", "dims": 2, "channels": (4, 8), "num_res_units": 0}
    task = InstanceEmbedding(model).eval()
    pair = blob_pairs(1)[0]
    task.tune_clustering([pair.input], [pair.target[0]], seed_thresholds=(0.4,),
                         fg_thresholds=(0.4,), min_sizes=(3,))
    assert task.hparams.seed_threshold == 0.4 and task.persist_hparams is None
    assert not list(tmp_path.iterdir())
