"""Ranking crops: the most uncertain first, diversity against near-duplicates, seeded random."""

import numpy as np

from im2im_helpers import models, tasks
from im2im_helpers.active import (
    CropScores,
    Pool,
    crop_uncertainty,
    diverse_greedy,
    random_order,
    select_uncertain,
)


def scores(uncertainty: dict, features: dict) -> CropScores:
    return CropScores(uncertainty, {}, {k: np.asarray(v, float) for k, v in features.items()},
                      "tta")


def test_without_diversity_the_most_uncertain_crops_are_chosen():
    s = scores({"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.7},
               {k: [i] for i, k in enumerate("abcd")})
    assert select_uncertain(s, 2, diversity=False) == ["b", "d"]
    assert select_uncertain(s, 2, annotated=["b"], diversity=False) == ["d", "c"]


def test_diversity_skips_a_near_duplicate_of_a_chosen_crop():
    # b and b2 are the same crop twice (most uncertain); c differs and is nearly as uncertain
    s = scores({"a": 0.1, "b": 0.9, "b2": 0.89, "c": 0.8},
               {"a": [0, 0], "b": [5, 5], "b2": [5, 5.01], "c": [-5, 3]})
    assert select_uncertain(s, 2, diversity=False) == ["b", "b2"]
    assert select_uncertain(s, 2, diversity=True) == ["b", "c"]


def test_a_duplicate_of_an_annotated_crop_waits_however_uncertain():
    uncertainty = {"twin": 0.9, "other": 0.5, "third": 0.4}
    features = {"twin": np.array([0.0]), "other": np.array([5.0]), "third": np.array([9.0])}
    assert diverse_greedy(uncertainty, features, 2, centres=[np.array([0.0])]) == [
        "other", "third"]
    assert diverse_greedy(uncertainty, features, 5) == ["twin", "other", "third"]


def test_random_order_is_decided_by_the_seed():
    ids = [f"c{i}" for i in range(20)]
    assert random_order(ids, 3) == random_order(ids, 3)
    assert random_order(ids, 3) != random_order(ids, 4)
    assert sorted(random_order(ids, 3)) == sorted(ids)


def test_crop_uncertainty_scores_every_crop_with_tta():
    rng = np.random.default_rng(0)
    pool = Pool.from_images({"a": rng.random((1, 64, 64)), "b": rng.random((1, 32, 64))}, 32)
    net = models.build("unet", 2, channels=(4, 8), strides=(2,), num_res_units=0)
    result = crop_uncertainty(tasks.Supervised(net, loss="dice_ce").eval(), pool, roi=(32, 32))
    assert set(result.uncertainty) == set(pool.ids) and len(pool.ids) == 6
    assert all(v >= 0 for v in result.uncertainty.values())
    assert result.probability[pool.ids[0]].shape == (1, 32, 32)
    assert len({len(f) for f in result.features.values()}) == 1


def test_a_crop_overlapping_a_chosen_or_annotated_one_waits():
    from im2im_helpers.active import Crop

    crops = {"top": Crop("top", "a", 0, 0, 32), "shifted": Crop("shifted", "a", 8, 0, 32),
             "other": Crop("other", "b", 0, 0, 32), "done": Crop("done", "c", 0, 0, 32),
             "next": Crop("next", "c", 4, 4, 32)}
    s = CropScores({"top": 0.9, "shifted": 0.85, "other": 0.6, "next": 0.95},
                   {}, {k: np.asarray([i, -i], float) for i, k in enumerate(crops)}, "tta",
                   crops)
    assert select_uncertain(s, 2, diversity=False) == ["next", "top"]
    assert select_uncertain(s, 2, annotated=["done"]) == ["top", "other"]
