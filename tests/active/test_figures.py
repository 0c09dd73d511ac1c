"""The static figures of a loop: the proposed crops with their masks, the chosen crops in
their images."""

import matplotlib.pyplot as plt
import pytest

from im2im_helpers.active import ActiveLoop, SimulatedAnnotator, pool_figure, proposals_figure
from tests.active.test_loop import truth_of


def test_the_proposals_and_the_chosen_crops_are_drawn(tmp_path, pool_data, tiny_config):
    images, truths, _ = pool_data
    loop = ActiveLoop(tmp_path / "loop", images, tiny_config)
    loop.annotate(loop.initial_crops(), SimulatedAnnotator(None), truth_of(loop, truths))
    loop.train()
    chosen = loop.propose(2)
    fig = proposals_figure(loop, chosen, path=tmp_path / "proposals.png", title="proposed")
    assert (tmp_path / "proposals.png").stat().st_size > 0 and len(fig.axes) == 2
    assert all("uncertainty" in ax.get_title() for ax in fig.axes)  # the recorded scores
    plt.close(fig)
    marked = {"first": loop.initial_crops(), "chosen": chosen}
    fig = pool_figure(loop, marked, path=tmp_path / "pool.png")
    shown = {loop.pool.crop(c).image for ids in marked.values() for c in ids}
    assert len(fig.axes) == len(shown) and (tmp_path / "pool.png").stat().st_size > 0
    assert sum(len(ax.patches) for ax in fig.axes) == 1 + len(chosen)
    plt.close(fig)
    with pytest.raises(ValueError, match="no crops"):
        proposals_figure(loop, [])
    with pytest.raises(ValueError, match="no crops marked"):
        pool_figure(loop, {"none": []})
