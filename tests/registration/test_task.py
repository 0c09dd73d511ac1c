"""The ``Registration`` task: a small LocalNet trained briefly on known random fields of real
images recovers held-out translations and smooth fields; runs in 3D; refuses pairs of two
shapes; trains and reloads through ``train.fit``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from im2im_helpers.data import deform
from im2im_helpers.metrics.registration import endpoint_error, folding_fraction, ncc
from im2im_helpers.tasks.registration import Registration, network

#: Training of the shared network: LocalNet (8 initial channels, 2 levels) on 32 x 32 patches
#: of six frames of the ndev transmitted-light time-lapse, with random translations and smooth
#: random fields (alternating batches) of up to MAX_SHIFT pixels, supervised by the true field
#: (plus MSE similarity and bending), Adam at 1e-2 for STEPS steps (about 15 s on one thread).
MAX_SHIFT = 2.0
STEPS = 300
PATCH = 32


def patches(images: list[np.ndarray], n: int, rng: np.random.Generator) -> torch.Tensor:
    out = []
    for _ in range(n):
        image = images[rng.integers(len(images))]
        y, x = (int(rng.integers(0, s - PATCH + 1)) for s in image.shape[1:])
        out.append(image[:, y:y + PATCH, x:x + PATCH])
    return torch.from_numpy(np.stack(out))


@pytest.fixture(scope="module")
def trained(transmitted) -> Registration:
    torch.manual_seed(0)
    task = Registration({"name": "localnet", "dims": 2, "num_channel_initial": 8, "depth": 2},
                        similarity="mse", bending=0.1, supervised=1.0)
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    images = [p.input for p in transmitted[:6]]
    generator = torch.Generator().manual_seed(0)
    for step in range(STEPS):
        moving = patches(images, 8, rng)
        u = deform.random_fields(8, (PATCH, PATCH), ("smooth", "translation")[step % 2],
                                 MAX_SHIFT, random_scale=True, generator=generator)
        loss = task.losses(moving, deform.warp_tensor(moving, u), u)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return task.eval()


def held_out(transmitted, kind: str):
    """Triplets from frames the network never saw (t07 ... t09)."""
    return deform.deformed(transmitted[7:], kind, MAX_SHIFT, per_image=6, crop=(PATCH, PATCH),
                           seed=11)


def test_a_trained_network_recovers_held_out_translations(trained, transmitted):
    errors, zero = [], []
    for t in held_out(transmitted, "translation"):
        u, warped = trained.register(t.moving, t.fixed)
        assert u.shape == (2, PATCH, PATCH) and warped.shape == t.moving.shape
        estimate = np.median(u.reshape(2, -1), axis=1)  # the translation the field says
        errors.append(np.linalg.norm(estimate - t.displacement[:, 0, 0]))
        zero.append(np.linalg.norm(t.displacement[:, 0, 0]))
    assert np.mean(zero) == pytest.approx(MAX_SHIFT)
    assert np.mean(errors) < 1.3, errors  # 1.0 px measured (zero field: 2 px)


def test_a_trained_network_recovers_held_out_smooth_fields(trained, transmitted):
    triplets = held_out(transmitted, "smooth")
    net = [endpoint_error(trained.register(t.moving, t.fixed)[0], t.displacement)
           for t in triplets]
    zero = [endpoint_error(np.zeros_like(t.displacement), t.displacement) for t in triplets]
    # measured: 0.56 px against 1.02 px for the zero field
    assert np.mean(net) < 0.75 * np.mean(zero), (np.mean(net), np.mean(zero))
    u, warped = trained.register(triplets[0].moving, triplets[0].fixed)
    assert folding_fraction(u) < 0.01
    assert ncc(warped, triplets[0].fixed) > ncc(triplets[0].moving, triplets[0].fixed)


def test_3d_networks_predict_one_displacement_per_axis():
    moving, fixed = torch.rand(2, 1, 8, 16, 16), torch.rand(2, 1, 8, 16, 16)
    for spec in ({"name": "localnet", "dims": 3, "num_channel_initial": 4, "depth": 2},
                 {"name": "voxelmorph", "dims": 3, "channels": (4, 8, 8, 8),
                  "final_conv_channels": (4,)},
                 {"name": "globalnet", "dims": 3, "image_size": (8, 16, 16),
                  "num_channel_initial": 4, "depth": 2}):
        task = Registration(spec, integration_steps=3 if spec["name"] == "voxelmorph" else 0,
                            deform={"kind": "affine", "max_displacement": 1.0})
        terms = task.losses(*task.synthesize(moving))
        assert set(terms) >= {"loss", "similarity", "bending", "epe"}
        assert task(moving, fixed).shape == (2, 3, 8, 16, 16)
        u, warped = task.register(moving[0].numpy(), fixed[0].numpy())
        assert u.shape == (3, 8, 16, 16) and warped.shape == (1, 8, 16, 16)
    rng = np.random.default_rng(0)
    u, _ = task.register(rng.random((1, 10, 20, 12)), rng.random((1, 10, 20, 12)))
    assert u.shape == (3, 10, 20, 12)


def test_a_globalnet_field_is_rescaled_to_images_of_another_size():
    """GlobalNet sees both images resized to its patch size; its affine field is scaled back."""
    task = Registration({"name": "globalnet", "dims": 2, "image_size": (16, 16),
                         "num_channel_initial": 4, "depth": 2})
    with torch.no_grad():  # the affine map of the untrained head: a shift of (1, -2) pixels
        task.net.output_block.fc.bias.copy_(torch.tensor([1.0, 0, 1, 0, 1, -2]))
    image = np.random.default_rng(0).random((1, 31, 46)).astype(np.float32)
    u, warped = task.register(image, image)
    np.testing.assert_allclose(u[0], 1 * 30 / 15, atol=1e-4)
    np.testing.assert_allclose(u[1], -2 * 45 / 15, atol=1e-4)
    assert warped.shape == image.shape


def test_images_of_different_shapes_are_refused_naming_both_parameters():
    task = Registration(network("localnet", 2, num_channel_initial=4, depth=1))
    with pytest.raises(ValueError, match=r"moving has shape \(1, 16, 16\) but fixed has shape "
                                         r"\(1, 16, 12\)"):
        task.register(np.zeros((1, 16, 16)), np.zeros((1, 16, 12)))
    with pytest.raises(ValueError, match="moving has shape .* but fixed has shape"):
        task(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 4))
    with pytest.raises(ValueError, match="similarity='ssd'"):
        Registration({"name": "localnet", "dims": 2}, similarity="ssd")
    with pytest.raises(ValueError, match="deform: unknown setting"):
        Registration({"name": "localnet", "dims": 2}, deform={"sigma": 3})
    with pytest.raises(ValueError, match="in_channels=1"):
        network("unet", 2, in_channels=1)


def test_fit_trains_logs_and_reloads_a_registration_run(tmp_path, transmitted):
    from im2im_helpers import data, train

    pairs = deform.consecutive(data.Pairs(transmitted[:4], transmitted.config))
    split = data.split(pairs, test=1, val=1, path=tmp_path / "split.json")
    dm = data.patches(split, patch=(32, 32), batch_size=2, samples_per_image=1, augment="none")
    task = Registration({"name": "localnet", "dims": 2, "num_channel_initial": 4, "depth": 2},
                        similarity="lncc", deform=None)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=1, progress=False)
    history = (run.path / "logs" / "attempt-0" / "metrics.csv").read_text()
    assert "val_similarity" in history and "train_loss" in history
    again = train.load_run_model(run.path, Registration)
    assert again.hparams.deform is None and again.hparams.model["name"] == "localnet"
    moving, fixed = pairs[0].input[:, :32, :32], pairs[0].target[:, :32, :32]
    np.testing.assert_allclose(again.register(moving, fixed)[0],
                               run.model.register(moving, fixed)[0], atol=1e-6)
    # known random fields of the same patches: the endpoint error is logged too
    synthetic = Registration({"name": "localnet", "dims": 2, "num_channel_initial": 4,
                              "depth": 2}, supervised=1.0, deform={"kind": "translation"})
    run = train.fit(synthetic, dm, tmp_path / "synthetic", max_epochs=1, progress=False)
    assert "val_epe" in (run.path / "logs" / "attempt-0" / "metrics.csv").read_text()
    assert "kind: translation" in (run.path / "config.yaml").read_text()
    # the run's config.yaml rebuilds the task and its time-lapse pairs (python -m ... train)
    from im2im_helpers import config

    cfg = config.load(tmp_path / "run" / "config.yaml")
    rebuilt, rebuilt_dm = config.build(cfg)
    assert isinstance(rebuilt, Registration) and rebuilt.hparams.deform is None
    assert cfg.data.transforms[-1]["kind"] == "consecutive"
