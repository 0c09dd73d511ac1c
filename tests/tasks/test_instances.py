"""Instance clustering of embeddings (EmbedSeg-style): medoid centres lie inside curved objects,
and clustering recovers objects (also non-convex and touching ones) from perfect embeddings in
2D and 3D (:mod:`im2im_helpers.tasks.instances`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from im2im_helpers import metrics
from im2im_helpers.tasks import instances
from tests.tasks.helpers import PS, check_label_image, perfect, scene_2d, scene_3d, u_shape

pytestmark = pytest.mark.usefixtures("one_thread")


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
    big[u_shape(big.shape, 10, 10, height=150, width=150, thick=20)] = 1
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
