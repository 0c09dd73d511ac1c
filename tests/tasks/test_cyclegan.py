"""CycleGAN: cycle consistency and the identity term, and a 2D run that lowers its cycle loss
and reloads with its replay buffers (:mod:`im2im_helpers.tasks.cyclegan`)."""

import numpy as np
import pytest
import torch
from torch import nn

from im2im_helpers import models, tasks, train
from tests.tasks.helpers import SMALL_D, UNET, check_reload, epochs, pairs_run


def _scale(factor):
    conv = nn.Conv2d(1, 1, 1)
    nn.init.constant_(conv.weight, factor)
    nn.init.zeros_(conv.bias)
    return conv


def _discriminators():
    return [models.patch_discriminator(2, 1, features=4, n_layers=1, seed=s) for s in (0, 1)]


def test_cycle_loss_is_zero_when_the_generators_undo_each_other():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 1, 32, 32, generator=g), torch.rand(2, 1, 32, 32, generator=g)
    same = tasks.CycleGAN(nn.Identity(), model_ba=nn.Identity(), discriminator=_discriminators())
    assert same.cycle_loss(a, b).item() == 0.0 and same.identity_loss(a, b).item() == 0.0
    # G doubles, F halves (exact in floating point): cycle-consistent, but not the identity
    inverse = tasks.CycleGAN(_scale(2.0), model_ba=_scale(0.5), discriminator=_discriminators())
    assert inverse.cycle_loss(a, b).item() == 0.0 and inverse.identity_loss(a, b) > 0.1
    broken = tasks.CycleGAN(_scale(2.0), model_ba=_scale(2.0), discriminator=_discriminators())
    assert broken.cycle_loss(a, b) > 1.0


def test_identity_loss_is_off_between_domains_with_different_channels():
    assert tasks.CycleGAN({**UNET, "dims": 2}).hparams.identity_weight == 0.5
    two_to_one = {**UNET, "dims": 2, "in_channels": 2}
    task = tasks.CycleGAN(two_to_one)
    assert task.hparams.identity_weight == 0.0 and task.net_ba.im2im_spec["out_channels"] == 2
    with pytest.raises(ValueError, match="identity_weight=0"):
        tasks.CycleGAN(two_to_one, identity_weight=0.5)


@pytest.mark.slow
def test_cyclegan_lowers_its_cycle_loss_and_reloads(pair_folder, tmp_path):
    dm = pairs_run(pair_folder, tmp_path)
    task = tasks.CycleGAN({**UNET, "dims": 2}, lr=2e-3, discriminator=SMALL_D, pool_size=8)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=5, progress=False)  # 30 batches
    cycle = epochs(run, "train_cycle_epoch")
    assert cycle == epochs(run, "train_loss_epoch") and cycle[-1] < 0.5 * cycle[0]
    for term in ("train_g_adv_epoch", "train_identity_epoch", "train_d_a_epoch",
                 "train_d_b_epoch", "val_loss"):
        assert len(epochs(run, term)) == 5 and np.isfinite(epochs(run, term)).all()
    loaded = check_reload(run, tasks.CycleGAN)
    assert loaded.hparams["model_ba"]["seed"] == 1 and loaded.hparams.identity_weight == 0.5
    assert len(loaded.pool_a) == len(loaded.pool_b) == 8  # replay buffers come back too
