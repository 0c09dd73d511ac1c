"""The acceptance test of ``tasks.Diffusion``: its reverse process turns pure noise into images of
the training distribution, on a toy problem it learns in seconds."""

import numpy as np
import torch

from im2im_helpers import tasks
from im2im_helpers.tasks.diffusion import network

LEVELS = np.array([0.2, 0.8])  # the two intensities of the training images (normalised range)
SIZE = 8


def toy_batch(n: int, generator: torch.Generator) -> dict:
    """``n`` flat images, each at one of two intensity levels drawn at random with equal odds,
    and an input image that says nothing (zeros): the model must learn the distribution."""
    level = torch.tensor(LEVELS, dtype=torch.float32)[torch.randint(0, 2, (n,),
                                                                    generator=generator)]
    target = level.view(n, 1, 1, 1).expand(n, 1, SIZE, SIZE).contiguous()
    return {"input": torch.zeros(n, 1, SIZE, SIZE), "target": target}


def toy_model(steps: int) -> tasks.Diffusion:
    """A tiny diffusion task (the default schedule and prediction type) after ``steps`` Adam
    steps on the toy batches (learning rate annealed along a cosine)."""
    torch.manual_seed(0)
    task = tasks.Diffusion(network(2, channels=(8, 16), norm_num_groups=4, num_head_channels=4),
                           sampling_steps=20)
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    generator = torch.Generator().manual_seed(1)
    task.train()
    for _ in range(steps):
        loss = task.noise_loss(toy_batch(32, generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return task.eval()


def statistics(task: tasks.Diffusion, n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each of ``n`` samples drawn from pure noise, in the
    images' normalised range."""
    task.reseed(0)
    with torch.no_grad():
        samples = task.postprocess(task(torch.zeros(n, 1, SIZE, SIZE))).numpy()[:, 0]
    return samples.mean(axis=(1, 2)), samples.std(axis=(1, 2))


def distance_to_a_level(means: np.ndarray) -> np.ndarray:
    return np.abs(means[:, None] - LEVELS).min(axis=1)


def test_the_reverse_process_turns_noise_into_images_of_the_training_distribution():
    torch.set_num_threads(1)
    means, spreads = statistics(toy_model(400))
    # pure noise in the images' range has a mean near 0.5 (0.3 from either level) and a spread
    # of 0.5 within each image; the samples are nearly flat images at a training level
    assert distance_to_a_level(means).max() < 0.1, means
    assert np.median(spreads) < 0.15 and spreads.max() < 0.25, spreads
    # ... and both levels come out, about as often as in training (equal odds)
    assert 0.25 <= np.mean(means > 0.5) <= 0.75, means


def test_without_training_the_same_checks_fail():
    """The checks above can fail: the same reverse process with an untrained network leaves
    images far from the training levels or far from flat."""
    torch.set_num_threads(1)
    means, spreads = statistics(toy_model(0))
    assert distance_to_a_level(means).max() >= 0.1 or spreads.max() >= 0.25
