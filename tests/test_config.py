"""YAML run configurations are validated on load with errors that say what to fix, and a saved
configuration rebuilds the task and data it was made from (:mod:`im2im_helpers.config`)."""

import numpy as np
import pytest

from im2im_helpers import config, data
from im2im_helpers.data import simulate
from tests.helpers import texture_image

GOOD = """
data:
  source: ndev-labelfree
  patches: {patch: [64, 64]}
  split: {test: 2, val: 1, shuffle: false}
model: {name: unet, dims: 2, channels: [8, 16]}
task: {hparams: {loss: l1}}
train: {max_epochs: 3}
"""


def write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_loads_with_defaults(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.data.patches.patch == [64, 64] and cfg.data.patches.batch_size == 8
    assert cfg.data.split.shuffle is False and cfg.task.hparams == {"loss": "l1"}
    assert config.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_names_the_file_the_key_and_a_suggestion(tmp_path):
    path = write(tmp_path, GOOD.replace("patch:", "pach:"))
    with pytest.raises(config.ConfigError,
                       match=r"run.yaml: unknown key 'data.patches.pach'.*'patch'"):
        config.load(path)
    with pytest.raises(config.ConfigError, match=r"unknown key 'train.epochs'"):
        config.load(write(tmp_path, GOOD.replace("max_epochs: 3", "epochs: 3")))


def test_wrong_type_and_missing_values(tmp_path):
    with pytest.raises(config.ConfigError, match=r"'data.patches.batch_size' is 'eight'"):
        config.load(write(tmp_path, GOOD.replace("patch: [64, 64]", "batch_size: eight")))
    with pytest.raises(config.ConfigError, match=r"task.hparams: 'supervised' has no "
                                                 r"hyperparameter \['los'\]"):
        config.load(write(tmp_path, GOOD.replace("{loss: l1}", "{los: l1}")))
    with pytest.raises(config.ConfigError, match="data.source"):
        config.load(write(tmp_path, "model: {name: unet, dims: 2}\n"))
    with pytest.raises(config.ConfigError, match=r"model: Network 'unet' has no option"):
        config.load(write(tmp_path, GOOD.replace("channels", "chanels")))
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load(write(tmp_path, "data: [unclosed"))


def test_save_refuses_to_overwrite(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    out = config.save(cfg, tmp_path / "saved.yaml")
    with pytest.raises(FileExistsError):
        config.save(cfg, out)
    assert config.load(out) == cfg


def test_a_config_redoes_the_pair_transforms_and_unpaired_sampling(tmp_path):
    text = GOOD.replace("source: ndev-labelfree", "source: nuclei-instances-2d\n"
                        "  load: {normalize_target: false}\n  transforms: [{kind: foreground}]")
    text = text.replace("{patch: [64, 64]}", "{patch: [64, 64], unpaired: true}")
    text = text.replace("split: {test: 2, val: 1, shuffle: false}",
                        f"split: {{test: 2, val: 1, shuffle: false, path: {tmp_path}/s.json}}")
    task, dm = config.build(config.load(write(tmp_path, text)))
    assert dm.settings.unpaired and dm.split.train.config["transforms"] == [{"kind": "foreground"}]
    assert set(np.unique(dm.split.train[0].target)) == {0.0, 1.0}  # masks, not instance labels


def test_an_unknown_pair_transform_is_refused_on_load(tmp_path):
    text = GOOD.replace("patches:", "transforms: [{kind: blur}]\n  patches:")
    with pytest.raises(config.ConfigError, match=r"run.yaml: .*unknown transform.*foreground"):
        config.load(write(tmp_path, text))
    text = GOOD.replace("patches:", "transforms: [{kind: three_class, width: 2}]\n  patches:")
    with pytest.raises(config.ConfigError, match=r"no option \['width'\].*boundary_width"):
        config.load(write(tmp_path, text))


def test_unknown_task_option_is_a_config_error(tmp_path):
    values = {"data": {"source": "ndev-labelfree"}, "model": {"name": "unet", "dims": 2},
              "task": {"kind": "noise2void", "hparams": {"mask_fractoin": 0.1}}}
    with pytest.raises(config.ConfigError, match="mask_fractoin"):
        config.from_dict(values, "run.yaml")


def test_a_noise2void_run_on_saved_simulated_pairs_is_rebuilt_from_its_config(tmp_path):
    from im2im_helpers import config, models, tasks

    pairs = simulate.poisson_gaussian([texture_image(i) for i in range(4)], photons=10, seed=0)
    loaded = data.load(data.write_folder(pairs, tmp_path / "pairs"), normalize_percentiles=None)
    split = data.split(loaded, test=["img003"], val=["img002"], path=tmp_path / "split.json")
    dm = data.patches(split, patch=(32, 32), batch_size=4)
    task = tasks.Noise2Void(models.build("unet", 2, channels=(4, 8)), mask_fraction=0.03)
    cfg = config.from_objects(task, dm, config.TrainConfig(max_epochs=1))
    config.save(cfg, tmp_path / "config.yaml")
    again_task, again_dm = config.build(config.load(tmp_path / "config.yaml"))
    assert isinstance(again_task, tasks.Noise2Void) and again_task.hparams.mask_fraction == 0.03
    assert again_dm.split.test.names == ["img003"] and again_dm.split.val.names == ["img002"]
    assert again_dm.split.train.simulated
    np.testing.assert_array_equal(again_dm.split.train[0].input, pairs[0].input)


@pytest.mark.parametrize("old,new,message", [
    ("patch: [64, 64]", "patch: [-8, 32]", r"data.patches.patch=\[-8, 32\].*positive"),
    ("patch: [64, 64]", "patch: [0, 0]", r"data.patches.patch=\[0, 0\].*positive"),
    ("patch: [64, 64]", "patch: [16, 64, 64]", r".*has 3 sizes but model.dims is 2"),
    ("max_epochs: 3", "max_epochs: 3, devices: foo", r"train.devices='foo'"),
    ("channels: [8, 16]", "channels: abc", r"model: cannot build"),
], ids=["negative-patch", "zero-patch", "patch-vs-dims", "devices", "channels"])
def test_values_that_would_fail_in_training_are_refused_on_load(tmp_path, old, new, message):
    """Issue 14, item 12: each used to escape as a raw traceback once work had started."""
    with pytest.raises(config.ConfigError, match=r"run.yaml: " + message):
        config.load(write(tmp_path, GOOD.replace(old, new)))


def test_scientific_notation_is_a_number(tmp_path):
    """Issue 14, item 12: YAML 1.1 reads ``1e-3`` as text, which reached Adam as a string."""
    cfg = config.load(write(tmp_path, GOOD.replace("{loss: l1}", "{loss: l1, lr: 1e-3}")))
    assert cfg.task.hparams["lr"] == 0.001 and isinstance(cfg.task.hparams["lr"], float)


def test_a_network_that_does_not_fit_the_data_is_refused_before_training(tmp_path):
    """Issue 14, item 12: a model whose dims/in_channels did not match the data failed only
    once training started."""
    text = GOOD.replace("{name: unet, dims: 2, channels: [8, 16]}",
                        "{name: unet, dims: 2, in_channels: 3, channels: [8, 16]}")
    text = text.replace("split: {test: 2, val: 1, shuffle: false}",
                        f"split: {{test: 2, val: 1, shuffle: false, path: {tmp_path}/s.json}}")
    with pytest.raises(config.ConfigError, match=r"in_channels=3 but ndev-labelfree holds 2D "
                                                 r"images with 1 input channel"):
        config.build(config.load(write(tmp_path, text)))


@pytest.mark.parametrize("old,new,message", [
    ("channels: [8, 16]", "channels: [8, 16], activation: [sigmoid]",
     r"model.activation=\['sigmoid'\]: choose null or one of"),
    ("patches:", "transforms: [{kind: [foreground]}]\n  patches:",
     r"data.transforms\[0\]=\{'kind': \['foreground'\]\}: each step is a mapping with a 'kind'"),
    ("patches:", "transforms: [foreground]\n  patches:", r"data.transforms\[0\]='foreground'"),
    ("name: unet, dims: 2, channels: [8, 16]",
     "name: attention_unet, dims: 2, channels: [8, 16, 32], strides: [2]",
     r"model: cannot build .* \(IndexError"),
    ("patches:", "load: {normalize_percentiles: [1]}\n  patches:",
     r"data.load.normalize_percentiles=\[1\]: give two percentiles"),
    ("split: {test: 2, val: 1, shuffle: false}", "split: {test: .nan}", r"data.split.test=nan"),
    ("split: {test: 2, val: 1, shuffle: false}", "split: {seed: -3}", r"data.split.seed=-3"),
], ids=["activation-list", "transform-kind-list", "transform-not-a-mapping", "strides",
        "percentiles", "nan-test", "negative-seed"])
def test_values_found_by_property_tests_are_refused_on_load(tmp_path, old, new, message):
    """Issue 14, property tests: the first three escaped as TypeError (unhashable list), the
    network as IndexError from MONAI; the data values were accepted and failed only in build."""
    with pytest.raises(config.ConfigError, match=r"run.yaml: " + message):
        config.load(write(tmp_path, GOOD.replace(old, new)))


def test_a_file_that_is_not_utf8_text_is_a_config_error(tmp_path):
    """Issue 14, property tests: UnicodeDecodeError came out, without the file's name."""
    path = tmp_path / "run.yaml"
    path.write_bytes(b"\xff\xfe\x00data")
    with pytest.raises(config.ConfigError, match=r"run.yaml: not a text file in UTF-8"):
        config.load(path)
