"""The embedding task (EmbedSeg-style instance segmentation): the loss prefers the perfect
embedding, a tiny network learns, ``segment`` blends windows and returns label images that
survive OME-TIFF, clustering thresholds are tuned on validation images, test-time
augmentation turns offsets back, and a run's config rebuilds the task
(:mod:`im2im_helpers.tasks.embedding`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from im2im_helpers import config, data, io, metrics, models, tasks, train
from im2im_helpers.data.pairs import Pair, Pairs
from im2im_helpers.data.splits import make_split
from im2im_helpers.tasks import instances
from im2im_helpers.tasks.embedding import (
    InstanceEmbedding,
    embedding_loss,
    lovasz_hinge,
    n_outputs,
)
from tests.tasks.helpers import PS, check_label_image, perfect_raw, scene_2d, scene_3d

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lovasz_hinge_values():
    labels = torch.tensor([[1, 1, 0, 0, 0], [0, 1, 0, 0, 0]])
    assert lovasz_hinge(torch.where(labels > 0, 1.0, -1.0), labels).tolist() == [0, 0]
    assert lovasz_hinge(torch.zeros(2, 5), labels).tolist() == pytest.approx([1, 1])
    # one background pixel wrongly at +1 (error 2): Jaccard weight 1/3 for a 2-pixel object
    logits = torch.tensor([[1.0, 1.0, 1.0, -1.0, -1.0]])
    assert lovasz_hinge(logits, labels[:1]).item() == pytest.approx(2 / 3)


@pytest.mark.parametrize("scene", [scene_2d, scene_3d])
def test_loss_is_lower_for_the_perfect_embedding(scene):
    lab = scene()
    target = torch.tensor(lab[None, None], dtype=torch.float32)
    good = perfect_raw(lab)
    zero = good.clone()
    zero[:, :lab.ndim] = 0  # every pixel points at itself
    perfect_loss = embedding_loss(good, target).item()
    zero_loss = embedding_loss(zero, target).item()
    assert perfect_loss < 0.01
    assert zero_loss > 0.5
    # a patch without objects: only the seed term, zero when the seediness is 0 everywhere
    empty = torch.zeros_like(target)
    seeds_only = embedding_loss(good, empty).item()  # seediness 1 where nothing is
    assert seeds_only == pytest.approx((lab > 0).mean(), rel=1e-3)
    quiet = good.clone()
    quiet[:, -1] = -20
    assert embedding_loss(quiet, empty).item() < 1e-6
    pred = zero.clone().requires_grad_(True)
    embedding_loss(pred, target).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[:, :lab.ndim].abs().sum() > 0


def blobs(rng: np.random.Generator, shape=(64, 64), n=4) -> tuple[np.ndarray, np.ndarray]:
    """An image of ``n`` non-touching disks (blurred, noisy) and its label image."""
    lab = np.zeros(shape, np.int32)
    yy, xx = np.indices(shape)
    k = 0
    while k < n:
        rad = rng.uniform(5, 8)
        cy, cx = rng.uniform(rad + 1, np.array(shape) - rad - 1)
        disk = np.hypot(yy - cy, xx - cx) <= rad
        if not (ndi.binary_dilation(disk, iterations=3) & (lab > 0)).any():
            k += 1
            lab[disk] = k
    img = ndi.gaussian_filter((lab > 0).astype(np.float32), 1) + rng.normal(0, 0.1, shape)
    return img[None].astype(np.float32), lab


TINY_2D = {"name": "unet", "dims": 2, "channels": (8, 16, 32), "num_res_units": 0}


def fit_steps(task, x: torch.Tensor, target: torch.Tensor, steps: int) -> list[float]:
    """Train ``task`` with Adam on one fixed batch; the loss after every step."""
    opt = torch.optim.Adam(task.parameters(), lr=task.hparams.lr)
    losses = []
    for _ in range(steps):
        loss = task.compute_loss(task(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.fixture(scope="module")
def trained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    samples = [blobs(rng) for _ in range(4)]
    x = torch.tensor(np.stack([d[0] for d in samples]))
    t = torch.tensor(np.stack([d[1] for d in samples]))[:, None].float()
    task = InstanceEmbedding(TINY_2D, lr=1e-2)
    losses = fit_steps(task, x, t, 60)
    torch.set_num_threads(threads)
    return task, samples, losses


def test_a_tiny_network_learns_and_segments(trained):
    task, samples, losses = trained
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), (losses[:5], losses[-5:])
    img, lab = samples[0]
    out = task.segment(img)
    assert check_label_image(out, lab.shape) >= 1
    assert metrics.match_instances(out, lab, 0.5)["ap"] >= 0.5
    probs = task.postprocess(task(torch.tensor(img[None])))[0]
    assert probs.shape == (5, 64, 64)
    assert (probs[:2].abs() <= 1).all() and (probs[2:4] > 0).all()
    assert ((probs[4] >= 0) & (probs[4] <= 1)).all()


def test_segment_labels_survive_ome_tiff(trained, tmp_path):
    task, samples, _ = trained
    out = task.segment(samples[1][0], roi=(32, 32))
    assert out.max() >= 1
    path = io.write_ome_tiff(tmp_path / "labels.ome.tiff", out, "YX")
    back = io.read(path).data[0, 0, 0]
    assert np.issubdtype(back.dtype, np.integer)
    assert np.array_equal(back, out)


class Oracle(torch.nn.Module):
    """A 'network' that reads the perfect raw outputs off its input channels: fg mask, centre
    (Y, X) and position (Y, X) in pixels. Pointwise, so any sliding window sees the same."""

    def forward(self, x):
        fg, centre, pos = x[:, :1], x[:, 1:3], x[:, 3:5]
        offset = torch.atanh((centre - pos) * PS) * fg
        sigma = torch.full_like(centre, float(np.log(2.0 / 8.0)))
        return torch.cat([offset, sigma, fg * 20 - 10], dim=1)


def test_segment_blends_sliding_windows_into_whole_objects():
    lab = scene_2d()
    ids, centres = instances.centres_of(lab)
    index = np.indices(lab.shape).astype(np.float32)
    centre = index.copy()
    for i, c in zip(ids, centres):
        centre[:, lab == i] = c[:, None]
    x = np.concatenate([(lab > 0)[None], centre, index]).astype(np.float32)
    task = InstanceEmbedding(Oracle())
    out = task.segment(x, roi=(32, 32), min_size=5)  # objects span several windows
    assert check_label_image(out, lab.shape) == 4
    assert metrics.match_instances(out, lab, 0.99)["ap"] == 1.0


def test_3d_forward_loss_and_segment():
    rng = np.random.default_rng(1)
    lab = scene_3d()
    x = (ndi.gaussian_filter((lab > 0).astype(np.float32), 1)
         + rng.normal(0, 0.1, lab.shape).astype(np.float32))[None]
    net = models.build("unet", 3, out_channels=n_outputs(3), channels=(4, 8), num_res_units=0)
    task = InstanceEmbedding(net, lr=1e-2)
    xt, t = torch.tensor(x[None]), torch.tensor(lab[None, None], dtype=torch.float32)
    losses = fit_steps(task, xt, t, 3)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert task(xt).shape == (1, 7, 16, 32, 32)
    out = task.segment(x, seed_threshold=0.5, fg_threshold=0.3)
    check_label_image(out, lab.shape)


def test_network_outputs_must_match_the_embedding():
    assert n_outputs(2) == 5 and n_outputs(3) == 7 and n_outputs(3, False) == 5
    task = InstanceEmbedding({**TINY_2D, "channels": (4, 8)}, sigma_per_axis=False)
    assert task.hparams["model"]["out_channels"] == 4
    with pytest.raises(ValueError, match="out_channels=1"):
        InstanceEmbedding({**TINY_2D, "out_channels": 1})
    with pytest.raises(ValueError, match="output channels"):
        InstanceEmbedding(models.build("unet", 2, out_channels=3, channels=(4, 8)))
    with pytest.raises(ValueError, match="lovasz"):
        InstanceEmbedding(TINY_2D, loss="mse")


def test_fit_saves_a_config_that_rebuilds_the_task(tmp_path):
    rng = np.random.default_rng(2)
    items = []
    for i in range(3):
        img, lab = blobs(rng, (48, 48), n=3)
        items.append(Pair(f"img{i}", img, lab[None].astype(np.float32)))
    split = make_split(Pairs(items, {"source": {"folder": "memory"}}), tmp_path / "split.json",
                       test=1, val=1, shuffle=False)
    dm = data.patches(split, patch=(32, 32), batch_size=2, samples_per_image=2)
    task = InstanceEmbedding({**TINY_2D, "channels": (4, 8)}, min_size=7, seed_threshold=0.8)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=1, progress=False)
    history = run.history()
    assert np.isfinite([v for *_, v in history["train_loss_epoch"]]).all()
    assert np.isfinite([v for *_, v in history["val_loss"]]).all()
    saved = config.load(tmp_path / "run" / "config.yaml")
    assert saved.task.kind == "embedding" and saved.task.hparams["loss"] == "lovasz"
    assert saved.task.hparams["min_size"] == 7
    again = train.load_run_model(tmp_path / "run", InstanceEmbedding)
    assert again.hparams.seed_threshold == 0.8 and again.hparams["model"]["out_channels"] == 5
    t = config.from_dict(saved.to_dict()).task  # validates the hparams against the task
    rebuilt = tasks.TASKS[t.kind](saved.model, **t.hparams)  # as config.build does
    assert isinstance(rebuilt, InstanceEmbedding) and rebuilt.hparams.min_size == 7


class _PerfectEmbedding(torch.nn.Module):
    """Outputs the raw values of a perfect embedding of a fixed label image (see
    :func:`tests.tasks.helpers.perfect_raw`), with the seediness of one object lowered to 0.6."""

    def __init__(self, raw: np.ndarray):
        super().__init__()
        self.raw = torch.nn.Parameter(torch.as_tensor(raw)[None], requires_grad=False)

    def forward(self, x):
        return self.raw.expand(x.shape[0], -1, -1, -1).clone()


def test_clustering_thresholds_are_tuned_on_validation_images():
    labels = np.zeros((32, 32), np.int32)
    labels[4:12, 4:14], labels[18:28, 6:16], labels[16:30, 20:28] = 1, 2, 3
    raw = perfect_raw(labels)[0].numpy()
    raw[-1][labels == 3] = np.log(0.6 / 0.4)  # object 3: seediness 0.6 only
    task = tasks.InstanceEmbedding(_PerfectEmbedding(raw))
    image = np.zeros((1, 32, 32), np.float32)
    assert len(np.unique(task.segment(image))) - 1 == 2  # the default threshold 0.9 misses it
    tuned = task.tune_clustering([image], [labels], seed_thresholds=(0.9, 0.5),
                                 fg_thresholds=(0.5,), min_sizes=(10, 200))
    assert tuned.value == (0.5, 0.5, 10) and tuned.scores[(0.9, 0.5, 10)] < 1.0
    assert tuned.scores[(0.5, 0.5, 200)] == 0  # every object is smaller than 200 pixels
    assert task.hparams.seed_threshold == 0.5
    assert len(np.unique(tuned(image))) - 1 == 3  # the tuned method segments an image
    assert len(np.unique(task.segment(image))) - 1 == 3  # kept for later calls


class _GradientEmbedding(torch.nn.Module):
    """Offsets = the image's gradient along each axis (antisymmetric: they change sign when
    the image is flipped along that axis), bandwidth 0, seediness = the image: a network that
    is exactly equivariant to flips."""

    def forward(self, x):
        grads = torch.gradient(x[:, 0], dim=tuple(range(1, x.ndim - 1)))
        dims = x.ndim - 2
        return torch.cat([torch.stack(grads, 1), torch.zeros_like(x).expand(-1, dims, *x.shape[2:]),
                          x], 1)


@pytest.mark.parametrize("shape", [(32, 32), (8, 16, 16)])
def test_embedding_tta_turns_offsets_back_with_the_flips(shape):
    rng = np.random.default_rng(0)
    image = ndi.gaussian_filter(rng.random(shape), 2)[None].astype(np.float32) * 10
    task = tasks.InstanceEmbedding(_GradientEmbedding())
    plain, averaged = task.embed(image), task.embed(image, tta=True)
    dims = len(shape)
    assert np.abs(plain[:dims]).mean() > 0.05  # offsets that a wrong sign would cancel
    np.testing.assert_allclose(averaged, plain, atol=1e-5)


def test_the_batched_loss_is_the_mean_of_the_loss_of_each_image():
    """The loss handles all objects of a batch at once; it equals the per-image losses averaged
    (an image without objects contributes its seed term), values and gradients."""
    labs = [scene_2d(), np.zeros_like(scene_2d()), np.flip(scene_2d(), 1).copy()]
    target = torch.tensor(np.stack(labs)[:, None], dtype=torch.float32)
    raw = torch.randn(len(labs), n_outputs(2), *labs[0].shape, generator=torch.Generator()
                      .manual_seed(0)).requires_grad_(True)
    embedding_loss(raw, target).backward()
    alone = raw.detach().clone().requires_grad_(True)
    torch.stack([embedding_loss(alone[i:i + 1], target[i:i + 1])
                 for i in range(len(labs))]).mean().backward()
    assert embedding_loss(raw, target).item() == pytest.approx(
        np.mean([embedding_loss(raw[i:i + 1], target[i:i + 1]).item() for i in range(3)]),
        rel=1e-5)
    assert torch.allclose(raw.grad, alone.grad, atol=1e-7)
