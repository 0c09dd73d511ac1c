"""The loop on disk: two rounds end to end, fine-tuning from the previous weights, resumable."""

import json

import numpy as np
import pytest
import torch

from im2im_helpers.active import (
    ActiveLoop,
    LoopConfig,
    LoopError,
    SimulatedAnnotator,
    weights_digest,
)
from im2im_helpers.baselines import otsu_mask


def truth_of(loop, truths):
    def truth(crop_id):
        crop = loop.pool.crop(crop_id)
        return crop.cut(truths[crop.image])
    return truth


def test_two_rounds_run_on_disk_and_round_one_starts_from_round_zero(tmp_path, pool_data,
                                                                     tiny_config):
    images, truths, held_out = pool_data
    loop = ActiveLoop(tmp_path / "loop", images, tiny_config)
    truth = truth_of(loop, truths)
    assert len(loop.pool.ids) == 8
    first = loop.initial_crops()
    loop.annotate(first, SimulatedAnnotator(None), truth)
    assert loop.annotated() == first and loop.model() is None
    r0 = loop.train()
    assert r0["trained_on"] == {first[0]: 1} and r0["initial_weights"] is None
    chosen = loop.propose()
    assert len(chosen) == 1 and chosen[0] not in first
    assert loop.propose() == chosen  # asked again: the recorded choice
    r1 = loop.step(SimulatedAnnotator(3), truth)
    assert r1["round"] == 1 and set(r1["trained_on"]) == {*first, *chosen}
    assert r1["initial_weights"] == r0["checkpoint"]
    assert r1["initial_digest"] == r0["final_digest"] != r1["final_digest"]
    saved = torch.load(tmp_path / "loop" / r0["checkpoint"], weights_only=True)["state_dict"]
    assert weights_digest(saved) == r0["final_digest"]
    record0 = json.loads((tmp_path / "loop" / "rounds" / "round-000.json").read_text())
    assert record0["chosen"] == chosen and record0["annotated"] == {chosen[0]: 1}
    assert record0["scores"][chosen[0]] >= 0
    assert record0["corrections"][chosen[0]]["edits"] <= 3
    assert (tmp_path / "loop" / "rounds" / "round-001" / "run" / "config.yaml").is_file()
    assert json.loads((tmp_path / "loop" / "pool.json").read_text())["crops"][0]["size"] == 32
    result = loop.evaluate(held_out)
    assert 0 <= result["dice"] <= 1 and result["n_annotated"] == 2
    # a new process on the same folder resumes: same pool, rounds, choices, model
    again = ActiveLoop(tmp_path / "loop", images)
    assert again.trained == 2 and again.annotated() == loop.annotated()
    assert weights_digest(again.model().state_dict()) == r1["final_digest"]
    with pytest.raises(LoopError, match="other settings"):
        ActiveLoop(tmp_path / "loop", images, LoopConfig(crop=16))


def test_pseudo_labels_train_but_do_not_count_as_annotated(tmp_path, pool_data, tiny_config):
    images, truths, _ = pool_data
    loop = ActiveLoop(tmp_path / "loop", images, tiny_config)
    crops = loop.pseudo_label(lambda x: otsu_mask(x, 1.0), name="otsu")
    assert crops == loop.pool.ids
    assert loop.annotated() == []
    assert loop.store.latest(crops[0]).source == "pseudo:otsu"
    pairs, used = loop.training_pairs()
    assert len(pairs) == 8 and set(used.values()) == {1}
    editor = loop.editor(crops[0])  # no model yet: the pseudo label is the proposal
    np.testing.assert_array_equal(editor.labels > 0, loop.store.read(crops[0]) > 0)
    editor.erase([(0, 0), (31, 31)], radius=3)
    assert editor.accept().version == 2
    assert loop.annotated() == [crops[0]]


def test_a_folder_with_other_files_is_refused(tmp_path, pool_data):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LoopError, match="not a loop folder"):
        ActiveLoop(tmp_path, pool_data[0])


def test_random_sampling_follows_the_seeded_order(tmp_path, pool_data, tiny_config):
    from dataclasses import replace

    from im2im_helpers.active import random_order

    images, truths, _ = pool_data
    loop = ActiveLoop(tmp_path / "loop", images, replace(tiny_config, strategy="random",
                                                         per_round=2, seed=5))
    loop.annotate(loop.initial_crops(), SimulatedAnnotator(None), truth_of(loop, truths))
    loop.train()
    assert loop.propose() == random_order(loop.pool.ids, 5)[1:3]


def test_whole_images_are_predicted_in_windows_larger_than_the_patch():
    assert LoopConfig(crop=32).prediction_window == (128, 128)
    assert LoopConfig(crop=32, patch=16).prediction_window == (64, 64)
    assert LoopConfig(crop=32, predict_window=48).prediction_window == (48, 48)
