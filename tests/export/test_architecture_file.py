"""The architecture file every package carries rebuilds exactly the networks of
:func:`im2im_helpers.models.build` (same parameter names and shapes, same outputs) with torch
and MONAI alone; and the receptive field that sets a package's halo is the true one."""

from __future__ import annotations

import ast

import pytest
import torch

from im2im_helpers import models
from im2im_helpers.export import architecture, network

SMALL = {"unet": {"channels": (4, 8, 16), "num_res_units": 1},
         "basic_unet": {"features": (4, 4, 8, 8, 8, 4)},
         "attention_unet": {"channels": (4, 8)},
         "dyn_unet": {"filters": (4, 8, 16)}}
#: Every network in its small plain form, and the variants its options make: (name, options).
CASES = {**{name: (name, options) for name, options in SMALL.items()},
         "unet with a head": ("unet", {"channels": (4, 8), "head_channels": 6})}


def test_the_monai_networks_of_models_build_have_an_architecture():
    assert set(SMALL) <= set(architecture.NETWORKS) <= set(models.BUILDERS)
    assert set(architecture.ACTIVATIONS) == set(models.ACTIVATIONS)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("activation", [None, "sigmoid"])
def test_the_architecture_file_rebuilds_the_network(case, activation):
    name, small = CASES[case]
    dims = 2 if name == "basic_unet" else 3
    net = models.build(name, dims, 1, 2, activation=activation, **small).eval()
    options = {**small, "activation": activation}
    rebuilt = architecture.build_network(name, dims, 1, 2, options=options).eval()
    rebuilt.net.load_state_dict(net.state_dict(), strict=True)
    size = models.size_divisor(net.im2im_spec) * 2
    x = torch.randn(1, 1, *[size] * dims)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


def test_the_architecture_file_imports_only_torch_and_monai():
    tree = ast.parse(open(architecture.__file__).read())
    roots = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for a in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert roots <= {"__future__", "torch", "monai"}


@pytest.mark.parametrize("name,options,radius", [
    ("unet", {"channels": (4, 8), "num_res_units": 0}, 4),
    ("unet", {"channels": (4, 8, 16), "num_res_units": 2}, 23),
    ("dyn_unet", {"filters": (4, 8, 16)}, 20),
])
def test_the_receptive_field_is_where_a_pixel_stops_mattering(name, options, radius):
    """With batch norm in eval mode (pixel-wise), a change of an input pixel changes an output
    pixel only within the measured radius, and the radius is reached: for some output pixel
    (the reach depends on its position within a period of the strides) on some side."""
    net = models.build(name, 2, **options, norm="BATCH").eval().double()
    step = models.size_divisor(net.im2im_spec)
    field = network.receptive_field(net, 2, step)
    assert field == [radius, radius]
    x = torch.randn(1, 1, 128, 128, dtype=torch.float64)
    reached = set()
    with torch.no_grad():
        for c in range(64, 64 + step):
            base = net(x)[0, :, c, c]
            for distance in (radius, radius + 1):
                for axis, sign in ((2, 1), (2, -1), (3, 1), (3, -1)):
                    moved = x.clone()
                    index = [0, 0, c, c]
                    index[axis] += sign * distance
                    moved[tuple(index)] += 10
                    if (net(moved)[0, :, c, c] - base).abs().max() > 0:
                        reached.add(distance)
    assert reached == {radius}


def test_halo_and_sizes():
    assert network.halo([45, 45], [64, 256]) == [16, 45]
    assert network.min_sizes([16, 45], 8) == [40, 96]
    assert network.min_sizes([0], 16) == [16]
