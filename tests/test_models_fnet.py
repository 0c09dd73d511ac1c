"""The FNet U-Net of pytorch_fnet in the network factory (:func:`im2im_helpers.models.build`
``"fnet"``): 2D and 3D, its options and their errors, its parameter names and counts, its size
divisor, and training (a few optimiser steps, and a run folder through ``train.fit`` that
``config.yaml`` rebuilds)."""

import numpy as np
import pytest
import torch

from im2im_helpers import config, data, models, predict, tasks, train


def expected_parameters(dims: int, depth: int, mult_chan: int, in_channels: int,
                        out_channels: int) -> int:
    """Trainable parameters of pytorch_fnet's U-Net, counted level by level: two 3-pixel
    convolutions with batch norm on the way down; on each level above the bottom two more on
    the concatenated way up, a kernel-2 stride-2 convolution and a transposed one from twice
    the channels, each with batch norm; a 3-pixel convolution out."""
    k3, k2 = 3**dims, 2**dims

    def double(c_in, c_out):
        return (c_in * k3 + 1 + 2) * c_out + (c_out * k3 + 1 + 2) * c_out

    total, channels, width = 0, in_channels, mult_chan
    for level in range(depth + 1):
        total += double(channels, width)
        if level < depth:
            total += double(2 * width, width)
            total += (width * k2 + 1 + 2) * width + (2 * width * k2 + 1 + 2) * width
        channels, width = width, 2 * width
    return total + (mult_chan * k3 + 1) * out_channels


@pytest.mark.parametrize("dims", [2, 3])
def test_fnet_in_2d_and_3d(dims):
    net = models.build("fnet", dims=dims, in_channels=2, out_channels=3, depth=2, mult_chan=4)
    assert isinstance(net, models.FNet)
    spec = net.im2im_spec
    assert spec == {"name": "fnet", "dims": dims, "in_channels": 2, "out_channels": 3, "seed": 0,
                    "depth": 2, "mult_chan": 4}
    rebuilt = models.build(**spec)
    for a, b in zip(net.state_dict().values(), rebuilt.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)  # same spec + seed -> same initial weights
    assert models.count_parameters(net) == expected_parameters(dims, 2, 4, 2, 3)
    x = torch.randn(2, 2, *([16] * dims))
    assert net(x).shape == (2, 3, *([16] * dims))


@pytest.mark.parametrize(("dims", "depth", "mult_chan", "count"),
                         [(2, 4, 32, 8_116_225), (3, 4, 32, 23_280_769)])
def test_the_papers_fnet_has_pytorch_fnets_parameter_count(dims, depth, mult_chan, count):
    """``count``: the trainable parameters of MMV_Im2Im's ``fnet_nn_2d.Net()`` and
    ``fnet_nn_3d.Net()``, counted on the networks of its source."""
    net = models.build("fnet", dims)  # the defaults are the paper's: depth 4, mult_chan 32
    assert (net.depth, net.mult_chan) == (depth, mult_chan)
    assert models.count_parameters(net) == expected_parameters(dims, depth, mult_chan, 1, 1)
    assert models.count_parameters(net) == count


def test_parameter_names_and_widths_are_pytorch_fnets():
    net = models.build("fnet", 2, depth=2, mult_chan=4)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes["net_recurse.sub_2conv_more.conv1.weight"] == (4, 1, 3, 3)
    assert shapes["net_recurse.sub_2conv_less.conv1.weight"] == (4, 8, 3, 3)
    assert shapes["net_recurse.conv_down.weight"] == (4, 4, 2, 2)
    assert shapes["net_recurse.bn0.running_var"] == (4,)
    assert shapes["net_recurse.convt.weight"] == (8, 4, 2, 2)  # transposed: (in, out, k, k)
    assert shapes["net_recurse.sub_u.sub_2conv_more.conv2.weight"] == (8, 8, 3, 3)
    assert shapes["net_recurse.sub_u.sub_u.sub_2conv_more.conv1.weight"] == (16, 8, 3, 3)
    assert "net_recurse.sub_u.sub_u.sub_u.sub_2conv_more.conv1.weight" not in shapes  # bottom
    assert "net_recurse.sub_u.sub_u.conv_down.weight" not in shapes
    assert shapes["conv_out.weight"] == (1, 4, 3, 3)
    assert models.build("fnet", 3, depth=0, mult_chan=2)(torch.ones(1, 1, 3, 5, 7)).shape == \
        (1, 1, 3, 5, 7)  # depth 0: two convolutions and the output one, any size


def test_size_divisor_is_two_to_the_depth_and_prediction_pads_to_it():
    assert models.size_divisor({"name": "fnet", "depth": 3}) == 8
    assert models.size_divisor({"name": "fnet"}) == 16  # the default depth, 4
    net = models.build("fnet", 2, depth=3, mult_chan=2).eval()
    assert models.size_divisor(net.im2im_spec) == 8
    x = np.random.default_rng(0).random((1, 21, 30)).astype(np.float32)
    assert predict.image(net, x).shape == (1, 21, 30)
    with pytest.raises(RuntimeError):
        net(torch.from_numpy(x)[None])  # unpadded, the skip connections do not fit


def test_fnet_options_and_their_errors():
    with pytest.raises(ValueError, match=r"no option \['channels'\]; its options are "
                                         r"\['activation', 'depth', 'mult_chan'\]"):
        models.build("fnet", 2, channels=(4, 8))
    with pytest.raises(ValueError, match=r"depth=-1; expected a whole number >= 0"):
        models.build("fnet", 2, depth=-1)
    with pytest.raises(ValueError, match=r"mult_chan=2.5; expected a whole number >= 1"):
        models.build("fnet", 2, mult_chan=2.5)
    net = models.build("fnet", 2, depth=1, mult_chan=2, activation="sigmoid")
    y = net(100 * torch.randn(2, 1, 8, 8))
    assert 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("dims", [2, 3])
def test_fnet_trains(dims):
    """A few Adam steps fit a smooth map of one random batch (batch norm in training mode)."""
    torch.manual_seed(0)
    net = models.build("fnet", dims, depth=2, mult_chan=4, seed=1)
    x = torch.rand(4 if dims == 2 else 2, 1, *([16 if dims == 2 else 12] * dims))
    target = torch.nn.functional.avg_pool2d(x.flatten(0, 1) if dims == 2 else x.flatten(1, 2),
                                            3, 1, 1).reshape(x.shape) * 2 - 0.5
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), target)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < 0.2 * losses[0]


def test_an_fnet_run_folder_is_rebuilt_from_its_config(pair_folder, tmp_path):
    pairs = data.load(pair_folder)
    split = data.split(pairs, test=1, val=1, seed=0, path=tmp_path / "split.json")
    dm = data.patches(split, patch=(32, 32), batch_size=4, samples_per_image=4, seed=0)
    task = tasks.Supervised(models.build("fnet", 2, depth=2, mult_chan=4), loss="mse", lr=3e-3)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=2, progress=False)
    cfg = config.load(run.path / "config.yaml")
    assert cfg.model == task.hparams["model"] and cfg.model["name"] == "fnet"
    rebuilt, _ = config.build(cfg)
    assert isinstance(rebuilt.net, models.FNet) and rebuilt.net.mult_chan == 4
    loaded = train.load_run_model(run.path, tasks.Supervised)
    x = np.random.default_rng(1).random((1, 40, 44)).astype(np.float32)
    np.testing.assert_allclose(predict.image(loaded, x), predict.image(task.eval(), x),
                               atol=1e-5)
