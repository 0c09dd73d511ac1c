"""Uncertainty maps: TTA agrees with predict.image, is zero for equivariant functions; MC
dropout refuses networks without dropout, is seeded and leaves the model as it was; ensembles
of identical members have no spread."""

import numpy as np
import pytest
import torch
from torch import nn

from im2im_helpers import models, predict, tasks, uncertainty


def image(seed: int = 0, shape=(1, 32, 32)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def symmetric_conv() -> nn.Module:
    """A 3x3 convolution whose kernel has every symmetry of the square: equivariant to the 8
    flips and turns."""
    conv = nn.Conv2d(1, 1, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]))
        conv.bias.fill_(0.5)
    return conv


def test_tta_of_an_equivariant_function_has_zero_spread():
    result = uncertainty.tta(symmetric_conv(), image(), keep_samples=True)
    assert result.method == "tta" and result.members == 8
    assert result.samples.shape == (8, 1, 32, 32)
    np.testing.assert_allclose(result.std, 0, atol=1e-5)
    assert result.per_image == pytest.approx(float(result.std.mean()))


def test_tta_mean_is_predict_image_with_tta_and_the_spread_is_real():
    task = tasks.Supervised(models.build("unet", 2, channels=(4, 8), num_res_units=0))
    x = image(1, (1, 32, 48))
    result = uncertainty.tta(task, x, roi=(32, 16), overlap=0.5)
    np.testing.assert_allclose(result.mean, predict.image(task, x, roi=(32, 16), overlap=0.5,
                                                          tta=True), rtol=1e-5, atol=1e-6)
    assert result.mean.shape == result.std.shape == (1, 32, 48)
    assert result.std.dtype == np.float32 and result.std.min() >= 0 and result.per_image > 0
    assert result.dims == "CYX"


def test_tta_refuses_options_it_owns():
    with pytest.raises(ValueError, match="'tta'"):
        uncertainty.tta(symmetric_conv(), image(), tta=True)
    with pytest.raises(ValueError, match="time point"):
        uncertainty.tta(symmetric_conv(), image(), time_axis=True)


def test_mc_dropout_without_dropout_says_how_to_get_it():
    task = tasks.Supervised(models.build("unet", 2, channels=(4, 8), dropout=0.0))
    assert uncertainty.dropout_layers(task) == []
    with pytest.raises(ValueError, match=r"dropout > 0"):
        uncertainty.mc_dropout(task, image())


def test_mc_dropout_is_seeded_and_spreads(dropout_task):
    x = image(2)
    a = uncertainty.mc_dropout(dropout_task, x, n=4, seed=3, keep_samples=True)
    b = uncertainty.mc_dropout(dropout_task, x, n=4, seed=3)
    c = uncertainty.mc_dropout(dropout_task, x, n=4, seed=4)
    np.testing.assert_array_equal(a.std, b.std)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert not np.array_equal(a.std, c.std)
    assert a.method == "mc_dropout" and a.seed == 3 and a.members == 4
    assert a.samples.shape == (4, 1, 32, 32) and a.per_image > 0
    # the members differ from each other and from the deterministic prediction
    plain = predict.image(dropout_task, x)
    assert not np.allclose(a.samples[0], plain)
    with pytest.raises(ValueError, match="at least 2"):
        uncertainty.mc_dropout(dropout_task, x, n=1)


def test_mc_dropout_leaves_modes_normalisation_and_random_state_alone(dropout_task):
    dropout_task.train()
    modes = {name: m.training for name, m in dropout_task.named_modules()}
    bn = next(m for m in dropout_task.modules() if isinstance(m, nn.BatchNorm2d))
    running = bn.running_mean.clone()
    state = torch.get_rng_state()
    uncertainty.mc_dropout(dropout_task, image(3), n=3, seed=0)
    assert {name: m.training for name, m in dropout_task.named_modules()} == modes
    assert torch.equal(bn.running_mean, running)  # batch norm ran in evaluation mode
    assert torch.equal(torch.get_rng_state(), state)
    assert all(not m._forward_pre_hooks for m in uncertainty.dropout_layers(dropout_task))


def test_dropout_active_only_switches_dropout_on(dropout_task):
    dropout_task.eval()
    x = torch.from_numpy(image(4))[None]
    with torch.no_grad():
        plain = dropout_task(x)
        with uncertainty.dropout_active(dropout_task) as layers:
            dropped = dropout_task(x)
        again = dropout_task(x)
    assert layers and not torch.equal(plain, dropped)
    assert torch.equal(plain, again)


def test_ensemble_of_identical_members_has_zero_spread():
    members = [tasks.Supervised(models.build("unet", 2, channels=(4, 8), seed=0))
               for _ in range(3)]
    same = uncertainty.ensemble(members, image(5))
    np.testing.assert_allclose(same.std, 0, atol=1e-6)
    np.testing.assert_allclose(same.mean, predict.image(members[0], image(5)), atol=1e-6)
    assert same.method == "ensemble" and same.members == 3 and same.seed is None
    members[1] = tasks.Supervised(models.build("unet", 2, channels=(4, 8), seed=1))
    assert uncertainty.ensemble(members, image(5)).per_image > 0
    with pytest.raises(ValueError, match="at least 2"):
        uncertainty.ensemble(members[:1], image(5))


def test_ensemble_members_must_agree_in_shape():
    a = models.build("unet", 2, channels=(4, 8), out_channels=1)
    b = models.build("unet", 2, channels=(4, 8), out_channels=2)
    with pytest.raises(ValueError, match="same shape"):
        uncertainty.ensemble([a, b], image(6))


def test_probabilities_of_a_segmentation_task_and_3d():
    seg = tasks.Supervised(models.build("unet", 2, channels=(4, 8)), loss="dice_ce")
    result = uncertainty.tta(seg, image(7))
    assert 0 <= result.mean.min() and result.mean.max() <= 1
    assert result.std.max() <= 0.5
    net3d = models.build("unet", 3, channels=(4, 8))
    result3d = uncertainty.tta(net3d, image(8, (1, 8, 16, 16)), roi=(8, 16, 8))
    assert result3d.std.shape == (1, 8, 16, 16) and result3d.dims == "CZYX"
