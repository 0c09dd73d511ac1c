"""train.fit: run folders, CSV log, checkpoints, resume after an interruption, no overwrite,
and the YAML config that repeats a notebook's run."""

import lightning as L
import pytest
import torch

from im2im_helpers import config, data, models, tasks, train


class PowerCut(RuntimeError):
    pass


class CutAfterFirstEpoch(L.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise PowerCut("the machine went down")


def small_run(pair_folder, tmp_path, seed=0):
    pairs = data.load(pair_folder)
    split = data.split(pairs, test=1, val=1, seed=seed, path=tmp_path / "split.json")
    dm = data.patches(split, patch=(32, 32), batch_size=4, samples_per_image=8, seed=seed)
    net = models.build("unet", 2, channels=(8, 16), num_res_units=0, seed=seed)
    return tasks.Supervised(net, loss="mse", lr=3e-3), dm


def test_fit_writes_a_run_folder_and_lowers_the_loss(pair_folder, tmp_path):
    task, dm = small_run(pair_folder, tmp_path)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=6, progress=False)
    assert (run.path / "config.yaml").is_file()
    assert run.last_checkpoint.is_file() and run.best_checkpoint.is_file()
    losses = [v for _, _, v in run.history()["train_loss_epoch"]]
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]
    assert [e for e, _, _ in run.history()["val_loss"]] == list(range(6))


def test_interrupted_fit_resumes_from_its_checkpoint(pair_folder, tmp_path):
    task, dm = small_run(pair_folder, tmp_path)
    with pytest.raises(PowerCut):
        train.fit(task, dm, tmp_path / "run", max_epochs=3, progress=False,
                  callbacks=[CutAfterFirstEpoch()])
    ckpt = train.last_checkpoint(tmp_path / "run")
    saved = torch.load(ckpt, weights_only=False)
    assert saved["epoch"] == 0 and saved["global_step"] > 0

    task2, dm2 = small_run(pair_folder, tmp_path)
    run = train.fit(task2, dm2, tmp_path / "run", max_epochs=3, resume=True, progress=False)
    assert run.resumed_from == ckpt
    assert run.trainer.current_epoch == 3
    assert run.trainer.global_step == 3 * saved["global_step"]
    epochs = [e for e, _, _ in run.history()["train_loss_epoch"]]
    assert epochs == [0, 1, 2]  # epoch 0 from the first attempt, 1-2 from the resumed one
    assert len(list((run.path / "logs").glob("attempt-*"))) == 2


def test_existing_run_is_never_overwritten_unless_asked(pair_folder, tmp_path):
    task, dm = small_run(pair_folder, tmp_path)
    train.fit(task, dm, tmp_path / "run", max_epochs=1, progress=False)
    before = (tmp_path / "run" / "checkpoints" / "last.ckpt").read_bytes()
    with pytest.raises(train.RunExistsError, match=r"run: already holds a run.*resume=True"):
        train.fit(task, dm, tmp_path / "run", max_epochs=1, progress=False)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").read_bytes() == before
    run = train.fit(task, dm, tmp_path / "run", max_epochs=1, overwrite=True, progress=False)
    assert len(list((run.path / "logs").glob("attempt-*"))) == 1


def test_yaml_run_reproduces_the_notebook_configuration(pair_folder, tmp_path):
    task, dm = small_run(pair_folder, tmp_path)
    run = train.fit(task, dm, tmp_path / "nb", max_epochs=2, progress=False)
    cfg = config.load(run.path / "config.yaml")
    assert cfg.model == task.hparams["model"]
    assert cfg.data.patches.patch == [32, 32]
    assert cfg.data.split.path == str(tmp_path / "split.json")
    task2, dm2 = config.build(cfg)
    assert tasks.hyperparameters(task2) == tasks.hyperparameters(task) == cfg.task.hparams
    assert dm2.config == dm.config
    assert dm2.split.test.names == dm.split.test.names
    run2 = train.fit(task2, dm2, tmp_path / "yaml", cfg.train, progress=False)
    for a, b in zip(run.model.state_dict().values(), run2.model.state_dict().values()):
        torch.testing.assert_close(a, b)  # same data, seed, steps -> same weights
    assert config.load(run2.path / "config.yaml") == cfg


def test_overwrite_refuses_a_folder_that_is_not_a_run(pair_folder, tmp_path):
    """Issue 14, item 1: overwrite=True deletes only a run; a user's folder is kept whole."""
    task, dm = small_run(pair_folder, tmp_path)
    mine = tmp_path / "my documents"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    (mine / "raw").mkdir()
    (mine / "raw" / "image.tif").write_bytes(b"\x00" * 10)
    for flag in ("overwrite", "resume"):
        with pytest.raises(train.NotARunError, match=r"my documents.*not a run folder.*thesis"):
            train.fit(task, dm, mine, max_epochs=1, progress=False, **{flag: True})
    assert (mine / "thesis.txt").read_text() == "years of work"
    assert (mine / "raw" / "image.tif").is_file() and len(list(mine.iterdir())) == 2


def test_overwrite_refuses_a_run_folder_holding_other_files(pair_folder, tmp_path):
    task, dm = small_run(pair_folder, tmp_path)
    run = train.fit(task, dm, tmp_path / "run", max_epochs=1, progress=False)
    (run.path / "notes.md").write_text("keep me")
    with pytest.raises(train.NotARunError, match=r"notes.md"):
        train.fit(task, dm, run.path, max_epochs=1, overwrite=True, progress=False)
    assert (run.path / "notes.md").read_text() == "keep me"
    (run.path / "notes.md").unlink()
    again = train.fit(task, dm, run.path, max_epochs=1, overwrite=True, progress=False)
    assert len(list((again.path / "logs").glob("attempt-*"))) == 1


def test_the_best_weights_are_loaded_weights_only_from_inside_the_run(pair_folder, tmp_path,
                                                                      monkeypatch):
    """Issue 14, item 3: the best checkpoint's path comes from inside last.ckpt; it must lie in
    the run folder and be read as weights only."""
    task, dm = small_run(pair_folder, tmp_path)
    train.fit(task, dm, tmp_path / "run", max_epochs=1, progress=False)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)
    elsewhere = tmp_path / "elsewhere.ckpt"
    torch.save(state, elsewhere)
    for key, value in state["callbacks"].items():
        if "best_model_path" in value:
            state["callbacks"][key]["best_model_path"] = str(elsewhere)
    torch.save(state, ckpt)
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(k) or real_load(*a, **k))
    task2, dm2 = small_run(pair_folder, tmp_path)
    with pytest.raises(train.RunFolderError, match=r"elsewhere.ckpt.*outside"):
        train.fit(task2, dm2, tmp_path / "run", max_epochs=2, resume=True, progress=False)
    assert all(k.get("weights_only", True) for k in loads), loads


def test_resuming_a_finished_run_returns_it(pair_folder, tmp_path):
    """Issue 14, item 4: resume of a finished run is a no-op, the best weights are found."""
    task, dm = small_run(pair_folder, tmp_path)
    first = train.fit(task, dm, tmp_path / "run", max_epochs=3, progress=False)
    weights = {k: v.clone() for k, v in first.model.state_dict().items()}
    task2, dm2 = small_run(pair_folder, tmp_path)
    again = train.fit(task2, dm2, tmp_path / "run", max_epochs=3, resume=True, progress=False)
    for name, value in again.model.state_dict().items():
        torch.testing.assert_close(value, weights[name], msg=name)
    assert len(list((again.path / "checkpoints").glob("best-*.ckpt"))) == 1
    # one more epoch that may or may not beat the best: still exactly one best file, loadable
    task3, dm3 = small_run(pair_folder, tmp_path)
    more = train.fit(task3, dm3, tmp_path / "run", max_epochs=4, resume=True, progress=False)
    assert more.trainer.current_epoch == 4
    assert len(list((more.path / "checkpoints").glob("best-*.ckpt"))) == 1


KILLED_RUN = """
import os, signal, sys
import lightning as L
import torch
from im2im_helpers import data, models, tasks, train

torch.set_num_threads(int(sys.argv[3]))


class Kill(L.Callback):  # the power goes: no exception, no clean-up, mid-epoch 2
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 2 and batch_idx == 1:
            os.kill(os.getpid(), signal.SIGKILL)


pairs = data.load(sys.argv[1])
split = data.split(pairs, test=1, val=1, seed=0, path=sys.argv[2] + "/split.json")
dm = data.patches(split, patch=(32, 32), batch_size=4, samples_per_image=8, seed=0)
net = models.build("unet", 2, channels=(8, 16), num_res_units=0, seed=0, dropout=0.2)
train.fit(tasks.Noise2Void(net, lr=3e-3), dm, sys.argv[2] + "/run", max_epochs=4,
          progress=False, callbacks=[Kill()])
"""


def test_a_run_killed_and_resumed_ends_with_the_weights_of_an_uninterrupted_one(pair_folder,
                                                                                tmp_path):
    """Issue 14, item 5: epochs are seeded from (seed, epoch), so a resume after SIGKILL (during
    epoch 2, from the checkpoint of epoch 1) trains bit-identically to an uninterrupted run:
    dropout and Noise2Void's random masks draw on the global random state, the patches on
    MONAI's transforms and the sampler."""
    import subprocess
    import sys

    def fresh():
        pairs = data.load(pair_folder)
        split = data.split(pairs, test=1, val=1, seed=0, path=tmp_path / "split.json")
        dm = data.patches(split, patch=(32, 32), batch_size=4, samples_per_image=8, seed=0)
        net = models.build("unet", 2, channels=(8, 16), num_res_units=0, seed=0, dropout=0.2)
        return tasks.Noise2Void(net, lr=3e-3), dm

    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(pair_folder), str(tmp_path),
                             str(torch.get_num_threads())], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["epoch"] == 1
    resumed = train.fit(*fresh(), tmp_path / "run", max_epochs=4, resume=True, progress=False,
                        restore_best=False)
    whole = train.fit(*fresh(), tmp_path / "whole", max_epochs=4, progress=False,
                      restore_best=False)
    assert resumed.trainer.global_step == whole.trainer.global_step
    for name, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


@pytest.mark.slow
def test_ddp_notebook_trains_on_two_cpu_processes_from_python(pair_folder, tmp_path):
    """Issue 14, item 6, from a notebook: Lightning's notebook-safe strategy forks two
    processes; the run folder is written once and the weights come back to the caller."""
    task, dm = small_run(pair_folder, tmp_path)
    threads = torch.get_num_threads()
    run = train.fit(task, dm, tmp_path / "run", max_epochs=2, progress=False,
                    accelerator="cpu", devices=2, strategy="ddp_notebook")
    assert torch.get_num_threads() == threads  # the caller's setting is restored
    assert [p.name for p in (run.path / "logs").iterdir()] == ["attempt-0"]
    saved = torch.load(run.last_checkpoint, weights_only=True)
    # small_run: 3 training pairs x 8 patches = 24 over 2 processes, batches of 4: 3 steps each
    assert saved["epoch"] == 1 and saved["global_step"] == 6
    best = torch.load(run.best_checkpoint, weights_only=True)["state_dict"]
    for name, value in run.model.state_dict().items():
        torch.testing.assert_close(value, best[name], msg=name)
    x = dm.split.test[0].input[None]
    with torch.no_grad():
        assert torch.isfinite(run.model(torch.as_tensor(x))).all()


def test_training_shows_no_lightning_banners_or_library_warnings(pair_folder, tmp_path, caplog,
                                                                capsys):
    """Issue 15, item 6: a tutorial's page carries the progress bar only: no "GPU available"
    banner, no tips, no model summary, no advice about logging intervals; the caller's logging
    level and warning filters are restored."""
    import logging
    import warnings

    caplog.set_level(logging.INFO)
    task, dm = small_run(pair_folder, tmp_path)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        train.fit(task, dm, tmp_path / "run", max_epochs=1, progress=True)
        filters_after = list(warnings.filters)
    shown = capsys.readouterr()
    text = caplog.text + shown.out + shown.err + "".join(str(w.message) for w in seen)
    for noise in ("GPU available", "TPU available", "Tip:", "Trainable params",
                  "logging interval", "LeafSpec"):
        assert noise not in text, noise
    assert "Epoch 0" in shown.out and "Validation" not in shown.out  # one bar, training only
    assert "v_num" not in shown.out
    assert filters_after[0][0] == "always"
    assert logging.getLogger("lightning.pytorch").level == logging.INFO
