"""Stand-ins for the MMV_Im2Im paper's model archive (Zenodo 10034416, ``models.zip``), in its
real format but with tiny networks.

Format, as MMV_Im2Im writes it (Lightning 2.0 ``ModelCheckpoint``; its LightningModules save no
hyperparameters): a ``torch.save``-d dictionary with ``epoch``, ``global_step``,
``pytorch-lightning_version``, ``state_dict`` (keys prefixed ``net.`` for FCN, ``generator.`` /
``discriminator.`` for pix2pix, ``generator_model_image_AtoB.`` ... for CycleGAN) and ``loops``;
without ``save_weights_only`` also ``callbacks``, ``optimizer_states``, ``lr_schedulers`` and the
AMP scaler's state. Layout: ``models/labelfree/2d/fnet.ckpt``, ``models/denoising/{tribolium,
planaria}.ckpt`` and three checkpoints in ``models/multiplex/`` (file names not published: the
ones here are made up), as documented by MMV_Im2Im's Docker tutorial. The other applications'
folders are not published; ``models/semantic_seg/2d``, ``models/unsupervised_seg/2d``,
``models/synthetic/3d`` and ``models/instance_seg/2d`` are guesses that exercise the matching by
folder words.

MMV_Im2Im's FNet (``mmv_im2im.models.nets.fnet_nn_2d/3d.Net``, pytorch_fnet's U-Net) is not
installed here: :func:`fnet_layout` states the names and shapes of its ``state_dict`` as its
source defines them, and :func:`fnet_reference` its forward pass, written with
``torch.nn.functional`` on those weights (independently of ``im2im_helpers.models.FNet``).
"""

from __future__ import annotations

import io as stdio
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from monai import transforms
from monai.networks import nets
from torch import nn

LIGHTNING_VERSION = "2.0.0"


def tiny_configs() -> dict[str, dict]:
    """MMV_Im2Im inference configurations (the layout of ``paper_configs/*_inference.yaml``) of
    the paper's mappable applications with tiny networks, by application name."""
    def window(roi):
        return {"sliding_window_params": {"roi_size": roi, "sw_batch_size": 4, "overlap": 0.2,
                                          "mode": "gaussian"}}

    def disc(in_channels):
        return {"type": "predefined_multiscale",
                "params": {"num_discriminator": 2, "spatial_dims": 2, "in_channels": in_channels,
                           "n_layers": 2, "nf": 4, "norm_layer": "INSTANCE"}}

    fnet_3d = {"module_name": "mmv_im2im.models.nets.fnet_nn_3d", "func_name": "Net",
               "params": {"depth": 1, "mult_chan": 2, "in_channels": 1, "out_channels": 1}}
    attention = {"module_name": "monai.networks.nets", "func_name": "AttentionUnet",
                 "params": {"spatial_dims": 2, "in_channels": 1, "out_channels": 1,
                            "channels": [4, 8, 16], "strides": [2, 2]}}
    return {
        "labelfree_2d": {
            "mode": "inference",
            "data": {"preprocess": [{"module_name": "monai.transforms",
                                     "func_name": "NormalizeIntensity"}]},
            "model": {"framework": "FCN",
                      "net": {"module_name": "mmv_im2im.models.nets.fnet_nn_2d",
                              "func_name": "Net", "params": {"depth": 2, "mult_chan": 4}},
                      "checkpoint": "./lightning_logs/version_4/checkpoints/last.ckpt",
                      "model_extra": window([32, 32])}},
        "synthetic_3d_supervised": {
            "mode": "inference",
            "data": {"preprocess": [{"module_name": "monai.transforms",
                                     "func_name": "ScaleIntensityRangePercentiles",
                                     "params": {"lower": 0, "upper": 100, "b_min": -1,
                                                "b_max": 1}}]},
            "model": {"framework": "pix2pix",
                      "net": {"generator": fnet_3d,
                              "discriminator": {**disc(2), "params": {
                                  **disc(2)["params"], "spatial_dims": 3}}},
                      "model_extra": window([8, 16, 16])}},
        "denoising_3d": {
            "mode": "inference",
            "data": {"inference_input": {"dir": "/data/test", "data_type": "tif",
                                         "reader_params": {"dimension_order_out": "ZYX", "C": 0,
                                                           "T": 0}},
                     "inference_output": {"path": "/data/pred"},
                     "preprocess": [{"module_name": "monai.transforms",
                                     "func_name": "ScaleIntensityRangePercentiles",
                                     "params": {"lower": 3, "upper": 99.9, "b_min": 0,
                                                "b_max": 1}}]},
            "model": {"framework": "FCN",
                      "net": {"module_name": "monai.networks.nets", "func_name": "UNet",
                              "params": {"spatial_dims": 3, "in_channels": 1, "out_channels": 1,
                                         "channels": [4, 8, 16], "strides": [2, 2],
                                         "num_res_units": 2, "norm": "BATCH"}},
                      "checkpoint": "./lightning_logs/version_2/checkpoints/last.ckpt",
                      "model_extra": window([8, 32, 32])}},
        "multiplex": {
            "mode": "inference",
            "data": {"preprocess": [{"module_name": "monai.transforms",
                                     "func_name": "NormalizeIntensity",
                                     "params": {"channel_wise": True}}]},
            "model": {"framework": "pix2pix",
                      "net": {"generator": {"type": "predefined_unet",
                                            "params": {"spatial_dims": 2, "in_channels": 3,
                                                       "out_channels": 1, "channels": [4, 8, 8],
                                                       "strides": [2, 2]}},
                              "discriminator": disc(4)},
                      "checkpoint": "./lightning_logs/version_14/checkpoints/last.ckpt"}},
        "semantic_seg_2d": {
            "mode": "inference",
            "data": {"preprocess": [{"module_name": "mmv_im2im.preprocessing.transforms",
                                     "func_name": "normalize_staining"}],
                     "postprocess": [{"module_name": "mmv_im2im.postprocessing.basic_collection",
                                      "func_name": "extract_segmentation",
                                      "params": {"channel": 1, "batch_dim": True,
                                                 "cutoff": 0.5}}]},
            "model": {"framework": "FCN",
                      "net": {"module_name": "monai.networks.nets", "func_name": "AttentionUnet",
                              "params": {"spatial_dims": 2, "in_channels": 3, "out_channels": 2,
                                         "channels": [4, 8, 16], "strides": [2, 2]}},
                      "model_extra": {"cpu_only": True, **window([32, 32])}}},
        "unsupervised_seg_2d": {
            "mode": "inference",
            "data": {"preprocess": [{"module_name": "monai.transforms",
                                     "func_name": "ScaleIntensityRangePercentiles",
                                     "params": {"lower": 0.1, "upper": 99.9, "b_min": -1,
                                                "b_max": 1}}],
                     "postprocess": [{"module_name": "mmv_im2im.postprocessing.basic_collection",
                                      "func_name": "extract_segmentation",
                                      "params": {"channel": 0, "cutoff": 1e-08}}]},
            "model": {"framework": "cyclegan",
                      "net": {"generator": attention,
                              "discriminator": {"type": "predefined_basic",
                                                "params": {"spatial_dims": 2, "in_channels": 1,
                                                           "n_layers": 2, "nf": 4,
                                                           "norm_layer": "INSTANCE"}}},
                      "model_extra": {"inference_direction": "AtoB", **window([32, 32])}}},
    }


def plain_network(entry: dict) -> nn.Module:
    """The network MMV_Im2Im builds from a network entry: ``getattr(module, func)(**params)``,
    or MONAI's UNet for the generator type ``predefined_unet`` (``mmv_im2im.models.nets.gans``)."""
    if entry.get("type") == "predefined_unet":
        return nets.UNet(**entry["params"])
    assert entry["module_name"] == "monai.networks.nets"
    return getattr(nets, entry["func_name"])(**entry["params"])


def is_fnet(entry: dict) -> bool:
    """Whether a network entry names MMV_Im2Im's FNet (``fnet_nn_2d``/``fnet_nn_3d``)."""
    return str(entry.get("module_name", "")).startswith("mmv_im2im.models.nets.fnet_nn_")


def fnet_arguments(entry: dict) -> dict:
    """``dims``, ``depth``, ``mult_chan``, ``in_channels`` and ``out_channels`` of an FNet
    entry, with ``Net``'s defaults (4, 32, 1, 1; the 2D ``Net`` has one channel in and out)."""
    dims = 2 if entry["module_name"].endswith("_2d") else 3
    return {"dims": dims, "depth": 4, "mult_chan": 32, "in_channels": 1, "out_channels": 1,
            **entry.get("params", {})}


def fnet_layout(dims: int, depth: int = 4, mult_chan: int = 32, in_channels: int = 1,
                out_channels: int = 1) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the ``state_dict`` of pytorch_fnet's ``Net``, in its order.

    The U is recursive (``net_recurse``, then ``sub_u`` per level below): each level has
    ``sub_2conv_more`` (two 3-pixel convolutions ``conv1``/``conv2`` with biases, each with a
    batch norm ``bn1``/``bn2``), and above the bottom also ``sub_2conv_less`` (the same, on the
    concatenated ``2 * width`` channels), ``conv_down`` (kernel 2, stride 2) with ``bn0``, and
    ``convt`` (transposed, kernel 2, from ``2 * width`` channels) with ``bn1``. The top level
    has ``mult_chan`` channels, each level below twice its parent's; ``conv_out`` (3 pixels)
    makes the output.
    """
    k3, k2 = (3,) * dims, (2,) * dims
    layout: dict[str, tuple[int, ...]] = {}

    def norm(name, width):
        for key in ("weight", "bias", "running_mean", "running_var"):
            layout[f"{name}.{key}"] = (width,)
        layout[f"{name}.num_batches_tracked"] = ()

    def conv(name, weight, width):
        layout[f"{name}.weight"] = weight
        layout[f"{name}.bias"] = (width,)

    def double(name, channels, width):
        conv(f"{name}.conv1", (width, channels, *k3), width)
        norm(f"{name}.bn1", width)
        conv(f"{name}.conv2", (width, width, *k3), width)
        norm(f"{name}.bn2", width)

    def level(name, channels, width, below):
        double(f"{name}.sub_2conv_more", channels, width)
        if below == 0:
            return
        double(f"{name}.sub_2conv_less", 2 * width, width)
        conv(f"{name}.conv_down", (width, width, *k2), width)
        norm(f"{name}.bn0", width)
        conv(f"{name}.convt", (2 * width, width, *k2), width)  # transposed: (in, out, ...)
        norm(f"{name}.bn1", width)
        level(f"{name}.sub_u", width, 2 * width, below - 1)

    level("net_recurse", in_channels, mult_chan, depth)
    conv("conv_out", (out_channels, mult_chan, *k3), out_channels)
    return layout


def fnet_state(entry: dict, seed: int) -> dict[str, torch.Tensor]:
    """Random weights and batch-norm statistics in the layout of an FNet entry's network."""
    args = fnet_arguments(entry)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in fnet_layout(**args).items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(1000)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[name] = torch.rand(shape, generator=generator) * 0.4 - 0.2
    return state


def fnet_reference(entry: dict, state: dict[str, torch.Tensor], x: torch.Tensor
                   ) -> torch.Tensor:
    """pytorch_fnet's ``Net.forward`` in evaluation mode, with ``torch.nn.functional`` on
    ``state``: per level, skip = double convolution; down = ReLU(BN(conv_down(skip)));
    up = ReLU(BN(convt(level below(down)))); out = double convolution of [skip, up]."""
    dims = fnet_arguments(entry)["dims"]
    conv = F.conv2d if dims == 2 else F.conv3d
    transposed = F.conv_transpose2d if dims == 2 else F.conv_transpose3d

    def bn_relu(name, y):
        return F.relu(F.batch_norm(y, state[f"{name}.running_mean"], state[f"{name}.running_var"],
                                   state[f"{name}.weight"], state[f"{name}.bias"], False))

    def convolved(name, y, **options):
        layer = transposed if name.endswith("convt") else conv
        return layer(y, state[f"{name}.weight"], state[f"{name}.bias"], **options)

    def double(name, y):
        y = bn_relu(f"{name}.bn1", convolved(f"{name}.conv1", y, padding=1))
        return bn_relu(f"{name}.bn2", convolved(f"{name}.conv2", y, padding=1))

    def level(name, y):
        skip = double(f"{name}.sub_2conv_more", y)
        if f"{name}.sub_u.sub_2conv_more.conv1.weight" not in state:
            return skip
        down = bn_relu(f"{name}.bn0", convolved(f"{name}.conv_down", skip, stride=2))
        below = level(f"{name}.sub_u", down)
        up = bn_relu(f"{name}.bn1", convolved(f"{name}.convt", below, stride=2))
        return double(f"{name}.sub_2conv_less", torch.cat((skip, up), dim=1))

    return convolved("conv_out", level("net_recurse", x), padding=1)


def plain_state(entry: dict, seed: int) -> dict[str, torch.Tensor]:
    """Random weights of the network MMV_Im2Im builds from ``entry`` (no prefix)."""
    if is_fnet(entry):
        return fnet_state(entry, seed)
    return {k: v.clone() for k, v in seeded(plain_network(entry), seed).state_dict().items()}


def plain_forward(entry: dict, state: dict[str, torch.Tensor], x: torch.Tensor
                  ) -> torch.Tensor:
    """What MMV_Im2Im's network of ``entry`` with the weights ``state`` computes on ``x`` in
    evaluation mode."""
    with torch.no_grad():
        if is_fnet(entry):
            return fnet_reference(entry, state, x)
        net = plain_network(entry)
        net.load_state_dict(state)
        return net.eval()(x)


def seeded(net: nn.Module, seed: int) -> nn.Module:
    """``net`` with random weights and random batch-norm statistics (so that evaluation mode
    depends on the loaded buffers), in evaluation mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 0.4 - 0.2)
        for module in net.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                module.running_var.copy_(torch.rand(module.running_var.shape,
                                                    generator=generator) + 0.5)
    return net.eval()


def prefixed(prefix: str, net: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.clone() for k, v in net.state_dict().items()}


def fake_discriminator(prefix: str = "discriminator") -> dict[str, torch.Tensor]:
    """Weights under MMV_Im2Im's multiscale discriminator names (not used for prediction)."""
    return {f"{prefix}.D_0.model.0.conv.weight": torch.ones(4, 4, 4, 4),
            f"{prefix}.D_0.model.0.conv.bias": torch.zeros(4)}


def checkpoint_bytes(state: dict[str, torch.Tensor], full: bool = False) -> bytes:
    """A checkpoint as MMV_Im2Im's Lightning 2.0 trainer saves it: ``save_weights_only``
    (``full=False``, its ``last.ckpt``) or with optimizer, scheduler, callback and AMP state."""
    content = {
        "epoch": 499, "global_step": 12000, "pytorch-lightning_version": LIGHTNING_VERSION,
        "state_dict": OrderedDict(state),
        "loops": {"fit_loop": {"state_dict": {},
                               "epoch_progress": {"total": {"ready": 500, "started": 500,
                                                            "processed": 500, "completed": 499},
                                                  "current": {"ready": 500, "started": 500,
                                                              "processed": 500,
                                                              "completed": 499}},
                               "epoch_loop.state_dict": {"_batches_that_stepped": 12000}}},
    }
    if full:
        first = next(iter(state.values()))
        content |= {
            "callbacks": {"ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}": {
                "monitor": "val_loss", "best_model_score": torch.tensor(0.12),
                "best_model_path": "/lightning_logs/version_4/checkpoints/best.ckpt",
                "current_score": torch.tensor(0.12), "dirpath": "/lightning_logs/version_4",
                "best_k_models": {"/lightning_logs/version_4/checkpoints/best.ckpt":
                                  torch.tensor(0.12)},
                "kth_best_model_path": "", "kth_value": torch.tensor(float("inf")),
                "last_model_path": ""},
                "EarlyStopping{'monitor': 'val_loss_epoch', 'mode': 'min'}": {
                    "wait_count": 3, "stopped_epoch": 0, "best_score": torch.tensor(0.1),
                    "patience": 50}},
            "optimizer_states": [{"state": {0: {"step": torch.tensor(12000.0),
                                                "exp_avg": torch.zeros_like(first),
                                                "exp_avg_sq": torch.zeros_like(first)}},
                                  "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999),
                                                    "eps": 1e-8, "weight_decay": 5e-4,
                                                    "amsgrad": False, "maximize": False,
                                                    "foreach": None, "capturable": False,
                                                    "differentiable": False, "fused": None,
                                                    "params": [0]}]}],
            "lr_schedulers": [{"gamma": 0.98, "base_lrs": [1e-3], "last_epoch": 499,
                               "verbose": False, "_step_count": 500,
                               "_get_lr_called_within_step": False, "_last_lr": [4.1e-8]}],
            "MixedPrecisionPlugin": {"scale": 65536.0, "growth_factor": 2.0,
                                     "backoff_factor": 0.5, "growth_interval": 2000,
                                     "_growth_tracker": 117},
        }
    buffer = stdio.BytesIO()
    torch.save(content, buffer)
    return buffer.getvalue()


def erfnet_state() -> dict[str, torch.Tensor]:
    """A few weights under the names of MMV_Im2Im's ``BranchedERFNet_2d`` (EmbedSeg's network),
    enough to be its checkpoint as far as the mapping is concerned."""
    return {"net.encoder.initial_block.conv.weight": torch.ones(15, 1, 3, 3),
            "net.encoder.initial_block.bn.running_mean": torch.zeros(16),
            "net.decoders.0.output_conv.weight": torch.ones(16, 4, 2, 2)}


#: The archive's checkpoints: path -> (application, seed), ``None`` for the (unmappable)
#: ERFNet.
ARCHIVE = {
    "models/labelfree/2d/fnet.ckpt": ("labelfree_2d", 8),
    "models/synthetic/3d/supervised.ckpt": ("synthetic_3d_supervised", 9),
    "models/instance_seg/2d/embedseg.ckpt": None,
    "models/denoising/tribolium.ckpt": ("denoising_3d", 1),
    "models/denoising/planaria.ckpt": ("denoising_3d", 2),
    "models/multiplex/hematoxylin.ckpt": ("multiplex", 3),
    "models/multiplex/dapi.ckpt": ("multiplex", 4),
    "models/multiplex/lap2.ckpt": ("multiplex", 5),
    "models/semantic_seg/2d/glas.ckpt": ("semantic_seg_2d", 6),
    "models/unsupervised_seg/2d/cyclegan.ckpt": ("unsupervised_seg_2d", 7),
}


def states(configs: dict[str, dict]) -> dict[str, dict[str, torch.Tensor]]:
    """The ``state_dict`` of every checkpoint of :data:`ARCHIVE`, as MMV_Im2Im's
    LightningModule of its framework holds it."""
    out = {}
    for path, spec in ARCHIVE.items():
        if spec is None:
            out[path] = erfnet_state()
            continue
        application, seed = spec
        model = configs[application]["model"]
        framework, net = model["framework"], model["net"]
        if framework == "FCN":
            out[path] = with_prefix("net", plain_state(net, seed))
        elif framework == "pix2pix":
            out[path] = {**with_prefix("generator", plain_state(net["generator"], seed)),
                         **fake_discriminator()}
        else:
            out[path] = {
                **with_prefix("generator_model_image_AtoB", plain_state(net["generator"], seed)),
                **with_prefix("generator_model_image_BtoA",
                              plain_state(net["generator"], seed + 100)),
                **fake_discriminator("discriminator_model_image_A"),
                **fake_discriminator("discriminator_model_image_B")}
    return out


def with_prefix(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def reference(config: dict, state: dict[str, torch.Tensor], x: np.ndarray,
              prefix: str | None = None, normalize: bool = True) -> np.ndarray:
    """What MMV_Im2Im's prediction computes on one whole image: its preprocessing (the MONAI
    transforms of ``data.preprocess``), the plain network with the checkpoint's weights, and a
    softmax/sigmoid for a segmenting FCN (our tasks output probabilities)."""
    model = config["model"]
    entry = model["net"]["generator"] if "generator" in model["net"] else model["net"]
    prefix = prefix or {"FCN": "net", "pix2pix": "generator"}.get(
        model["framework"], "generator_model_image_AtoB")
    weights = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}
    data = torch.as_tensor(x, dtype=torch.float32)
    if normalize:
        for step in config["data"]["preprocess"]:
            data = getattr(transforms, step["func_name"])(**step.get("params", {}))(data)
    y = plain_forward(entry, weights, torch.as_tensor(data)[None])[0]
    if model["framework"] == "FCN" and config["data"].get("postprocess"):
        y = torch.softmax(y, 0) if y.shape[0] > 1 else torch.sigmoid(y)
    return y.numpy()
