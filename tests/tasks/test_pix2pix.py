"""pix2pix: it learns a 2D mapping, its run reloads, and bad options are refused
(:mod:`im2im_helpers.tasks.pix2pix`)."""

import matplotlib.image
import numpy as np
import pytest

from im2im_helpers import predict, tasks, train
from tests.tasks.helpers import SMALL_D, UNET, check_reload, epochs, pairs_run


def test_pix2pix_refuses_unknown_discriminator_options_and_losses():
    with pytest.raises(ValueError, match=r"no option \['layers'\]"):
        tasks.Pix2Pix({**UNET, "dims": 2}, discriminator={"layers": 2})
    with pytest.raises(ValueError, match="adversarial loss"):
        tasks.Pix2Pix({**UNET, "dims": 2}, loss="mse")


def test_pix2pix_learns_a_2d_mapping_and_reloads(pair_folder, tmp_path):
    dm = pairs_run(pair_folder, tmp_path)
    task = tasks.Pix2Pix({**UNET, "dims": 2}, lr=2e-3, discriminator=SMALL_D, samples=2)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=5, progress=False)
    l1 = epochs(run, "train_g_l1_epoch")
    assert l1 == epochs(run, "train_loss_epoch") and l1[-1] < 0.5 * l1[0]
    for term in ("train_g_adv_epoch", "train_d_epoch", "val_loss"):
        assert len(epochs(run, term)) == 5 and np.isfinite(epochs(run, term)).all()
    assert run.best_checkpoint is not None
    figure = matplotlib.image.imread(run.path / "samples" / "epoch_004.png")
    assert figure.shape[0] > 100 and figure.shape[1] > 150  # 2 rows, 3 columns
    assert sorted(p.name for p in (run.path / "samples").iterdir()) == [
        f"epoch_{e:03d}.png" for e in range(5)]  # nothing half-written left behind
    loaded = check_reload(run, tasks.Pix2Pix)
    assert loaded.hparams["discriminator"]["n_layers"] == 2 and loaded.hparams.l1_weight == 100.0
    image = dm.split.test[0].input
    assert predict.image(loaded, image, roi=(32, 32)).shape == image.shape
