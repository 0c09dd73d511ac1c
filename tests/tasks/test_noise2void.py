"""Noise2Void: the blind spot hides each masked pixel completely, the loss sees masked pixels
only, and the task learns denoising from noisy images alone (2D and 3D)
(:mod:`im2im_helpers.tasks.noise2void`)."""

import numpy as np
import pytest
import torch

from im2im_helpers import config, data, metrics, models, predict, tasks, train
from im2im_helpers.data.pairs import Pair, Pairs
from im2im_helpers.data.splits import make_split
from tests.helpers import noisy_pairs


def _unique_values(shape):
    return torch.arange(int(np.prod(shape)), dtype=torch.float32).reshape(shape)


@pytest.mark.parametrize("shape", [(3, 2, 32, 40), (2, 1, 12, 16, 20)])
def test_blind_spot_hides_each_masked_value_everywhere(shape):
    x = _unique_values(shape)  # every pixel (and channel) holds a different value
    g = torch.Generator().manual_seed(0)
    masked, mask = tasks.blind_spot(x, fraction=0.05, radius=2, generator=g)
    spatial = shape[2:]
    assert mask.shape == (shape[0], 1, *spatial) and mask.dtype == torch.bool
    assert (mask.flatten(1).sum(1) == round(0.05 * np.prod(spatial))).all()
    keep = ~mask.expand_as(x)
    assert torch.equal(masked[keep], x[keep])  # visible pixels untouched
    for b in range(shape[0]):
        hidden_values = set(x[b][mask[b].expand_as(x[b])].tolist())
        assert hidden_values.isdisjoint(masked[b].flatten().tolist())
        # each replacement is the same-channel value of a visible pixel within the radius
        for pos in torch.nonzero(mask[b, 0]):
            value = masked[(b, 0, *pos)].item()
            src = torch.nonzero(x[b, 0] == value)[0]
            assert 0 < (src - pos).abs().max() <= 2
            assert not mask[(b, 0, *src)]
            assert masked[(b, 1, *pos)] == x[(b, 1, *src)] if shape[1] > 1 else True


def test_blind_spot_refuses_patches_too_small_and_too_many_hidden_pixels():
    with pytest.raises(ValueError, match="too small"):
        tasks.blind_spot(torch.zeros(1, 1, 4, 32), radius=2)
    with pytest.raises(ValueError, match="fraction"):
        tasks.blind_spot(torch.zeros(1, 1, 32, 32), fraction=0.5)


def test_masked_loss_counts_only_masked_pixels():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 1, 16, 16, generator=g)
    mask = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    mask[0, 0, 3, 4] = mask[1, 0, 10, 2] = True
    pred = x.clone().requires_grad_(True)
    with torch.no_grad():
        pred[0, 0, 3, 4] += 0.5
        pred[1, 0, 10, 2] -= 0.25
        pred[:, :, 0, 0] += 100  # huge errors outside the mask
    loss = tasks.masked_loss(pred, x, mask)
    assert loss.item() == pytest.approx((0.5**2 + 0.25**2) / 2)
    loss.backward()
    assert torch.count_nonzero(pred.grad) == 2  # gradients only reach the masked pixels


class CenterOnly(torch.nn.Module):
    """A network that can only copy (a scaled) centre pixel: y = a x + b."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return self.conv(x)


def _fit_copier(task_class, steps=150):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    task = task_class(CenterOnly(), lr=0.05)
    opt = torch.optim.Adam(task.parameters(), lr=0.05)
    for _ in range(steps):
        x = torch.randn(4, 1, 32, 32, generator=g)  # pure noise: nothing to predict from context
        batch = {"input": x, "target": x}
        loss = task.training_step(batch, 0) if task_class is not tasks.Supervised else \
            task.compute_loss(task(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return task.net.conv.weight.item()


def test_a_copying_network_cannot_see_the_masked_pixel(monkeypatch):
    monkeypatch.setattr(tasks.Noise2Void, "log", lambda *a, **k: None)
    assert _fit_copier(tasks.Supervised) == pytest.approx(1, abs=0.05)  # it copies when it can
    assert abs(_fit_copier(tasks.Noise2Void)) < 0.1  # behind the blind spot there is nothing


def _noisy_pairs(dims, n=4, seed=0):
    return noisy_pairs((24, 48, 48) if dims == 3 else (96, 96), n, seed)


@pytest.mark.slow
def test_noise2void_learns_to_denoise_from_noisy_images_alone(tmp_path):
    pairs = _noisy_pairs(2)
    # the targets are never read: replace them by garbage to prove it
    blind = Pairs([Pair(p.name, p.input, np.full_like(p.input, 1e6)) for p in pairs],
                  pairs.config)
    split = make_split(blind, tmp_path / "split.json", test=1, val=0, shuffle=False)
    dm = data.patches(split, patch=(48, 48), batch_size=8, samples_per_image=24)
    net = models.build("unet", 2, channels=(16, 32, 64), num_res_units=1, norm="BATCH")
    task = tasks.Noise2Void(net, lr=3e-3, mask_fraction=0.02)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=12, progress=False)
    test = pairs[-1]
    denoised = predict.image(run.model, test.input, roi=(48, 48))
    gain = metrics.psnr(denoised, test.target) - metrics.psnr(test.input, test.target)
    assert gain > 3, f"Noise2Void gained only {gain:.1f} dB"
    saved = config.load(tmp_path / "run" / "config.yaml")
    assert saved.task.kind == "noise2void" and saved.task.hparams["mask_fraction"] == 0.02
    again = train.load_run_model(tmp_path / "run", tasks.Noise2Void)
    assert again.hparams.mask_fraction == 0.02
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert torch.equal(last["blind_spot_generator"], task.generator.get_state())  # resumable


def test_noise2void_runs_in_3d(tmp_path):
    split = make_split(_noisy_pairs(3, n=2), tmp_path / "split.json", test=1, val=0)
    dm = data.patches(split, patch=(16, 32, 32), batch_size=2, samples_per_image=2)
    task = tasks.Noise2Void(models.build("unet", 3, channels=(8, 16), num_res_units=0))
    run = train.fit(task, dm, tmp_path / "run", max_epochs=2, progress=False)
    history = run.history()["train_loss_epoch"]
    assert len(history) == 2 and np.isfinite([v for *_, v in history]).all()
    assert predict.image(run.model, split.test[0].input, roi=(16, 32, 32)).shape == (1, 24, 48, 48)
