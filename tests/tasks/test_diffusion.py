"""``tasks.Diffusion``: a conditional diffusion model learns, samples reproducibly, reloads from
its run folder, and its samples give an uncertainty map."""

import numpy as np
import pytest
import torch

from im2im_helpers import models, predict, tasks, train, uncertainty
from im2im_helpers.tasks.diffusion import from_model_range, network, to_model_range
from tests.tasks.helpers import check_reload, epochs, pairs_run

TINY = dict(channels=(8, 16), norm_num_groups=4, num_head_channels=4)


@pytest.fixture
def tiny_task():
    return tasks.Diffusion(network(2, **TINY), lr=3e-3, timesteps=100, sampling_steps=5)


def test_the_network_sees_target_and_condition_and_its_size_divisor_is_known():
    net = network(2, in_channels=2, out_channels=1, **TINY)
    assert net.im2im_spec["in_channels"] == 3 and net.im2im_spec["out_channels"] == 1
    assert models.size_divisor(net.im2im_spec) == 2
    out = net(torch.zeros(2, 3, 16, 16), timesteps=torch.tensor([0, 50]))
    assert out.shape == (2, 1, 16, 16)
    y = torch.rand(3, 1, 4, 4)
    torch.testing.assert_close(from_model_range(to_model_range(y)), y)


def test_sampling_is_reproducible_after_reseeding_and_differs_between_seeds(tiny_task):
    x = torch.rand(2, 1, 16, 16)
    state = torch.random.get_rng_state()
    tiny_task.eval()
    with torch.no_grad():
        tiny_task.reseed(3)
        a = tiny_task(x)
        b = tiny_task(x)  # the next noise of the same sequence
        tiny_task.reseed(3)
        again = tiny_task(x)
    assert a.shape == (2, 1, 16, 16) and torch.isfinite(a).all()
    torch.testing.assert_close(a, again)
    assert not torch.allclose(a, b)
    assert torch.equal(state, torch.random.get_rng_state())  # the global random state is left


def test_training_lowers_the_noise_loss_and_the_run_reloads(pair_folder, tmp_path, tiny_task):
    torch.set_num_threads(1)
    run = train.fit(tiny_task, pairs_run(pair_folder, tmp_path), tmp_path / "run", max_epochs=6,
                    seed=0, progress=False)
    losses = epochs(run, "train_loss_epoch")
    assert losses[-1] < 0.7 * losses[0], losses  # the noise is learned from the condition
    loaded = check_reload(run, tasks.Diffusion)
    assert loaded.hparams.sampling_steps == 5 and loaded.hparams.timesteps == 100
    image = np.random.default_rng(0).random((1, 48, 64)).astype(np.float32)
    loaded.reseed(0)
    first = predict.image(loaded, image, roi=(32, 32))
    loaded.reseed(0)
    torch.testing.assert_close(torch.from_numpy(predict.image(loaded, image, roi=(32, 32))),
                               torch.from_numpy(first))
    assert first.shape == image.shape


def test_diffusion_samples_give_a_mean_and_a_spread(tiny_task):
    image = np.random.default_rng(1).random((1, 32, 32)).astype(np.float32)
    result = uncertainty.diffusion(tiny_task, image, roi=(32, 32), n=3, seed=2, steps=2,
                                   keep_samples=True)
    assert result.method == "diffusion" and result.samples.shape == (3, 1, 32, 32)
    np.testing.assert_allclose(result.mean, result.samples.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert result.std.shape == image.shape and result.std.mean() > 0
    again = uncertainty.diffusion(tiny_task, image, roi=(32, 32), n=3, seed=2, steps=2)
    np.testing.assert_array_equal(again.mean, result.mean)
    assert tiny_task.hparams.sampling_steps == 5  # steps= applied to this call only


def test_bad_settings_are_refused_with_what_to_do(tiny_task):
    with pytest.raises(ValueError, match="diffusion_unet"):
        tasks.Diffusion(models.build("unet", 2, channels=(4, 8)))
    with pytest.raises(ValueError, match="sampling_steps"):
        tasks.Diffusion(network(2, **TINY), timesteps=10, sampling_steps=50)
    with pytest.raises(ValueError, match="noise_schedule"):
        tasks.Diffusion(network(2, **TINY), noise_schedule="cosine")
    image = np.zeros((1, 16, 16), np.float32)
    with pytest.raises(ValueError, match="at least 2 samples"):
        uncertainty.diffusion(tiny_task, image, n=1)
    with pytest.raises(ValueError, match="not a diffusion model"):
        uncertainty.diffusion(models.build("unet", 2, channels=(4, 8)), image)


def test_fewer_than_one_sampling_step_is_refused_naming_the_parameter(tiny_task):
    for steps in (0, -3, 2.5):
        with pytest.raises(ValueError, match=r"sampling_steps=.*from 1 to timesteps \(100\)"):
            tasks.Diffusion(network(2, **TINY), timesteps=100, sampling_steps=steps)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        for steps in (0, -1):  # 0 steps is refused, not read as "the default"
            with pytest.raises(ValueError, match=f"sampling_steps={steps}"):
                tiny_task.sample(x, steps=steps)
        image = np.zeros((1, 16, 16), np.float32)
        with pytest.raises(ValueError, match="sampling_steps=0"):
            uncertainty.diffusion(tiny_task, image, n=2, steps=0)
    assert tiny_task.hparams.sampling_steps == 5  # left as it was
    with pytest.raises(ValueError, match="prediction_type"):
        tasks.Diffusion(network(2, **TINY), prediction_type="noise")


class Oracle(torch.nn.Module):
    """A "network" that returns a fixed answer, whatever it is given."""

    def __init__(self, answer: torch.Tensor):
        super().__init__()
        self.answer = answer

    def forward(self, x, timesteps, **_):
        return self.answer


@pytest.mark.parametrize("kind", ["v_prediction", "epsilon", "sample"])
def test_the_loss_compares_the_network_with_what_it_is_asked_to_predict(kind):
    task = tasks.Diffusion(network(2, **TINY), timesteps=100, sampling_steps=5,
                           prediction_type=kind)
    assert task.sampling_noise.prediction_type == kind == task.training_noise.prediction_type
    y = torch.rand(2, 1, 16, 16)
    batch = {"input": torch.rand(2, 1, 16, 16), "target": y}
    generator = torch.Generator().manual_seed(7)  # draws the steps, then the noise
    steps = torch.randint(0, 100, (2,), generator=generator)
    noise = torch.randn(y.shape, generator=generator)
    alpha = task.training_noise.alphas_cumprod[steps].view(-1, 1, 1, 1)
    answers = {"epsilon": noise, "sample": to_model_range(y),
               "v_prediction": alpha.sqrt() * noise - (1 - alpha).sqrt() * to_model_range(y)}
    for answer, value in answers.items():
        task.net = Oracle(value)
        loss = task.noise_loss(batch, torch.Generator().manual_seed(7)).item()
        assert (loss < 1e-10) == (answer == kind), (answer, loss)
