"""What automatic configuration sees in the data, and the candidates it derives from that."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from im2im_helpers import config, models
from im2im_helpers.auto import budget
from im2im_helpers.auto.candidates import patch_size, propose
from im2im_helpers.auto.kinds import AutoError, get_task
from im2im_helpers.auto.profile import DeviceProfile, profile_data
from im2im_helpers.data import LoadConfig, Pair, Pairs

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
    plan = budget.make_plan(600, 2.0, slow, n_cv=6, folds=3)
    assert plan.trials == 2 and plan.train_s > budget.MIN_TRAIN_S
    assert plan.search_deadline_s < 600 - plan.final_s


def test_unknown_tasks_are_refused_with_the_known_ones():
    with pytest.raises(AutoError, match="labelfree.*semantic"):
        get_task("instances")
    assert get_task("segmentation").name == "semantic"
