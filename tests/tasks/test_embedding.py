"""Embedding-based instance segmentation (EmbedSeg-style): medoid centres lie inside curved
objects, clustering recovers objects (also non-convex and touching ones) from perfect
embeddings in 2D and 3D, the loss prefers the perfect embedding, a tiny network learns, and
``segment`` returns label images that survive OME-TIFF."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from im2im_helpers import config, data, instances, io, metrics, models, tasks, train
from im2im_helpers.pairs import Pair, Pairs
from im2im_helpers.splits import make_split
from im2im_helpers.tasks.embedding import (
    InstanceEmbedding,
    embedding_loss,
    lovasz_hinge,
    n_outputs,
)

PS = instances.PIXEL_SIZE


@pytest.fixture(autouse=True)
def one_thread():
    # two cores shared with other jobs: more threads make small convolutions far slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _u_shape(shape, top, left, height=20, width=18, thick=5):
    """A U (opening upwards) in the last two axes: its centroid lies in the gap, outside."""
    m = np.zeros(shape[-2:], bool)
    m[top:top + height, left:left + thick] = True
    m[top:top + height, left + width - thick:left + width] = True
    m[top + height - thick:top + height, left:left + width] = True
    return m


def scene_2d() -> np.ndarray:
    """64 x 64: a U, a curved arc, a disk and a rectangle touching the disk-free border."""
    lab = np.zeros((64, 64), np.int32)
    lab[_u_shape(lab.shape, 4, 4)] = 1
    yy, xx = np.indices(lab.shape)
    r = np.hypot(yy - 60, xx - 60)
    lab[(r >= 14) & (r <= 19) & (yy < 58)] = 2  # quarter ring: curved, centroid outside
    lab[np.hypot(yy - 12, xx - 44) <= 6] = 3
    lab[44:60, 4:14] = 4
    return lab


def scene_3d() -> np.ndarray:
    """16 x 32 x 32: an extruded U, a ball and a box."""
    lab = np.zeros((16, 32, 32), np.int32)
    lab[3:13][:, _u_shape((32, 32), 2, 2, height=14, width=13, thick=4)] = 1
    zz, yy, xx = np.indices(lab.shape)
    lab[np.sqrt((zz - 8) ** 2 + (yy - 22) ** 2 + (xx - 22) ** 2) <= 5] = 2
    lab[2:8, 4:10, 20:30] = 3
    return lab


def perfect(labels: np.ndarray, sigma_px: float = 2.0):
    """Perfect embedding of a label image: every object pixel points exactly at its medoid."""
    ids, centres = instances.centres_of(labels)
    index = np.indices(labels.shape).astype(np.float32)
    target = index.copy()
    for i, c in zip(ids, centres):
        target[:, labels == i] = c[:, None]
    offsets = (target - index) * PS  # 0 on background
    sigma = np.full((labels.ndim, *labels.shape), sigma_px * PS, np.float32)
    seed = (labels > 0).astype(np.float32)
    return offsets, sigma, seed


def perfect_raw(labels: np.ndarray, sigma_px: float = 2.0, sigma_init: float = 8.0):
    """The raw network outputs (before tanh/exp/sigmoid) of :func:`perfect`, with background
    pixels pointing far outside the image (near no centre)."""
    offsets, sigma, seed = perfect(labels, sigma_px)
    offsets[:, labels == 0] = -0.9
    raw = np.concatenate([np.arctanh(offsets), np.log(sigma / (sigma_init * PS)),
                          (seed * 20 - 10)[None]])
    return torch.tensor(raw[None], dtype=torch.float32)


def check_label_image(lab: np.ndarray, shape) -> int:
    """Integer labels, background 0, objects 1..N; returns N."""
    assert lab.shape == tuple(shape) and lab.dtype == np.int32
    values = np.unique(lab)
    assert values[0] == 0 and np.array_equal(values, np.arange(len(values)))
    return len(values) - 1


def test_coordinate_grid_is_pixel_index_times_pixel_size():
    g = instances.coordinate_grid((3, 4, 5))
    assert g.shape == (3, 3, 4, 5) and g.dtype == torch.float32
    assert g[:, 2, 1, 4].tolist() == pytest.approx([2 * PS, 1 * PS, 4 * PS])
    assert instances.coordinate_grid((8, 8), pixel_size=0.5)[1, 0, 7] == 3.5


@pytest.mark.parametrize("scene", [scene_2d, scene_3d])
def test_medoids_lie_inside_curved_objects_whose_centroid_does_not(scene):
    lab = scene()
    ids, centres = instances.centres_of(lab)
    assert ids.tolist() == [1, 2, 3] + ([4] if lab.ndim == 2 else [])
    for i, c in zip(ids, centres):
        assert lab[tuple(c)] == i
    u_centroid = np.round(ndi.center_of_mass(lab == 1)).astype(int)
    assert lab[tuple(u_centroid)] == 0  # the U's centroid is in its gap
    disk = np.zeros((21, 21), np.int32)
    disk[np.hypot(*(np.indices(disk.shape) - 10)) <= 8] = 7
    assert instances.centres_of(disk)[1].tolist() == [[10, 10]]  # symmetric: its centre
    # subsampled medoid of a large object still lies inside it
    big = np.zeros((200, 200), np.int32)
    big[_u_shape(big.shape, 10, 10, height=150, width=150, thick=20)] = 1
    c = instances.centres_of(big, max_points=64)[1][0]
    assert big[tuple(c)] == 1


@pytest.mark.parametrize("scene", [scene_2d, scene_3d])
def test_cluster_recovers_objects_from_a_perfect_embedding(scene):
    lab = scene()
    out = instances.cluster(*perfect(lab), min_size=5)
    assert check_label_image(out, lab.shape) == lab.max()
    ap = metrics.average_precision(out, lab)
    assert all(v == 1.0 for v in ap.values()), ap
    # also from torch tensors, one bandwidth for all axes
    offsets, sigma, seed = perfect(lab)
    out2 = instances.cluster(torch.tensor(offsets), torch.tensor(sigma[:1]), torch.tensor(seed))
    assert metrics.match_instances(out2, lab, 0.99)["ap"] == 1.0


def test_cluster_separates_touching_objects_despite_noise():
    lab = np.zeros((40, 48), np.int32)
    lab[8:32, 6:24] = 1
    lab[8:32, 24:42] = 2  # shares a whole edge with object 1
    lab[2:6, 2:6] = 3  # 16 pixels
    rng = np.random.default_rng(0)
    offsets, sigma, seed = perfect(lab, sigma_px=3.0)
    offsets += rng.normal(0, 0.5 * PS, offsets.shape).astype(np.float32) * (lab > 0)
    seed = np.clip(seed * rng.uniform(0.92, 1.0, seed.shape), 0, 1)
    out = instances.cluster(offsets, sigma, seed, min_size=20)
    assert check_label_image(out, lab.shape) == 2  # the 16-pixel object is below min_size
    r = metrics.match_instances(out, np.where(lab == 3, 0, lab), 0.99)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 0, 0)
    # one merged blob when the bandwidth is wider than the distance between the centres
    merged = instances.cluster(offsets, sigma * 10, seed, min_size=20)
    assert check_label_image(merged, lab.shape) == 1


def test_cluster_of_background_or_low_seediness_is_empty():
    offsets, sigma, seed = perfect(scene_2d())
    assert not instances.cluster(offsets, sigma, seed * 0).any()
    assert not instances.cluster(offsets, sigma, seed * 0.8).any()  # foreground, no seed
    assert instances.cluster(offsets, sigma, seed * 0.8, seed_threshold=0.7).max() == 4
    with pytest.raises(ValueError, match="sigma"):
        instances.cluster(offsets, sigma[:, :10], seed)


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
    opt = torch.optim.Adam(task.parameters(), lr=task.lr)
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
    dm = data.patches(split, patch=(32, 32), batch=2, samples_per_image=2)
    task = InstanceEmbedding({**TINY_2D, "channels": (4, 8)}, min_size=7, seed_threshold=0.8)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=1, progress=False)
    history = run.history()
    assert np.isfinite([v for *_, v in history["train_loss_epoch"]]).all()
    assert np.isfinite([v for *_, v in history["val_loss"]]).all()
    saved = config.load(tmp_path / "run" / "config.yaml")
    assert saved.task.kind == "embedding" and saved.task.loss == "lovasz"
    assert saved.task.options["min_size"] == 7
    again = train.load_run_model(tmp_path / "run", InstanceEmbedding)
    assert again.seed_threshold == 0.8 and again.hparams["model"]["out_channels"] == 5
    t = config.from_dict(saved.to_dict()).task  # validates the options against the task
    rebuilt = tasks.TASKS[t.kind](saved.model, loss=t.loss, lr=t.lr, weight_decay=t.weight_decay,
                                  scheduler=t.scheduler, **t.options)  # as config.build does
    assert isinstance(rebuilt, InstanceEmbedding) and rebuilt.min_size == 7
