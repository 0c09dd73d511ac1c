"""The network factory: every net in 2D and 3D, seeded weights, clear option errors."""

import pytest
import torch

from im2im_helpers import models

SMALL = {
    "unet": {"channels": (4, 8, 16)},
    "basic_unet": {"features": (4, 4, 8, 8, 16, 4)},
    "attention_unet": {"channels": (4, 8, 16)},
    "dyn_unet": {"filters": (4, 8, 16)},
}


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("dims", [2, 3])
def test_every_network_in_2d_and_3d(name, dims):
    net = models.build(name, dims=dims, in_channels=2, out_channels=3, **SMALL[name])
    x = torch.randn(1, 2, *([32] * dims))
    assert net(x).shape == (1, 3, *([32] * dims))
    assert net.im2im_spec["name"] == name and net.im2im_spec["dims"] == dims
    rebuilt = models.build(**net.im2im_spec)
    for a, b in zip(net.parameters(), rebuilt.parameters()):
        torch.testing.assert_close(a, b)  # same spec + seed -> same initial weights


def test_seed_changes_weights_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = models.build("unet", 2, seed=0, channels=(4, 8))
    assert torch.rand(1).item() == before.item()
    b = models.build("unet", 2, seed=1, channels=(4, 8))
    assert not torch.equal(next(a.parameters()), next(b.parameters()))


def test_unknown_network_and_option_are_explained():
    with pytest.raises(ValueError, match="choose one of"):
        models.build("resnet", 2)
    with pytest.raises(ValueError, match=r"no option \['chanels'\]"):
        models.build("unet", 2, chanels=(4, 8))


def test_size_divisor():
    assert models.size_divisor({"name": "unet", "channels": [32, 64, 128, 256]}) == 8


def test_output_activation_bounds_the_outputs_and_survives_the_spec():
    net = models.build("unet", 2, channels=(4, 8), activation="sigmoid")
    y = net(100 * torch.randn(2, 1, 16, 16))
    assert 0 <= y.min() and y.max() <= 1
    assert net.im2im_spec["activation"] == "sigmoid"
    rebuilt = models.build(**net.im2im_spec)
    for a, b in zip(net.parameters(), rebuilt.parameters()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="activation='relu'"):
        models.build("unet", 2, channels=(4, 8), activation="relu")
