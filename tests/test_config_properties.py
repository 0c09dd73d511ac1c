"""Property-based tests of the run-configuration validator (issue 14, "Beyond single probes"):
random nested YAML values, and valid configurations with one value, key or list changed, through
:func:`im2im_helpers.config.from_dict`, :func:`~im2im_helpers.config.read_yaml` and
:func:`~im2im_helpers.config.load`. Only :class:`~im2im_helpers.config.ConfigError` naming the
file may come out; what is accepted is a configuration that saves and loads as itself (keys as
strings, as YAML writes them)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from im2im_helpers import config
from tests.test_config import GOOD

SETTINGS = settings(max_examples=100, deadline=None, database=None,  # ~50 ms an example
                    suppress_health_check=[HealthCheck.too_slow])

#: Valid configurations (as read from YAML) that the mutations start from: every section, each
#: network, lists of transforms and names, a task with its hyperparameters.
VALID = [config.read_yaml(text) for text in (  # GOOD: the plain tests' valid file
    GOOD, """
data:
  source: nuclei-instances-2d
  load: {normalize_percentiles: [1, 99.8], normalize_target: false, dims: 3,
         options: {target: dapi}}
  transforms: [{kind: three_class, boundary_width: 2}, {kind: halves}]
  patches: {patch: [8, 16, 16], batch_size: 2, augment: flips+intensity, unpaired: true,
            seed: 3}
  split: {test: [a, b], val: 0.1, seed: 4, path: s.json}
model: {name: dyn_unet, dims: 3, in_channels: 2, out_channels: 3, filters: [4, 8, 16],
        kernel_size: 3, activation: sigmoid}
task: {kind: supervised, hparams: {loss: l1, lr: 1e-3}}
train: {max_epochs: 3, devices: [0, 1], precision: 16-mixed, max_time_s: 60.5}
""", """
data: {source: x, transforms: [{kind: foreground}], patches: {patch: [32, 32]}}
model: {name: attention_unet, dims: 2, channels: [4, 8, 16], strides: [2, 2], dropout: 0.1}
task: {kind: noise2void, hparams: {mask_fraction: 0.05}}
""", """
data: {source: x, patches: {patch: [32, 32]}}
model: {name: basic_unet, dims: 2, features: [4, 4, 8, 8, 8, 4], norm: batch}
train: {devices: auto, strategy: ddp, num_nodes: 2, max_steps: 10}
""")]
VALID.append(config.from_dict(VALID[0]).to_dict())  # every key written out

#: Names the validator knows, so that random values reach past the first unknown key.
KNOWN = st.sampled_from(["data", "model", "task", "train", "source", "load", "split", "patches",
                         "transforms", "kind", "name", "dims", "channels", "hparams", "patch",
                         "test", "val", "seed", "devices", "activation", "strides", "features",
                         "filters", "lr", "loss", "normalize_percentiles", "options"])
WORDS = st.sampled_from(["unet", "basic_unet", "dyn_unet", "attention_unet", "auto", "none",
                         "flips", "l1", "supervised", "noise2void", "foreground", "halves",
                         "sigmoid", "ndev-labelfree", "1e-3", "yes", "~"])
#: Leaves of YAML documents; whole numbers stay small (the validator builds the network).
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 70), st.floats(), st.text(max_size=6),
                   WORDS)
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.one_of(KNOWN, st.text(max_size=6), st.integers(-2, 3)),
                                        inner, max_size=4), max_leaves=12)


def places(values, at=()):
    """Every key path in nested dictionaries and lists."""
    yield at
    items = values.items() if isinstance(values, dict) else (
        enumerate(values) if isinstance(values, list) else ())
    for key, value in items:
        yield from places(value, (*at, key))


@st.composite
def mutants(draw):
    """A valid configuration with 1 to 3 changes: a value replaced, a key added, a key or list
    item removed, an item appended to a list."""
    values = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.sampled_from(list(places(values))[1:] or [()]))
        if not at:
            break
        parent = values
        for key in at[:-1]:
            parent = parent[key]
        change = draw(st.sampled_from(["replace", "add-key", "remove", "append"]))
        if change == "replace":
            parent[at[-1]] = draw(VALUES)
        elif change == "remove":
            del parent[at[-1]]
        elif change == "append" and isinstance(parent[at[-1]], list):
            parent[at[-1]].append(draw(VALUES))
        elif change == "add-key" and isinstance(parent, dict):
            parent[draw(st.one_of(KNOWN, st.text(max_size=5)))] = draw(VALUES)
    return values


def validate(values, origin: str = "run.yaml"):
    """``config.from_dict``: the configuration, or the ConfigError, checked to name ``origin``."""
    try:
        return config.from_dict(values, origin)
    except config.ConfigError as err:
        assert str(err).startswith(f"{origin}: "), err
        return err


@pytest.mark.parametrize("values", VALID, ids=["minimal", "3d", "noise2void", "basic_unet",
                                               "written-out"])
def test_the_starting_configurations_are_valid(values):
    cfg = config.from_dict(values, "run.yaml")
    assert config.from_dict(cfg.to_dict()) == cfg


@SETTINGS
@given(VALUES)
def test_any_yaml_value_is_a_configuration_or_a_config_error(values):
    validate(values)


def same(a: config.RunConfig, b: config.RunConfig) -> bool:
    """Equal configurations (``repr``: a NaN equals itself)."""
    return repr(a.to_dict()) == repr(b.to_dict())


@SETTINGS
@given(mutants())
def test_a_changed_valid_configuration_is_valid_or_a_config_error(values):
    cfg = validate(values)
    if isinstance(cfg, config.RunConfig):  # saved as plain values, it validates as itself
        assert same(config.from_dict(cfg.to_dict(), "again.yaml"), cfg)


@SETTINGS
@given(st.one_of(mutants(), VALUES))
def test_a_yaml_file_loads_as_its_text_validates(values):
    text = yaml.safe_dump(values, sort_keys=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.yaml"
        path.write_text(text, encoding="utf-8")
        expected = validate(config.read_yaml(text) or {}, str(path))
        try:
            loaded = config.load(path)
        except config.ConfigError as err:
            assert isinstance(expected, config.ConfigError) and str(err) == str(expected)
            return
        assert same(loaded, expected)
        saved = config.save(loaded, Path(tmp) / "saved.yaml")
        assert same(config.load(saved), loaded)


@SETTINGS
@given(st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode),
                 st.sampled_from([b"data: [unclosed", b"- 1\n- 2", b"\xff\xfe", b"a: !!binary x",
                                  b"a: &x [*x]", b"? [a]\n: 1", b"data: {source: 2020-01-01}",
                                  b"!!python/object:os.system x"])))
def test_any_file_is_a_configuration_or_a_config_error_naming_it(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.yaml"
        path.write_bytes(content)
        with pytest.raises(config.ConfigError) as err:
            config.load(path)
        assert str(err.value).startswith(f"{path}: ")
