"""Tiny data and tiny candidates for the tests of automatic configuration: a folder of eight
32 x 32 regression pairs and two candidates of which one learns and one cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from im2im_helpers import config, data
from im2im_helpers.auto.candidates import Candidate
from im2im_helpers.data import Pair, Pairs
from tests.helpers import smooth_pair


def tiny_candidate(source: str | Path, name: str, lr: float, epochs: int) -> Candidate:
    """A two-level U-Net with four channels on 32 x 32 patches: a second of training."""
    values = {"data": {"source": str(source),
                       "patches": {"patch": [32, 32], "batch_size": 4, "samples_per_image": 4}},
              "model": {"name": "unet", "dims": 2, "channels": [4, 8], "num_res_units": 0},
              "task": {"kind": "supervised", "hparams": {"loss": "mse", "lr": lr}},
              "train": {"max_epochs": epochs}}
    return Candidate(name, config.from_dict(values, name), [f"learning rate {lr:g}"])


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    """Eight 2D pairs (32 x 32): a smooth input and a linear function of it as target."""
    rng = np.random.default_rng(0)
    pairs = Pairs([Pair(f"p{i}", *(a[None] for a in smooth_pair(rng, (32, 32))),
                        pixel_sizes=(None, 0.5, 0.5)) for i in range(8)],
                  {"source": {"sample": "tiny"}})
    return data.write_folder(pairs, tmp_path_factory.mktemp("auto") / "pairs").resolve()


@pytest.fixture(scope="session")
def good_and_bad(tiny_folder) -> list[Candidate]:
    """``good`` (learning rate 1e-2, 5 epochs) and ``bad`` (1e-9: learns nothing)."""
    return [tiny_candidate(tiny_folder, "good", 1e-2, 5),
            tiny_candidate(tiny_folder, "bad", 1e-9, 2)]
