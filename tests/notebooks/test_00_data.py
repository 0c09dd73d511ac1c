"""Tutorial 00 (data): the samples, simulated noise and the registry at the smoke level."""

import json

import pytest

from tests.notebooks.helpers import smoke_record

NOTEBOOK = "00_data"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    psnr = [record["methods"][f"noisy_{photons}_photons"]["psnr"] for photons in (5, 20, 100)]
    assert psnr == sorted(psnr)  # more photons, less noise
    # the split it shows: the time lapse's last frames held out, unshuffled, written to disk
    split = json.loads((folder / "split.json").read_text())
    assert split["parameters"] == {"test": 2, "val": 1, "seed": 0, "shuffle": False}
    frames = [f"t{t:02d}" for t in range(10)]  # ndev-labelfree
    assert split["names"] == {"train": frames[:7], "val": ["t07"], "test": ["t08", "t09"]}
