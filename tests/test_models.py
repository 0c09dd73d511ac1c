"""The network factory: every net in 2D and 3D, seeded weights, clear option errors, and the
PatchGAN discriminator's receptive field (:mod:`im2im_helpers.models`)."""

import pytest
import torch
from torch import nn

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


@pytest.mark.parametrize("dims", [2, 3])
def test_unet_head_channels_end_in_a_1x1_convolution_of_that_many_maps(dims):
    net = models.build("unet", dims, in_channels=1, out_channels=5, channels=(4, 8),
                       head_channels=12, seed=3)
    head = net[-1]
    assert isinstance(head, nn.Conv2d if dims == 2 else nn.Conv3d)
    assert (head.in_channels, head.out_channels, head.kernel_size) == (12, 5, (1,) * dims)
    assert net[0].out_channels == 12  # the U-Net itself ends in the 12 maps
    assert net(torch.randn(2, 1, *[16] * dims)).shape == (2, 5, *[16] * dims)
    rebuilt = models.build(**net.im2im_spec)  # the spec keeps the head
    assert rebuilt.im2im_spec["head_channels"] == 12
    for a, b in zip(net.state_dict().items(), rebuilt.state_dict().items()):
        assert a[0] == b[0]
        torch.testing.assert_close(a[1], b[1])
    plain = models.build("unet", dims, in_channels=1, out_channels=5, channels=(4, 8))
    assert not isinstance(plain, nn.Sequential)  # without the option: MONAI's UNet as it is


@pytest.mark.parametrize(("dims", "n_layers", "size"), [(2, 3, 128), (2, 1, 48), (3, 1, 32)])
def test_patch_discriminator_sees_exactly_its_documented_receptive_field(dims, n_layers, size):
    net = models.patch_discriminator(dims, 1, features=4, n_layers=n_layers, norm=None).double()
    for m in net.modules():  # positive weights: every path adds a positive gradient
        if isinstance(m, nn.Conv2d | nn.Conv3d):
            nn.init.constant_(m.weight, 1.0 / m.weight[0].numel())
            nn.init.zeros_(m.bias)
    x = torch.randn(1, 1, *[size] * dims, dtype=torch.float64, requires_grad=True)
    out = net(x)
    centre = tuple(s // 2 for s in out.shape[2:])
    out[(0, 0, *centre)].backward()
    seen = torch.nonzero(x.grad[0, 0])
    side = models.receptive_field(n_layers)
    extent = seen.max(0).values - seen.min(0).values + 1
    assert extent.tolist() == [side] * dims and len(seen) == side**dims  # a full box
    assert seen.min() > 0 and seen.max() < size - 1  # not clipped by the image border
    assert models.receptive_field(3) == 70
