"""The simulated annotator: at most ``budget`` edits, each moving the mask towards the truth."""

import numpy as np
import pytest

from im2im_helpers import metrics
from im2im_helpers.active import SimulatedAnnotator, edit_units, error_components
from tests.active.conftest import discs


def flawed(truth: np.ndarray, seed: int) -> np.ndarray:
    """The truth with some objects missing, a false blob and a dent: several error parts."""
    rng = np.random.default_rng(seed)
    fg = truth > 0
    for k in rng.choice(np.unique(truth[truth > 0]), 2, replace=False):
        fg[truth == k] = False
    fg[rng.integers(0, 50):, :3] = True
    fg[30:33, 40:60] = ~fg[30:33, 40:60]
    return fg


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("budget", [1, 2, 3])
def test_budget_k_changes_at_most_k_edit_units_and_raises_dice(seed, budget):
    _, truth = discs(seed)
    proposal = flawed(truth, seed)
    before = metrics.dice(proposal.astype(float), (truth > 0).astype(float))
    result = SimulatedAnnotator(budget)(proposal, truth)
    assert result.edits <= budget
    assert edit_units(proposal, result.labels) == result.edits
    after = metrics.dice((result.labels > 0).astype(float), (truth > 0).astype(float))
    assert after > before
    assert result.remaining == error_components(proposal, truth)[1] - result.edits


def test_largest_error_first_none_is_perfect_zero_changes_nothing():
    _, truth = discs(0)
    proposal = flawed(truth, 0)
    one = SimulatedAnnotator(1)(proposal, truth)
    components, count = error_components(proposal, truth)
    assert one.sizes == [int(np.bincount(components.ravel())[1:].max())]
    perfect = SimulatedAnnotator(None)(proposal, truth)
    np.testing.assert_array_equal(perfect.labels > 0, truth > 0)
    assert perfect.edits == count
    np.testing.assert_array_equal(SimulatedAnnotator(0)(proposal, truth).labels > 0, proposal)


def test_small_errors_are_left_and_bad_budgets_refused():
    truth = np.zeros((10, 10), np.uint8)
    proposal = truth.copy()
    proposal[1, 1] = 1
    assert SimulatedAnnotator(3, min_pixels=2)(proposal, truth).edits == 0
    with pytest.raises(ValueError, match="budget"):
        SimulatedAnnotator(-1)
