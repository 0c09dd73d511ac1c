"""Bad input to the app, through its widgets (no browser): a click on "train" with nothing
selected, a folder that does not exist, is a file or is empty, a mixed folder, a target whose
shape differs from its input's. The status line says what is wrong in red, naming the file, what
was expected and what to do; nothing is written, and nothing is deleted (the data and an
earlier app run stay byte-identical, "replace" ticked or not).

(``tests/app/test_app.py`` covers nothing selected, and an empty folder, an input without its
target and a missing folder through ``recipe.load_pairs``; these tests add the widget path for
every kind of broken folder and the byte-for-byte checks.)"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from im2im_helpers.app import App, recipe
from tests.auto.test_bad_input import BROKEN, good_pairs, make_broken, snapshot

RED = "#b00020"


def click_train(out: Path, folder: str = "", dataset: str | None = None, **form) -> str:
    """Fill the form, click train and wait; the status line as text (asserted red)."""
    widget = App(out=str(out))
    widget.settings_widgets["folder"].value = folder
    if dataset is not None:
        widget.settings_widgets["source"].value = dataset
    for name, value in form.items():
        widget.settings_widgets[name].value = value
    widget.train_button.click()
    assert widget.wait(timeout=60)
    assert RED in widget.status.value, widget.status.value
    assert widget.prepared is None and widget.run is None
    assert widget.write_button.disabled and widget.export_button.disabled  # nothing to write
    return html.unescape(re.sub("<[^>]+>", "", widget.status.value))


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_folder_is_named_in_red_and_nothing_is_written(kind, tmp_path):
    folder = tmp_path / "data"
    words = make_broken(kind, folder)
    before = snapshot(folder)
    message = click_train(tmp_path / "out", str(folder))
    assert message.startswith("cannot load the data: ")
    for word in words:
        assert word in message
    assert not (tmp_path / "out").exists()
    assert snapshot(folder) == before


def test_nothing_selected_or_only_spaces_says_so(tmp_path):
    for folder in ("", "   "):
        message = click_train(tmp_path / "out", folder)
        assert message.startswith("no data selected: choose a dataset in the list or type")
    assert not (tmp_path / "out").exists()


def test_a_missing_folder_or_a_file_is_named_with_what_to_give(tmp_path):
    message = click_train(tmp_path / "out", str(tmp_path / "nowhere"))
    assert f"{tmp_path / 'nowhere'}: neither a folder of pairs" in message
    folder = good_pairs(tmp_path / "data", 3)
    one = folder / "p0_IM.ome.tiff"
    message = click_train(tmp_path / "out", str(one))
    assert message == (f"{one}: is a file; the app trains on a folder of X_IM/X_GT image pairs. "
                       f"Type the folder that holds it ({folder}) or choose a dataset in the "
                       "list.")
    assert not (tmp_path / "out").exists()


def test_a_typed_home_folder_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "empty").mkdir()
    message = click_train(tmp_path / "out", "~/empty")
    assert f"{tmp_path / 'empty'}: no training pairs found" in message


def test_too_few_pairs_are_counted(tmp_path):
    folder = good_pairs(tmp_path / "data", 2)
    message = click_train(tmp_path / "out", str(folder))
    assert message.startswith(f"{folder}: holds 2 pair(s); the app needs at least 3")


def earlier_app_run(out: Path) -> dict[str, str]:
    """An output folder of an earlier app run (marker, split, run, predictions); its
    snapshot."""
    recipe.mark_out_folder(out, recipe.Settings(source="ndev-labelfree", out=str(out)))
    (out / "split.json").write_text('{"names": {}}')
    (out / "run" / "checkpoints").mkdir(parents=True)
    (out / "run" / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (out / "predictions").mkdir()
    (out / "predictions" / "p0_pred.ome.tiff").write_bytes(b"prediction")
    return snapshot(out)


@pytest.mark.parametrize("kind", ["empty", "target shape differs", "channels differ"])
def test_replace_with_bad_data_keeps_the_earlier_run(kind, tmp_path):
    out = tmp_path / "out"
    before = earlier_app_run(out)
    words = make_broken(kind, tmp_path / "data")
    message = click_train(out, str(tmp_path / "data"), replace=True)
    assert all(word in message for word in words)
    assert snapshot(out) == before  # replaced only once the data have loaded


def test_an_output_folder_of_the_users_is_refused_byte_identical(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.docx").write_bytes(b"keep me")
    folder = good_pairs(tmp_path / "data", 3)
    message = click_train(theirs, str(folder), replace=True)
    assert message.startswith(f"{theirs}: holds files the app did not write (thesis.docx); "
                              "nothing was touched")
    assert [p.name for p in theirs.iterdir()] == ["thesis.docx"]
    assert (theirs / "thesis.docx").read_bytes() == b"keep me"
