"""MMV_Im2Im's configurations (its YAML layout, the paper's applications) and checkpoints
outside the archive: exact mapping at full size (MONAI's networks and the FNet, key for key),
reasons for what does not map, clear errors."""

from __future__ import annotations

import collections
import dataclasses
import io as stdio
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import yaml

from im2im_helpers import models
from im2im_helpers.pretrained import (
    PAPER_CONFIGS,
    CheckpointError,
    ConfigError,
    UnmappableError,
    load,
    map_network,
    read_state_dict,
)
from im2im_helpers.pretrained.mapping import describe
from im2im_helpers.pretrained.mmv import configuration, plan
from im2im_helpers.tasks import Supervised
from tests.pretrained import standin

#: The paper's applications whose networks map, and the builder they map onto.
MAPPABLE = {"denoising_3d": "unet", "multiplex": "unet", "semantic_seg_2d": "attention_unet",
            "unsupervised_seg_2d": "attention_unet", "synthetic_2d_supervised": "attention_unet",
            "labelfree_2d": "fnet", "labelfree_3d": "fnet", "synthetic_3d_supervised": "fnet"}
#: The others, and words their reason must contain.
UNMAPPABLE = {"modality_transfer_3d": "aicsmlsegment", "instance_seg_3d": "aicsmlsegment",
              "synthetic_3d_unsupervised": "aicsmlsegment", "unsupervised_seg_3d": "aicsmlsegment",
              "instance_seg_2d": "ERFNet", "synthetic_2d_unsupervised": "ResNet generator",
              "semantic_seg_3d": "strides=[[1, 1, 1], [1, 2, 2]"}


def test_every_paper_application_is_classified():
    assert set(MAPPABLE) | set(UNMAPPABLE) == set(PAPER_CONFIGS)


def test_every_paper_application_names_a_tutorial_of_this_repository():
    notebooks = Path(__file__).parents[2] / "notebooks"
    missing = {e.name: e.tutorial for e in PAPER_CONFIGS.values()
               if not (notebooks / f"{e.tutorial}.ipynb").is_file()}
    assert not missing


@pytest.mark.parametrize("name", sorted(MAPPABLE))
def test_paper_networks_map_exactly_at_full_size(name):
    """Our network, built from the paper's configuration, takes the plain MONAI network's
    weights key for key and computes the same output."""
    config, _ = configuration(name)
    prefix, entry = next(iter(config.networks.items()))
    mapping = plan(config)[prefix]
    assert mapping.name == MAPPABLE[name]
    state = standin.plain_state(entry, seed=0)
    ours = mapping.build().eval()
    ours.load_state_dict(state, strict=True)
    dims = mapping.dims
    x = torch.rand((1, mapping.in_channels) + ((16, 16, 16) if dims == 3 else (64, 64)))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), standin.plain_forward(entry, state, x))
    del state, ours


#: Trainable parameters of MMV_Im2Im's ``fnet_nn_2d.Net()`` and ``fnet_nn_3d.Net()`` (depth 4,
#: mult_chan 32, one channel in and out), counted on the networks of its source.
FNET_PARAMETERS = {2: 8_116_225, 3: 23_280_769}


@pytest.mark.parametrize("name", ["labelfree_2d", "labelfree_3d", "synthetic_3d_supervised"])
def test_paper_fnets_have_the_real_fnets_weights_key_for_key(name):
    """At the paper's size (depth 4, 32 channels at full resolution): every name and shape of
    pytorch_fnet's state dict, in its order, and its number of parameters."""
    config, _ = configuration(name)
    prefix, entry = next(iter(config.networks.items()))
    mapping = plan(config)[prefix]
    assert mapping.options == {"depth": 4, "mult_chan": 32}
    assert (mapping.in_channels, mapping.out_channels) == (1, 1)
    ours = mapping.build()
    layout = standin.fnet_layout(mapping.dims)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == list(layout.items())
    trainable = sum(int(np.prod(shape)) for key, shape in layout.items()
                    if key.endswith((".weight", ".bias")))
    assert models.count_parameters(ours) == trainable == FNET_PARAMETERS[mapping.dims]
    assert models.size_divisor(ours.im2im_spec) == 16


def test_fnet_entries_map_with_their_defaults_and_refuse_what_net_does_not_take():
    entry = {"module_name": "mmv_im2im.models.nets.fnet_nn_3d", "func_name": "Net",
             "params": {"mult_chan": 8, "out_channels": 2, "task": "regression"}}
    mapping = map_network(entry)
    assert (mapping.name, mapping.dims, mapping.in_channels, mapping.out_channels) == \
        ("fnet", 3, 1, 2)
    assert mapping.options == {"depth": 4, "mult_chan": 8}
    old_name = {**entry, "module_name": "mmv_im2im.models.nets.fnet_nn_3d_params"}
    assert map_network(old_name) == dataclasses.replace(mapping, source=describe(old_name))
    two_d = {"module_name": "mmv_im2im.models.nets.fnet_nn_2d", "func_name": "Net"}
    assert str(map_network(two_d)) == ("models.build('fnet', dims=2, in_channels=1, "
                                       "out_channels=1, depth=4, mult_chan=32)")
    with pytest.raises(UnmappableError, match=r"\['in_channels'\] that "
                                              r"mmv_im2im\.models\.nets\.fnet_nn_2d\.Net does "
                                              r"not take"):
        map_network({**two_d, "params": {"in_channels": 3}})
    with pytest.raises(UnmappableError, match=r"not mmv_im2im\.models\.nets\.fnet_nn_2d\.Net"):
        map_network({**two_d, "func_name": "SubNet2Conv"})
    with pytest.raises(ConfigError, match=r"depth='four'"):
        map_network({**two_d, "params": {"depth": "four"}})


def test_an_fnet_checkpoint_with_other_widths_than_its_configuration_is_refused(tmp_path):
    config = standin.tiny_configs()["labelfree_2d"]
    ckpt = tmp_path / "fnet.ckpt"
    ckpt.write_bytes(standin.checkpoint_bytes(
        standin.with_prefix("net", standin.plain_state(config["model"]["net"], seed=1))))
    assert load(ckpt, config).network.options == {"depth": 2, "mult_chan": 4}
    wider = yaml.safe_load(yaml.safe_dump(config))
    wider["model"]["net"]["params"]["mult_chan"] = 8
    with pytest.raises(CheckpointError, match=r"fnet\.ckpt: its 'net\.' weights do not fit "
                                              r"models\.build\('fnet'.*in the file but"):
        load(ckpt, wider)
    deeper = yaml.safe_load(yaml.safe_dump(config))
    deeper["model"]["net"]["params"]["depth"] = 3
    with pytest.raises(CheckpointError, match=r"weights missing \(e\.g\. \['net_recurse\.sub_u"):
        load(ckpt, deeper)
    broken = yaml.safe_load(yaml.safe_dump(config))
    broken["model"]["net"]["params"]["depth"] = -1
    with pytest.raises(ConfigError, match=r"the configuration passed in: .*depth=-1.*fnet\.ckpt"):
        load(ckpt, broken)


@pytest.mark.parametrize("name", sorted(UNMAPPABLE))
def test_paper_networks_that_do_not_map_say_why(name):
    config, _ = configuration(name)
    with pytest.raises(UnmappableError) as err:
        plan(config)
    assert UNMAPPABLE[name] in str(err.value)


def test_the_archive_folders_name_their_applications():
    from im2im_helpers.pretrained.paper import match

    assert match("models/labelfree/2d/fnet.ckpt").name == "labelfree_2d"
    assert match("models/denoising/planaria.ckpt").name == "denoising_3d"
    assert match("models/multiplex/anything.ckpt").name == "multiplex"
    assert match("models/synthetic/2d/unsupervised.ckpt").name == "synthetic_2d_unsupervised"
    assert match("models/unsupervised_seg/2d/x.ckpt").name == "unsupervised_seg_2d"
    assert match("models/something/else.ckpt") is None


def write_yaml(path, values):
    path.write_text(yaml.safe_dump(values))
    return path


def test_inference_yaml_in_mmv_layout_loads(tmp_path):
    config = standin.tiny_configs()["denoising_3d"]
    net = standin.seeded(standin.plain_network(config["model"]["net"]), seed=9)
    state = standin.prefixed("net", net)
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(standin.checkpoint_bytes(state))
    model = load(ckpt, write_yaml(tmp_path / "denoising_3d_inference.yaml", config))
    assert model.application is None and model.config.endswith("denoising_3d_inference.yaml")
    x = (np.random.default_rng(0).random((1, 8, 32, 32)) * 500).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), standin.reference(config, state, x), atol=1e-5)
    assert "ScaleIntensityRangePercentiles(" in str(model) and "lower=3," in str(model)


def test_training_yaml_in_mmv_layout_loads_and_segments(tmp_path):
    """A training configuration: dictionary transforms with keys, and a segmentation loss."""
    net_entry = {"module_name": "monai.networks.nets", "func_name": "BasicUNet",
                 "params": {"spatial_dims": 2, "in_channels": 1, "out_channels": 1,
                            "features": [4, 4, 8, 8, 16, 4]}}
    train = {"mode": "train",
             "data": {"category": "pair", "data_path": "/data/train",
                      "preprocess": [
                          {"module_name": "monai.transforms", "func_name": "LoadImaged",
                           "params": {"keys": ["IM", "GT"], "dimension_order_out": "YX"}},
                          {"module_name": "monai.transforms", "func_name": "AddChanneld",
                           "params": {"keys": ["IM", "GT"]}},
                          {"module_name": "monai.transforms", "func_name": "NormalizeIntensityd",
                           "params": {"keys": ["IM"]}},
                          {"module_name": "monai.transforms",
                           "func_name": "RandSpatialCropSamplesd",
                           "params": {"keys": ["IM", "GT"], "num_samples": 4,
                                      "roi_size": [64, 64], "random_size": False}}]},
             "model": {"framework": "FCN", "net": net_entry,
                       "criterion": {"module_name": "monai.losses", "func_name": "DiceFocalLoss",
                                     "params": {"sigmoid": True}}}}
    net = standin.seeded(standin.plain_network(net_entry), seed=1)
    ckpt = tmp_path / "best.ckpt"
    ckpt.write_bytes(standin.checkpoint_bytes(standin.prefixed("net", net), full=True))
    model = load(ckpt, write_yaml(tmp_path / "train.yaml", train))
    assert isinstance(model.task, Supervised) and model.task.hparams.loss == "dice_ce"
    assert [name for name, _ in model.normalization.steps] == ["NormalizeIntensity"]
    x = np.random.default_rng(1).random((1, 32, 32)).astype(np.float32) * 7 + 3
    z = (x - x.mean()) / x.std()
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.from_numpy(z)[None]))[0].numpy()
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)


class MMVLikeModule(L.LightningModule):
    """A LightningModule holding its network as ``self.net`` (MMV_Im2Im's FCN layout)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def training_step(self, batch, batch_idx):
        return torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3, weight_decay=5e-4)
        return [optimizer], [torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.98)]


def test_checkpoint_saved_by_a_lightning_trainer_loads_with_weights_only(tmp_path):
    """A whole Lightning checkpoint (optimizer, scheduler, callbacks, loops) is read with
    ``weights_only=True``."""
    config = standin.tiny_configs()["unsupervised_seg_2d"]["model"]["net"]["generator"]
    fcn = {"mode": "inference", "data": {"preprocess": []},
           "model": {"framework": "FCN", "net": config}}
    module = MMVLikeModule(standin.plain_network(config))
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)), batch_size=2)
    trainer = L.Trainer(max_steps=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path,
                                                                       save_last=True)])
    trainer.fit(module, data)
    ckpt = tmp_path / "last.ckpt"
    assert {"optimizer_states", "callbacks", "loops"} <= set(torch.load(ckpt, weights_only=True))
    model = load(ckpt, fcn)
    x = np.random.default_rng(2).random((1, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = module.net.eval()(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)


def tiny_fcn(tmp_path):
    config = standin.tiny_configs()["denoising_3d"]
    net = standin.seeded(standin.plain_network(config["model"]["net"]), seed=3)
    return config, standin.prefixed("net", net)


def test_corrupt_checkpoints_name_the_file(tmp_path):
    config, state = tiny_fcn(tmp_path)
    good = standin.checkpoint_bytes(state)
    damaged = {"cut.ckpt": good[: len(good) // 3], "noise.ckpt": bytes(range(256)) * 4,
               "empty.ckpt": b"", "text.ckpt": b"weights"}
    for name, content in damaged.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match=rf"{name}: cannot be read as a PyTorch"):
            load(tmp_path / name, config)
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load(tmp_path / "missing.ckpt", config)


def test_a_checkpoint_with_objects_besides_weights_is_refused(tmp_path):
    config, state = tiny_fcn(tmp_path)
    buffer = stdio.BytesIO()
    torch.save({"state_dict": state, "hyper_parameters": {"config": argparse_namespace()}},
               buffer)
    (tmp_path / "unsafe.ckpt").write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError,
                       match=r"unsafe\.ckpt: holds an object of type argparse\.Namespace"):
        load(tmp_path / "unsafe.ckpt", config)


def argparse_namespace():
    import argparse

    return argparse.Namespace(lr=1e-3)


def test_weights_that_do_not_fit_the_configuration_name_the_file_and_the_keys(tmp_path):
    config, state = tiny_fcn(tmp_path)
    ckpt = tmp_path / "other.ckpt"
    ckpt.write_bytes(standin.checkpoint_bytes(state))
    wider = yaml.safe_load(yaml.safe_dump(config))
    wider["model"]["net"]["params"]["channels"] = [8, 16, 32]
    with pytest.raises(CheckpointError, match=r"other\.ckpt: its 'net\.' weights do not fit "
                                              r"models\.build\('unet'.*in the file but"):
        load(ckpt, wider)
    fewer = yaml.safe_load(yaml.safe_dump(config))
    fewer["model"]["net"]["params"]["num_res_units"] = 0
    with pytest.raises(CheckpointError, match="weights missing|unexpected"):
        load(ckpt, fewer)
    gan = {**config, "model": {**config["model"], "framework": "pix2pix",
                               "net": {"generator": config["model"]["net"]}}}
    with pytest.raises(CheckpointError, match=r"has no weights under 'generator\.'.*\['net'\]"):
        load(ckpt, gan)


def test_without_a_configuration_the_path_must_name_an_application(tmp_path):
    _, state = tiny_fcn(tmp_path)
    ckpt = tmp_path / "mine.ckpt"
    ckpt.write_bytes(standin.checkpoint_bytes(state))
    with pytest.raises(ConfigError, match=r"mine\.ckpt: no configuration given"):
        load(ckpt)
    with pytest.raises(ConfigError, match="no such configuration file"):
        load(ckpt, tmp_path / "missing.yaml")
    (tmp_path / "other.yaml").write_text("trainer: {params: {max_epochs: 3}}\n")
    with pytest.raises(ConfigError, match=r"other\.yaml: expected MMV_Im2Im's layout"):
        load(ckpt, tmp_path / "other.yaml")


def test_bare_state_dicts_load_too(tmp_path):
    config, state = tiny_fcn(tmp_path)
    buffer = stdio.BytesIO()
    torch.save(collections.OrderedDict(state), buffer)
    (tmp_path / "bare.pt").write_bytes(buffer.getvalue())
    assert read_state_dict(tmp_path / "bare.pt").keys() == state.keys()
    assert load(tmp_path / "bare.pt", config).roi == (8, 32, 32)


def test_networks_with_parameters_our_builder_fixes_do_not_map():
    entry = {"module_name": "monai.networks.nets", "func_name": "UNet",
             "params": {"spatial_dims": 2, "in_channels": 1, "out_channels": 1,
                        "channels": [4, 8], "strides": [2], "kernel_size": 5}}
    with pytest.raises(UnmappableError, match=r"kernel_size=5 \(ours keeps MONAI's default 3\)"):
        map_network(entry)
    entry["params"]["kernel_size"] = 3  # MONAI's default, written out: maps
    assert map_network(entry).options["num_res_units"] == 0  # MONAI's default, passed on
    entry["params"]["depth"] = 3
    with pytest.raises(UnmappableError, match=r"\['depth'\] that MONAI UNet does not take"):
        map_network(entry)


def test_an_nnunet_style_dynunet_maps():
    entry = {"module_name": "monai.networks.nets", "func_name": "DynUNet",
             "params": {"spatial_dims": 2, "in_channels": 1, "out_channels": 2,
                        "kernel_size": [3, 3, 3], "strides": [1, 2, 2],
                        "upsample_kernel_size": [2, 2], "filters": [4, 8, 16]}}
    mapping = map_network(entry)
    assert (mapping.name, mapping.options["kernel_size"]) == ("dyn_unet", 3)
    plain = standin.seeded(standin.plain_network(entry), seed=2)
    ours = mapping.build().eval()
    ours.load_state_dict(plain.state_dict(), strict=True)  # MONAI's affine instance norm kept
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), plain(x))
