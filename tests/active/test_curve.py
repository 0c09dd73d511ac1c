"""The learning curve: its structure on a tiny case, and the saving computed from the curve."""

import json

import pytest

from im2im_helpers.active import SimulatedAnnotator, learning_curve, savings, summarise


def test_a_tiny_learning_curve_has_every_strategy_seed_and_round(tmp_path, pool_data,
                                                                  tiny_config):
    images, truths, held_out = pool_data
    curve = learning_curve(tmp_path / "curve", images, truths, held_out, tiny_config, rounds=2,
                           seeds=(0, 1), annotator=SimulatedAnnotator(2))
    assert len(curve.rows) == 2 * 2 * 2
    assert {(r["strategy"], r["seed"], r["round"]) for r in curve.rows} == {
        (s, seed, r) for s in ("uncertainty", "random") for seed in (0, 1) for r in (0, 1)}
    assert {r["n_annotated"] for r in curve.rows} == {1, 2}
    assert all(0 <= r["dice"] <= 1 for r in curve.rows)
    for strategy in ("uncertainty", "random"):
        assert [p["n_annotated"] for p in curve.summary[strategy]] == [1, 2]
        assert all(p["seeds"] == 2 for p in curve.summary[strategy])
    # one seed starts both strategies from the same crop and the same training: same round 0
    for seed in (0, 1):
        first = {r["strategy"]: r["dice"] for r in curve.rows
                 if r["seed"] == seed and r["round"] == 0}
        assert first["uncertainty"] == pytest.approx(first["random"], abs=1e-6)
    assert {"target", "reached_at", "saved", "statement"} <= set(curve.savings)
    written = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert written["savings"] == curve.savings
    assert (tmp_path / "curve" / "learning_curve.png").stat().st_size > 0
    assert "annotated" in curve.table()
    again = learning_curve(tmp_path / "curve", images, truths, held_out, tiny_config, rounds=2,
                           seeds=(0, 1), annotator=SimulatedAnnotator(2))
    assert [r["dice"] for r in again.rows] == [r["dice"] for r in curve.rows]  # read back


def rows(values):
    return [{"strategy": s, "seed": seed, "round": i, "n_annotated": 1 + 2 * i, "dice": d}
            for s, per_seed in values.items() for seed, curve in enumerate(per_seed)
            for i, d in enumerate(curve)]


def test_savings_are_computed_from_the_curve():
    summary = summarise(rows({"uncertainty": [[0.5, 0.7, 0.8], [0.5, 0.7, 0.8]],
                              "random": [[0.5, 0.6, 0.7], [0.5, 0.6, 0.72]]}))
    result = savings(summary)
    assert result["target"] == pytest.approx(0.71)
    assert (result["baseline_annotations"], result["reached_at"], result["saved"]) == (5, 5, 0)
    assert "no annotations saved" in result["statement"]
    better = savings(summarise(rows({"uncertainty": [[0.5, 0.75, 0.8]] * 2,
                                     "random": [[0.5, 0.6, 0.7]] * 2})))
    assert (better["reached_at"], better["saved"]) == (3, 2)
    assert "2 fewer" in better["statement"]
    worse = savings(summarise(rows({"uncertainty": [[0.5, 0.55, 0.6]] * 2,
                                    "random": [[0.5, 0.6, 0.7]] * 2})))
    assert worse["reached_at"] is None and worse["saved"] is None
    assert "did not reach" in worse["statement"]


def test_no_savings_are_claimed_when_the_baseline_never_improved():
    """Random sampling that ends below its start is reached at once, but nothing was saved."""
    flat = savings(summarise(rows({"uncertainty": [[0.5, 0.5, 0.5]] * 2,
                                   "random": [[0.5, 0.45, 0.48]] * 2})))
    assert flat["reached_at"] == 1 and flat["saved"] is None and flat["saved_fraction"] is None
    assert "nothing to save" in flat["statement"] and "1 annotated crop)" in flat["statement"]


def test_one_seed_is_refused(tmp_path, pool_data):
    with pytest.raises(ValueError, match="two seeds"):
        learning_curve(tmp_path, *pool_data, seeds=(0,))
