"""YAML run configurations are validated on load with errors that say what to fix."""

import numpy as np
import pytest

from im2im_helpers import config

GOOD = """
data:
  source: ndev-labelfree
  patch: [64, 64]
  split: {test: 2, val: 1, shuffle: false}
model: {name: unet, dims: 2, channels: [8, 16]}
task: {loss: l1}
train: {max_epochs: 3}
"""


def write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_loads_with_defaults(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.data.patch == [64, 64] and cfg.data.batch_size == 8
    assert cfg.data.split.shuffle is False and cfg.task.loss == "l1"
    assert config.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_names_the_file_the_key_and_a_suggestion(tmp_path):
    path = write(tmp_path, GOOD.replace("patch:", "pach:"))
    with pytest.raises(config.ConfigError, match=r"run.yaml: unknown key 'data.pach'.*'patch'"):
        config.load(path)
    with pytest.raises(config.ConfigError, match=r"unknown key 'train.epochs'"):
        config.load(write(tmp_path, GOOD.replace("max_epochs: 3", "epochs: 3")))


def test_wrong_type_and_missing_values(tmp_path):
    with pytest.raises(config.ConfigError, match=r"'data.batch_size' is 'eight'"):
        config.load(write(tmp_path, GOOD.replace("patch: [64, 64]", "batch_size: eight")))
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
                        "  normalize_target: false\n  transforms: [{kind: foreground}]\n"
                        "  unpaired: true")
    text = text.replace("split: {test: 2, val: 1, shuffle: false}",
                        f"split: {{test: 2, val: 1, shuffle: false, file: {tmp_path}/s.json}}")
    task, dm = config.build(config.load(write(tmp_path, text)))
    assert dm.unpaired and dm.split.train.config["transforms"] == [{"kind": "foreground"}]
    assert set(np.unique(dm.split.train[0].target)) == {0.0, 1.0}  # masks, not instance labels


def test_an_unknown_pair_transform_is_refused_on_load(tmp_path):
    text = GOOD.replace("patch: [64, 64]", "patch: [64, 64]\n  transforms: [{kind: blur}]")
    with pytest.raises(config.ConfigError, match=r"run.yaml: .*unknown transform.*foreground"):
        config.load(write(tmp_path, text))
    text = GOOD.replace("patch: [64, 64]",
                        "patch: [64, 64]\n  transforms: [{kind: three_class, width: 2}]")
    with pytest.raises(config.ConfigError, match=r"no option \['width'\].*boundary_width"):
        config.load(write(tmp_path, text))
