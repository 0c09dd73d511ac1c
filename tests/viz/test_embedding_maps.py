"""The figure of a spatial-embedding network's outputs: offsets as arrows, seediness, and the
embedded pixels (:func:`im2im_helpers.viz.overlays.embedding_maps`)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from im2im_helpers.viz import overlays  # noqa: E402


def _perfect_embeddings(labels: np.ndarray, pixel_size: float) -> np.ndarray:
    """Offsets that move every object pixel onto its object's mean position; seediness 1 on
    objects, 0 elsewhere; bandwidths 1."""
    out = np.zeros((5, *labels.shape), np.float32)
    yy, xx = np.indices(labels.shape)
    for k in np.unique(labels[labels > 0]):
        inside = labels == k
        out[0][inside] = (yy[inside].mean() - yy[inside]) * pixel_size
        out[1][inside] = (xx[inside].mean() - xx[inside]) * pixel_size
    out[2:4], out[4] = 1.0, labels > 0
    return out


def test_embedding_maps_draws_arrows_seediness_and_embedded_pixels(tmp_path):
    labels = np.zeros((40, 40), np.int32)
    labels[4:16, 4:16], labels[20:36, 22:34] = 1, 2
    pixel_size = 1 / 128
    emb = _perfect_embeddings(labels, pixel_size)
    fig = overlays.embedding_maps(np.zeros((1, 40, 40)), emb, pixel_size, step=2,
                                  path=tmp_path / "e.png", title="two squares")
    assert (tmp_path / "e.png").stat().st_size
    arrows = fig.axes[0].collections[0]
    assert len(arrows.get_offsets()) == (labels[::2, ::2] > 0).sum()  # object pixels only
    # every object pixel lands on its object's centre: the embeddings form two points
    landed = np.unique(np.round(fig.axes[2].collections[0].get_offsets(), 3), axis=0)
    assert landed.tolist() == [[9.5, 9.5], [27.5, 27.5]]
    crop = (slice(0, 20), slice(0, 20))
    zoomed = overlays.embedding_maps(np.zeros((40, 40)), emb, pixel_size, crop=crop, step=2)
    assert len(zoomed.axes[0].collections[0].get_offsets()) == (labels[:20:2, :20:2] > 0).sum()


def test_embedding_maps_refuses_outputs_that_are_not_2d_embeddings():
    with pytest.raises(ValueError, match="expected 2D embeddings"):
        overlays.embedding_maps(np.zeros((8, 8)), np.zeros((1, 8, 8)), 1 / 128)
    with pytest.raises(ValueError, match="differ"):
        overlays.embedding_maps(np.zeros((8, 8)), np.zeros((5, 9, 9)), 1 / 128)
