"""Tutorial 13 (active learning): smoke-level run on the offline nuclei — the walkthrough's
versioned annotations and fine-tuning, and the learning curve of both strategies over seeds."""

import json

import numpy as np
import pytest

from im2im_helpers import io
from im2im_helpers.active import AnnotationStore
from im2im_helpers.active.annotations import mask_digest
from tests.notebooks.helpers import held_out, smoke_record

NOTEBOOK = "13_active_learning"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]

#: Tutorial 04's held-out images and validation frame: the two tutorials compare on the same data.
TEST_IMAGES = ["stardist-right", "ndev-t08", "ndev-t09"]
SMOKE_SEEDS = [0, 1]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    split = held_out(folder, record["test_images"])
    assert record["test_images"] == TEST_IMAGES and split["val"] == ["ndev-t07"]
    assert record["validation_images"] == ["ndev-t07"]
    pool_images = set(json.loads((folder / "loop" / "pool.json").read_text())["images"])
    assert pool_images == set(split["train"])  # the pool is cut from the training images only

    # the annotations: numbered versions, each file still holding the pixels it was saved with
    store = AnnotationStore(folder / "loop" / "annotations")
    index = store.index()
    twice = [c for c, versions in index.items() if len(versions) >= 2]
    assert twice, "the walkthrough saves a second version of a crop"
    for crop, versions in index.items():
        assert [v.version for v in versions] == list(range(1, len(versions) + 1))
        for v in versions:
            assert (store.root / v.file).name == f"v{v.version:04d}.ome.tiff"
            assert mask_digest(store.read(crop, v.version)) == v.sha256  # never overwritten
    assert {v.source for v in index[twice[0]]} == {"simulated"}

    # round 1 fine-tuned from round 0's weights, on the latest versions
    rounds = [json.loads((folder / "loop" / "rounds" / f"round-00{r}.json").read_text())
              for r in (0, 1)]
    assert rounds[1]["initial_weights"] == rounds[0]["checkpoint"]
    assert rounds[1]["initial_digest"] == rounds[0]["final_digest"]
    assert rounds[1]["trained_on"][twice[0]] == len(index[twice[0]])
    assert rounds[1]["n_annotated"] == 1 + record["per_round"]

    # the learning curve: both strategies, every seed, the same start for one seed
    curve = json.loads((folder / "curve" / "curve.json").read_text())
    assert set(curve["summary"]) == {"uncertainty", "random"} and record["seeds"] == SMOKE_SEEDS
    for strategy, points in curve["summary"].items():
        assert [p["n_annotated"] for p in points] == [
            1 + r * record["per_round"] for r in range(record["rounds"])]
        assert all(p["seeds"] == len(SMOKE_SEEDS) for p in points)
        assert record["methods"][strategy]["dice"] == pytest.approx(points[-1]["mean"])
    dice = {(r["strategy"], r["seed"], r["round"]): r["dice"] for r in curve["rows"]}
    assert all(0.0 <= d <= 1.0 for d in dice.values())
    for seed in SMOKE_SEEDS:
        assert dice["uncertainty", seed, 0] == pytest.approx(dice["random", seed, 0], abs=1e-6)
    assert record["savings"]["statement"] and record["savings"]["baseline"] == "random"

    assert set(record["methods"]) == {"uncertainty", "random", "otsu"}
    assert record["methods"]["otsu"]["dice"] > 0.8  # tutorial 04's tuned baseline
    headline = record["headline"]
    assert (headline["metric"], headline["network"], headline["baseline"]) == ("dice", [], "otsu")
    assert headline["others"] == ["uncertainty", "random"]  # measured, not claimed to win
    mask = io.read(folder / "predictions" / "stardist-right_mask.ome.tiff").data
    assert mask.shape == (1, 1, 1, 512, 256) and set(np.unique(mask)) <= {0, 1}
    assert {"learning_curve.png", "canvas.png", "versions.png", "proposals.png"} <= {
        p.name for p in (folder / "figures").glob("*.png")}
