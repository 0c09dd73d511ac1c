"""What both GAN tasks stand on: the replay buffer's scheme, the adversarial losses, and both
tasks running and resuming in 3D (:mod:`im2im_helpers.tasks.gan`)."""

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from im2im_helpers import data, predict, tasks, train
from im2im_helpers.data.pairs import Pair, Pairs
from im2im_helpers.data.splits import make_split
from tests.tasks.helpers import SMALL_D, UNET


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


def test_adversarial_losses():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert tasks.gan.adversarial_loss(ones, True).item() == 0.0
    assert tasks.gan.adversarial_loss(ones, False).item() == 1.0
    assert tasks.gan.adversarial_loss(zeros, True, "bce").item() == pytest.approx(np.log(2))
    assert tasks.gan.adversarial_loss(-20 * ones, False, "bce").item() < 1e-8


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
    dm = data.patches(split, patch=(16, 16, 16), batch_size=2, samples_per_image=2)

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
