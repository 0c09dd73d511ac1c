"""The app's logic without a browser: settings and bad input (a clear message, nothing lost),
the live progress, and one tiny training from the form to the written predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from im2im_helpers.app import App, AppError, Settings, app, live, recipe
from im2im_helpers.auto.kinds import get_task
from tests.helpers import blob_pairs, write


def settings(**changes) -> Settings:
    return Settings(**{"source": "ndev-labelfree", "task": "labelfree", "out": "out", **changes})


@pytest.mark.parametrize("changes, words", [
    ({"source": ""}, "no data selected"),
    ({"task": "instances"}, "not one automatic configuration knows"),
    ({"out": " "}, "no output folder"),
    ({"level": "huge"}, "choose one of"),
    ({"epochs": -1}, "epochs=-1"),
    ({"patch": 8}, "patch=8"),
    ({"lr": 3.0}, "learning rate=3.0"),
])
def test_the_settings_are_checked_with_a_message_that_names_the_field(changes, words):
    with pytest.raises(AppError, match=words):
        recipe.check_settings(settings(**changes))


def test_a_level_fills_in_what_was_left_empty():
    s, task = recipe.check_settings(settings(level="smoke", epochs=None, patch=None, lr=None))
    smoke = recipe.LEVELS["smoke"]
    assert (s.epochs, s.patch, s.lr) == (smoke.epochs, smoke.patch, smoke.lr)
    assert task.name == "labelfree"


def test_an_output_folder_with_other_files_is_refused_and_left_untouched(tmp_path):
    (tmp_path / "thesis.docx").write_text("mine")
    with pytest.raises(AppError, match="did not write"):
        recipe.check_out_folder(tmp_path, replace=True)
    assert (tmp_path / "thesis.docx").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(AppError, match="is a file"):
        recipe.check_out_folder(tmp_path / "file", replace=False)


def test_an_earlier_app_run_is_replaced_only_when_asked(tmp_path):
    out = tmp_path / "out"
    recipe.mark_out_folder(out, settings())
    assert recipe.check_out_folder(out, replace=False) == out  # marked, no run yet
    (out / "run").mkdir()
    with pytest.raises(AppError, match="earlier app run"):
        recipe.check_out_folder(out, replace=False)
    assert recipe.check_out_folder(out, replace=True) == out
    (out / "notes.txt").write_text("mine")
    with pytest.raises(AppError, match="notes.txt"):
        recipe.check_out_folder(out, replace=True)


def test_empty_and_mixed_folders_give_a_clear_message(tmp_path, pair_folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    task = get_task("labelfree")
    with pytest.raises(AppError, match="no training pairs found"):
        recipe.load_pairs(str(empty), task)
    (pair_folder / "img0_GT.ome.tiff").unlink()  # an input without its target
    with pytest.raises(AppError, match="img0_IM.ome.tiff: has no ground truth"):
        recipe.load_pairs(str(pair_folder), task)
    with pytest.raises(AppError, match="neither a folder"):
        recipe.load_pairs(str(tmp_path / "missing"), task)


def test_segmentation_takes_labels_as_foreground_and_refuses_image_targets(tmp_path, pair_folder):
    folder = tmp_path / "blobs"
    folder.mkdir()
    for pair in blob_pairs(3):
        write(folder / f"{pair.name}_IM.ome.tiff", pair.input[0])
        write(folder / f"{pair.name}_GT.ome.tiff", pair.target[0].astype(np.uint16))
    pairs = recipe.load_pairs(str(folder), get_task("semantic"))
    assert set(np.unique(pairs[0].target)) == {0.0, 1.0}
    with pytest.raises(AppError, match="not masks or labels"):
        recipe.load_pairs(str(pair_folder), get_task("semantic"))
    counts = tmp_path / "counts"  # whole-numbered camera counts without background
    counts.mkdir()
    for pair in blob_pairs(3):
        write(counts / f"{pair.name}_IM.ome.tiff", pair.input[0])
        write(counts / f"{pair.name}_GT.ome.tiff", (100 + 50 * pair.target[0]).astype(np.uint16))
    with pytest.raises(AppError, match="not masks or labels"):
        recipe.load_pairs(str(counts), get_task("semantic"))


def test_clicking_train_with_nothing_selected_says_so_in_red_and_writes_nothing(tmp_path):
    widget = app(out=str(tmp_path / "out"))
    widget.train_button.click()
    assert "no data selected" in widget.status.value and "#b00020" in widget.status.value
    assert not (tmp_path / "out").exists()
    widget.write_predictions()
    assert "train first" in widget.status.value


def test_the_live_progress_reports_each_epoch_and_the_plot_is_a_png():
    steps, epochs = [], []
    callback = live.LiveProgress(lambda s, t: steps.append((s, t)), epochs.append)

    class Trainer:
        estimated_stepping_batches, global_step = 4, 2
        callback_metrics = {"train_loss_epoch": 0.5, "val_loss": 0.7}

    callback.on_train_batch_end(Trainer(), None, None, None, 0)
    callback.on_train_epoch_end(Trainer(), None)
    assert steps == [(2, 4)] and epochs == [{"train_loss": [0.5], "val_loss": [0.7]}]
    assert live.loss_png(epochs[0]).startswith(b"\x89PNG")


def test_the_app_trains_from_its_form_and_writes_predictions(tmp_path, pair_folder):
    out = tmp_path / "out"
    widget = App(out=str(out), source=str(pair_folder))
    widget.settings_widgets["epochs"].value = 1
    widget.settings_widgets["patch"].value = 32
    widget.train_button.click()  # training runs in a thread
    assert widget.wait(timeout=300)
    assert "done" in widget.status.value, widget.status.value
    assert widget.progress.value == widget.progress.max > 0
    assert list((out / "run" / "checkpoints").glob("*.ckpt"))
    record = json.loads((out / "metrics.json").read_text())
    assert set(record["methods"]) == {"network", "ridge"} and record["metric"] == "pearson"
    assert bytes(widget.comparison.value).startswith(b"\x89PNG")
    files = widget.write_predictions()
    assert [f.name for f in files] == [f"{n}_pred.ome.tiff" for n in widget.results.names]
    assert "pearson" in widget.results.summary()

    widget.train_button.click()  # the same folder again: refused until "replace" is ticked
    assert "earlier app run" in widget.status.value
    assert list((out / "run" / "checkpoints").glob("*.ckpt"))
