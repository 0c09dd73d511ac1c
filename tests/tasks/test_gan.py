"""GAN tasks: the replay buffer's scheme, the PatchGAN's receptive field, cycle consistency,
pix2pix and CycleGAN learning in 2D and running in 3D, and their runs rebuilt from config.yaml."""

import matplotlib.image
import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from torch import nn

from im2im_helpers import config, data, models, predict, tasks, train
from im2im_helpers.pairs import Pair, Pairs
from im2im_helpers.splits import make_split

UNET = {"name": "unet", "channels": [8, 16], "num_res_units": 0}
SMALL_D = {"features": 8, "n_layers": 2}


def _images(start, n):
    """``n`` images whose every pixel holds its number (``start``, ``start + 1``, ...)."""
    return torch.arange(start, start + n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(
        n, 1, 4, 4).clone()


def test_replay_buffer_returns_new_images_until_full_then_past_ones_half_the_time():
    buffer = tasks.ReplayBuffer(size=50, p=0.5, seed=0)
    for start in range(0, 50, 5):  # filling up: every image is stored and returned
        new = _images(start, 5)
        assert torch.equal(buffer.replay(new), new)
    assert len(buffer) == 50
    stored, returned_past, n = set(range(50)), [], 4000
    for start in range(50, 50 + n, 8):
        out = buffer.replay(_images(start, 8))
        assert out.shape == (8, 1, 4, 4)
        for k, image in enumerate(out):
            value = int(image[0, 0, 0])
            assert torch.equal(image, torch.full_like(image, value))  # whole images, unmixed
            if value == start + k:
                continue
            assert value in stored  # a past image is one that went into the pool before
            returned_past.append(value)
            stored.add(start + k)  # ... and the new image took its place
    assert len(buffer) == 50
    # each past image is handed out once: it leaves the pool when it is returned
    assert len(set(returned_past)) == len(returned_past)
    # Binomial(n, 0.5): 4 standard deviations of the fraction are 4 * sqrt(0.25 / n) = 0.032
    assert abs(len(returned_past) / n - 0.5) < 4 * np.sqrt(0.25 / n)


def test_replay_buffer_is_seeded_and_can_be_turned_off():
    def draws(seed):
        buffer = tasks.ReplayBuffer(size=4, seed=seed)
        return torch.cat([buffer.replay(_images(i, 2)) for i in range(0, 40, 2)])

    assert torch.equal(draws(0), draws(0)) and not torch.equal(draws(0), draws(1))
    new = _images(0, 3)
    assert tasks.ReplayBuffer(size=0).replay(new) is new


@pytest.mark.parametrize(("dims", "n_layers", "size"), [(2, 3, 128), (2, 1, 48), (3, 1, 32)])
def test_patch_discriminator_sees_exactly_its_documented_receptive_field(dims, n_layers, size):
    net = models.patch_discriminator(dims, 1, features=4, n_layers=n_layers, norm=None).double()
    for m in net.modules():  # positive weights: every path adds a positive gradient
        if isinstance(m, nn.Conv2d | nn.Conv3d):
            nn.init.constant_(m.weight, 1.0 / m.weight[0].numel())
            nn.init.zeros_(m.bias)
    x = torch.randn(1, 1, *[size] * dims, dtype=torch.float64, requires_grad=True)
    out = net(x)
    centre = tuple(s // 2 for s in out.shape[2:])
    out[(0, 0, *centre)].backward()
    seen = torch.nonzero(x.grad[0, 0])
    side = models.receptive_field(n_layers)
    extent = seen.max(0).values - seen.min(0).values + 1
    assert extent.tolist() == [side] * dims and len(seen) == side**dims  # a full box
    assert seen.min() > 0 and seen.max() < size - 1  # not clipped by the image border
    assert models.receptive_field(3) == 70


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
    assert tasks.CycleGAN({**UNET, "dims": 2}).identity_weight == 0.5
    two_to_one = {**UNET, "dims": 2, "in_channels": 2}
    task = tasks.CycleGAN(two_to_one)
    assert task.identity_weight == 0.0 and task.net_ba.im2im_spec["out_channels"] == 2
    with pytest.raises(ValueError, match="identity_weight=0"):
        tasks.CycleGAN(two_to_one, identity_weight=0.5)
    with pytest.raises(ValueError, match=r"no option \['layers'\]"):
        tasks.Pix2Pix({**UNET, "dims": 2}, discriminator={"layers": 2})
    with pytest.raises(ValueError, match="adversarial loss"):
        tasks.Pix2Pix({**UNET, "dims": 2}, loss="mse")


def _volumes(n=3, shape=(16, 24, 24)):
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        x = rng.random(shape).astype(np.float32)[None]
        items.append(Pair(f"vol{i}", x, ndi.gaussian_filter(x, (0, 1, 1, 1))))
    return Pairs(items, {"source": {"folder": "memory"}})


@pytest.mark.parametrize(("task_class", "loss"), [(tasks.Pix2Pix, "bce"),
                                                (tasks.CycleGAN, "lsgan")])
def test_gan_tasks_run_and_resume_in_3d(task_class, loss, tmp_path):
    split = make_split(_volumes(), tmp_path / "split.json", test=1, val=1, shuffle=False)
    dm = data.patches(split, patch=(16, 16, 16), batch=2, samples_per_image=2)

    def task():
        return task_class({**UNET, "dims": 3}, loss=loss, scheduler="cosine",
                          discriminator=SMALL_D)

    run = train.fit(task(), dm, tmp_path / "run", max_epochs=2, progress=False)
    history = run.history()
    assert len(history["train_loss_epoch"]) == 2 and len(history["val_loss"]) == 2
    assert np.isfinite([v for *_, v in history["train_loss_epoch"]]).all()
    assert run.trainer.global_step == 2 * 2  # one batch per epoch, two optimiser steps each
    assert [o.param_groups[0]["lr"] for o in run.trainer.optimizers] == pytest.approx([0, 0])
    test = split.test[0]
    assert predict.image(run.model, test.input, roi=(16, 16, 16)).shape == test.target.shape
    assert (run.path / "samples" / "epoch_001.png").is_file()
    resumed = train.fit(task(), dm, run.path, max_epochs=3, resume=True, progress=False)
    assert resumed.trainer.global_step == 3 * 2
    assert [e for e, _, _ in resumed.history()["val_loss"]] == [0, 1, 2]


def test_adversarial_losses():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert tasks.gan.adversarial_loss(ones, True).item() == 0.0
    assert tasks.gan.adversarial_loss(ones, False).item() == 1.0
    assert tasks.gan.adversarial_loss(zeros, True, "bce").item() == pytest.approx(np.log(2))
    assert tasks.gan.adversarial_loss(-20 * ones, False, "bce").item() < 1e-8


def _epochs(run, name):
    return [v for _, _, v in run.history()[name]]


def _pairs_run(pair_folder, tmp_path):
    pairs = data.load(pair_folder)
    split = data.split(pairs, test=1, val=1, path=tmp_path / "split.json")
    return data.patches(split, patch=(32, 32), batch=4, samples_per_image=8)


def _check_reload(run, task_class):
    """config.yaml rebuilds the same task; the checkpoint reloads the trained weights."""
    cfg = config.load(run.path / "config.yaml")
    assert cfg.task.kind == run.model.config["kind"]
    rebuilt, _ = config.build(cfg)
    assert type(rebuilt) is task_class and rebuilt.config == run.model.config
    loaded = train.load_run_model(run.path, task_class)
    assert loaded.config == run.model.config
    for (name, a), b in zip(run.model.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    return loaded


def test_pix2pix_learns_a_2d_mapping_and_reloads(pair_folder, tmp_path):
    dm = _pairs_run(pair_folder, tmp_path)
    task = tasks.Pix2Pix({**UNET, "dims": 2}, lr=2e-3, discriminator=SMALL_D, samples=2)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=5, progress=False)
    l1 = _epochs(run, "train_g_l1_epoch")
    assert l1 == _epochs(run, "train_loss_epoch") and l1[-1] < 0.5 * l1[0]
    for term in ("train_g_adv_epoch", "train_d_epoch", "val_loss"):
        assert len(_epochs(run, term)) == 5 and np.isfinite(_epochs(run, term)).all()
    assert run.best_checkpoint is not None
    figure = matplotlib.image.imread(run.path / "samples" / "epoch_004.png")
    assert figure.shape[0] > 100 and figure.shape[1] > 150  # 2 rows, 3 columns
    assert sorted(p.name for p in (run.path / "samples").iterdir()) == [
        f"epoch_{e:03d}.png" for e in range(5)]  # nothing half-written left behind
    loaded = _check_reload(run, tasks.Pix2Pix)
    assert loaded.hparams["discriminator"]["n_layers"] == 2 and loaded.l1_weight == 100.0
    image = dm.split.test[0].input
    assert predict.image(loaded, image, roi=(32, 32)).shape == image.shape


def test_cyclegan_lowers_its_cycle_loss_and_reloads(pair_folder, tmp_path):
    dm = _pairs_run(pair_folder, tmp_path)
    task = tasks.CycleGAN({**UNET, "dims": 2}, lr=2e-3, discriminator=SMALL_D, pool_size=8)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=5, progress=False)  # 30 batches
    cycle = _epochs(run, "train_cycle_epoch")
    assert cycle == _epochs(run, "train_loss_epoch") and cycle[-1] < 0.5 * cycle[0]
    for term in ("train_g_adv_epoch", "train_identity_epoch", "train_d_a_epoch",
                 "train_d_b_epoch", "val_loss"):
        assert len(_epochs(run, term)) == 5 and np.isfinite(_epochs(run, term)).all()
    loaded = _check_reload(run, tasks.CycleGAN)
    assert loaded.hparams["model_ba"]["seed"] == 1 and loaded.identity_weight == 0.5
    assert len(loaded.pool_a) == len(loaded.pool_b) == 8  # replay buffers come back too
