"""What automatic configuration sees in the data, and the candidates it derives from that."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from im2im_helpers import config, models
from im2im_helpers.auto import budget
from im2im_helpers.auto.candidates import patch_size, propose, recipes
from im2im_helpers.auto.kinds import AutoError, get_task
from im2im_helpers.auto.profile import DeviceProfile, profile_data
from im2im_helpers.data import LoadConfig, Pair, Pairs
from tests.auto.conftest import tiny_candidate

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
DEVICE = DeviceProfile("cpu", "test", 2, 1, 8 * 2**30)


def discs(n: int, radius: int, shape=(96, 96), seed: int = 0) -> Pairs:
    """``n`` pairs whose labels are 6 non-touching discs of ``radius`` pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices(shape)
    out = Pairs(config={"source": {"sample": "discs"}})
    for i in range(n):
        labels = np.zeros(shape, np.float32)
        for k, (cy, cx) in enumerate([(16, 16), (16, 48), (16, 80), (48, 16), (48, 48),
                                      (80, 80)], start=1):
            labels[np.hypot(yy - cy, xx - cx) <= radius] = k
        image = (labels > 0) + rng.normal(0, 0.2, shape)
        out.append(Pair(f"d{i}", image[None].astype(np.float32), labels[None],
                        pixel_sizes=(None, 0.3, 0.3)))
    return out


def boxes_3d(n: int) -> Pairs:
    """3D pairs with 4 x 10 x 10 boxes and a Z pixel 4 times the X pixel."""
    out = Pairs(config={"source": {"sample": "boxes"}})
    for i in range(n):
        labels = np.zeros((16, 64, 64), np.float32)
        for k, (y, x) in enumerate([(5, 5), (5, 40), (40, 5), (40, 40)], start=1):
            labels[6:10, y:y + 10, x:x + 10] = k
        out.append(Pair(f"b{i}", (labels > 0)[None].astype(np.float32), labels[None],
                        pixel_sizes=(2.0, 0.5, 0.5)))
    return out


def test_profile_measures_object_sizes_shapes_and_labels():
    p = profile_data(discs(3, radius=6))
    assert (p.n_pairs, p.dims, p.in_channels, p.target_kind) == (3, 2, 1, "labels")
    assert p.shape_min == p.shape_max == [96, 96]
    assert p.objects["count"] == 18
    area = np.count_nonzero(np.hypot(*np.indices((13, 13)) - 6) <= 6)
    assert p.objects["diameter_median"] == pytest.approx(2 * np.sqrt(area / np.pi))
    assert p.objects["extent_p90"] == [13, 13]
    assert p.foreground_fraction == pytest.approx(6 * area / 96**2)
    assert p.anisotropy is None


def test_profile_of_3d_data_reports_anisotropy_and_extent_per_axis():
    p = profile_data(boxes_3d(2))
    assert p.dims == 3 and p.anisotropy == pytest.approx(4.0)
    assert p.objects["extent_p90"] == [4, 10, 10] and p.target_kind == "labels"
    assert p.objects["diameter_median"] == pytest.approx((6 * 400 / np.pi) ** (1 / 3))


@pytest.mark.parametrize("task", ["semantic", "labelfree", "denoising"])
def test_candidates_are_valid_run_configurations_whose_patches_cover_the_objects(task, tmp_path):
    pairs = discs(4, radius=12, shape=(160, 160))
    profile = profile_data(pairs)
    auto_task = get_task(task)
    found = propose(profile, DEVICE, auto_task, "nuclei", LoadConfig(), [{"kind": "foreground"}]
                    if auto_task.segmentation else [], n_train=3)
    assert len(found) >= 2 and len({c.name for c in found}) == len(found)
    for c in found:
        again = config.from_dict(c.config.to_dict(), c.name)
        assert again == c.config
        patch = c.config.data.patches.patch
        assert all(p % models.size_divisor(c.config.model) == 0 for p in patch)
        assert all(p >= e for p, e in zip(patch, profile.objects["extent_p90"]))
        assert c.config.task.hparams["loss"] in auto_task.losses
        assert c.config.data.patches.batch_size >= 1
        assert all(isinstance(r, str) and r for r in c.reasons) and len(c.reasons) >= 4
        config.save(c.config, tmp_path / f"{task}-{c.name}.yaml")
        assert config.load(tmp_path / f"{task}-{c.name}.yaml") == c.config


def test_the_patch_is_cut_to_the_smallest_image_and_stays_a_multiple_of_the_divisor():
    profile = profile_data(discs(2, radius=20, shape=(70, 200)))
    patch, reasons = patch_size(profile, 8)
    assert patch == [64, 88] and any("smallest image" in r for r in reasons)


def test_a_budget_too_small_for_one_trial_names_the_least_budget(good_and_bad):
    slow = [replace(c, step_seconds=1.0) for c in good_and_bad]
    with pytest.raises(AutoError, match=r"too small for one trial.*at least \d+\.\d min"):
        budget.make_plan(20, 2.0, slow, n_cv=6, folds=3)
    plan = budget.make_plan(900, 2.0, slow, n_cv=6, folds=3)
    assert plan.trials == 2 and plan.folds == 3 and plan.train_s > budget.MIN_TRAIN_S
    assert plan.search_deadline_s < 900 - plan.final_s


def test_the_final_model_gets_its_share_and_a_small_budget_gets_fewer_folds(tiny_folder):
    long = [replace(tiny_candidate(tiny_folder, name, 1e-2, 300), step_seconds=0.1)
            for name in ("first", "second")]
    big = budget.make_plan(3600, 5.0, long, n_cv=8, folds=3)
    assert (big.folds, big.trials) == (3, 2)
    available = 0.95 * (3600 - 5.0 - budget.RESERVE_S)
    assert big.final_s == pytest.approx(budget.FINAL_SHARE * available)
    small = budget.make_plan(120, 5.0, long, n_cv=8, folds=3, estimate_single=True)
    assert (small.folds, small.trials) == (2, 1)  # too little for 3 folds of 100 steps
    share = budget.FINAL_SHARE * 0.95 * (120 - 5.0 - budget.RESERVE_S)
    assert small.final_s == pytest.approx(share) and small.train_s >= budget.MIN_TRAIN_S


def test_a_budget_for_a_single_candidate_trains_it_for_all_the_time_and_names_a_choices_budget(
        tiny_folder):
    long = [replace(tiny_candidate(tiny_folder, name, 1e-2, 300), step_seconds=0.1)
            for name in ("first", "second")]
    single = budget.make_plan(120, 5.0, long, n_cv=8, folds=3)
    # nothing to choose: no folds, and the final model gets all the time the folds would take
    assert (single.folds, single.trials, single.cross_validates) == (0, 1, False)
    observing = budget.OVERHEAD_S + budget.OBSERVED_STEPS * 0.1 * budget.LOADING_FACTOR
    assert single.final_s == pytest.approx(0.95 * (120 - 5.0 - budget.RESERVE_S)
                                           - budget.OVERHEAD_S - observing)
    estimated = budget.make_plan(120, 5.0, long, n_cv=8, folds=3, estimate_single=True)
    assert single.final_s > estimated.final_s + estimated.folds * estimated.train_s
    assert budget.fit_candidate(long[0], single, n_cv=8) == long[0]
    # the budget named for a choice affords two candidates; 2 % less does not
    need = single.choice_budget_s
    assert 120 < need < 3600
    assert budget.make_plan(need, 5.0, long, n_cv=8, folds=3).trials == 2
    assert budget.make_plan(0.98 * need, 5.0, long, n_cv=8, folds=3).trials == 1
    assert f"needs about {math.ceil(need / 30) / 2:g} min" in single.lines()[0]
    assert "nothing to choose" in single.lines()[0]
    # a single candidate given has nothing to choose between and names no budget for a choice
    alone = budget.make_plan(120, 5.0, long[:1], n_cv=8, folds=3)
    assert alone.folds == 0 and alone.choice_budget_s is None


def test_the_final_schedule_is_refitted_in_whole_epochs_not_cut_by_its_time_guard(tiny_folder):
    proposed = replace(tiny_candidate(tiny_folder, "c", 1e-2, 300), step_seconds=0.5)
    plan = budget.make_plan(240, 5.0, [proposed], n_cv=8, folds=2, estimate_single=True)
    fold = budget.fit_candidate(proposed, plan, n_cv=8)
    final, why = budget.final_config(fold, proposed.config, 120.0, n_train=8, step_s=0.5)
    patches = final.data.patches
    steps_per_epoch = 8 * patches.samples_per_image // patches.batch_size
    planned = final.train.max_epochs * steps_per_epoch * 0.5
    assert 0.8 * 120 <= planned <= 120  # the time is filled ...
    assert final.train.max_epochs > fold.config.train.max_epochs  # ... with more epochs,
    assert final.train.max_time_s >= budget.GUARD_FACTOR * planned  # not cut by the guard
    assert "as observed in training" in why


def notebook_defaults(name: str) -> dict:
    """The settings of a tutorial's parameters cell at its ``default`` level."""
    from im2im_helpers import levels

    nb = json.loads((NOTEBOOKS / name).read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "BY_LEVEL" in source and "LEVEL =" in source:
            namespace: dict = {}
            exec(compile(source, name, "exec"), namespace)
            namespace.update(levels.choose("default", namespace["BY_LEVEL"], namespace,
                                           verbose=False))
            return namespace
    raise AssertionError(f"{name}: no parameters cell")


@pytest.mark.parametrize("task, notebook", [("labelfree", "01_labelfree_2d.ipynb"),
                                            ("semantic", "04_semantic_segmentation.ipynb")])
def test_the_first_candidate_is_the_tutorials_default_recipe(task, notebook):
    pairs = discs(3, radius=12, shape=(160, 160))
    auto_task = get_task(task)
    first = propose(profile_data(pairs), DEVICE, auto_task, "x", LoadConfig(),
                    [{"kind": "foreground"}] if auto_task.segmentation else [], n_train=2)[0]
    nb = notebook_defaults(notebook)
    cfg = first.config
    assert cfg.data.patches.patch == [nb["PATCH"]] * 2
    assert cfg.data.patches.batch_size == nb["BATCH"]
    assert cfg.data.patches.samples_per_image == nb["SAMPLES_PER_IMAGE"]
    assert cfg.data.patches.augment == "flips"
    assert cfg.model["channels"] == list(nb["CHANNELS"])
    assert cfg.task.hparams["lr"] == nb["LEARNING_RATE"]
    assert recipes(auto_task, profile_data(pairs))[0].epochs == nb["MAX_EPOCHS"]
    if task == "labelfree":
        assert cfg.task.hparams["scheduler"] == nb["SCHEDULER"] and nb["DROPOUT"] == 0
        assert (cfg.model["norm"], cfg.task.hparams["loss"]) == ("INSTANCE", "mse")
    else:  # set in the notebook's training cell
        assert (cfg.model["norm"], cfg.task.hparams["loss"]) == ("BATCH", "dice_ce")
        assert cfg.task.hparams["scheduler"] == "cosine"


def test_the_budget_is_counted_on_the_wall_or_on_the_processs_cpu():
    assert budget.clock("wall") is time.monotonic and budget.clock("cpu") is time.process_time
    with pytest.raises(AutoError, match=r"clock 'gpu'.*\['cpu', 'wall'\]"):
        budget.clock("gpu")


def test_unknown_tasks_are_refused_with_the_known_ones():
    with pytest.raises(AutoError, match="labelfree.*semantic"):
        get_task("instances")
    assert get_task("segmentation").name == "semantic"
