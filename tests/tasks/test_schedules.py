"""Learning-rate schedules: one-cycle warms up to ``lr`` over the first 30 % of the steps and
anneals to near zero, stepped every batch; the adversarial tasks keep their own schedules."""

import lightning as L
import pytest

from im2im_helpers import tasks, train
from tests.tasks.helpers import UNET, pairs_run


class LearningRates(L.Callback):
    def __init__(self):
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_one_cycle_rises_to_lr_then_anneals_every_step(pair_folder, tmp_path):
    dm = pairs_run(pair_folder, tmp_path)
    task = tasks.Supervised({**UNET, "dims": 2}, lr=1e-2, scheduler="onecycle")
    rates = LearningRates()
    run = train.fit(task, dm, tmp_path / "run", max_epochs=3, progress=False,
                    callbacks=[rates])
    steps = run.trainer.global_step
    assert len(rates.seen) == steps and steps >= 9
    peak = max(range(steps), key=rates.seen.__getitem__)
    assert rates.seen[0] == pytest.approx(1e-2 / 25, rel=1e-6)
    assert max(rates.seen) == pytest.approx(1e-2, rel=0.05)
    assert abs(peak - 0.3 * steps) <= 1
    assert rates.seen[-1] < 1e-2 / 20  # annealed, not held at lr
    assert len(set(rates.seen)) == steps  # a new rate every batch


def test_adversarial_tasks_refuse_a_schedule_they_do_not_step():
    with pytest.raises(ValueError, match=r"scheduler='onecycle': choose one of \(None, 'cosine'\)"):
        tasks.Pix2Pix({**UNET, "dims": 2}, scheduler="onecycle")
