"""Bad input to automatic configuration, on the command line and from Python: an empty or mixed
folder, a target whose shape differs from its input's, a budget too small for one trial, bad
folds. Each gets a message that names the input, what was expected and what to do, and nothing
is written or deleted: the data and an output folder's files stay byte-identical.

(``tests/auto/test_search.py`` covers an empty folder, an input without target among other files,
an unknown task, continuous targets for segmentation and a folder that is not ours; these tests
add the other mixes, both surfaces, and the byte-for-byte checks.)"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from im2im_helpers.__main__ import main
from im2im_helpers.auto import budget
from im2im_helpers.auto.kinds import AutoError
from im2im_helpers.auto.pipeline import MARKER, run
from tests.helpers import write

SHAPE = (16, 16)


def image(seed: int, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def good_pairs(folder: Path, n: int = 2) -> Path:
    """``n`` tiny 2D pairs ``p0``, ``p1``, ... in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write(folder / f"p{i}_IM.ome.tiff", image(i))
        write(folder / f"p{i}_GT.ome.tiff", 2 * image(i) + 1)
    return folder


def _empty(folder: Path) -> None:
    folder.mkdir()


def _other_files_only(folder: Path) -> None:
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    (folder / "table.csv").write_text("a,b\n1,2\n")


def _input_without_target(folder: Path) -> None:
    good_pairs(folder)
    (folder / "p1_GT.ome.tiff").unlink()
    (folder / "notes.txt").write_text("not an image")


def _target_without_input(folder: Path) -> None:
    good_pairs(folder)
    write(folder / "p7_GT.ome.tiff", image(7))


def _2d_and_3d(folder: Path) -> None:
    good_pairs(folder)
    write(folder / "p7_IM.ome.tiff", np.stack([image(7)] * 3), "ZYX")
    write(folder / "p7_GT.ome.tiff", np.stack([image(8)] * 3), "ZYX")


def _channels_differ(folder: Path) -> None:
    good_pairs(folder)
    write(folder / "p7_IM.ome.tiff", np.stack([image(7), image(8)]), "CYX")
    write(folder / "p7_GT.ome.tiff", image(9))


def _target_shape_differs(folder: Path) -> None:
    good_pairs(folder)
    (folder / "p1_GT.ome.tiff").unlink()
    write(folder / "p1_GT.ome.tiff", image(1, (12, 16)))


def _unreadable_image(folder: Path) -> None:
    good_pairs(folder)
    (folder / "p7_IM.tif").write_text("half a download")
    write(folder / "p7_GT.ome.tiff", image(7))


#: Broken data folders: name -> (how to make one, words the message must hold). The words name
#: the file (``{folder}`` is replaced by the folder), what was expected and what to do.
BROKEN: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "empty": (_empty, ["{folder}: no training pairs found", "Expected files named X_IM"]),
    "other files only": (_other_files_only, ["{folder}: no training pairs found",
                                             "X_IM.tif and X_GT.tif"]),
    "input without target": (_input_without_target, [
        "{folder}/p1_IM.ome.tiff: has no ground truth", "p1_GT.<ext>", "add it"]),
    "target without input": (_target_without_input, [
        "{folder}/p7_GT.ome.tiff: has no input image", "add it or remove it"]),
    "2D and 3D": (_2d_and_3d, ["2D files", "{folder}/p7_IM.ome.tiff", "separate folders"]),
    "channels differ": (_channels_differ, ["has 1 channel(s) but {folder}/p7_IM.ome.tiff has 2",
                                           "same channels", "so they match"]),
    "target shape differs": (_target_shape_differs, [
        "{folder}/p1_GT.ome.tiff: spatial shape (12, 16) differs from its input",
        "crop or resample"]),
    "unreadable image": (_unreadable_image, ["{folder}/p7_IM.tif: could not be read as an image",
                                             "check that the file is complete"]),
}


def make_broken(kind: str, folder: Path) -> list[str]:
    """Make the broken folder ``kind`` of :data:`BROKEN` at ``folder``; the message's words."""
    build, words = BROKEN[kind]
    build(folder)
    return [w.format(folder=folder) for w in words]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path) -> SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(source, out, *options: str) -> list[str]:
    return ["auto", str(source), "--task", "labelfree", "--out", str(out), "--quiet", *options]


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_data_folder_is_named_on_the_command_line_and_nothing_is_written(
        kind, tmp_path, capsys):
    folder = tmp_path / "data"
    words = make_broken(kind, folder)
    before = snapshot(folder)
    out = tmp_path / "out"
    assert main(cli(folder, out, "--budget-min", "5")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for word in words:
        assert word in err
    assert not out.exists()  # refused before the output folder was made
    assert snapshot(folder) == before


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_data_folder_is_named_from_python_and_nothing_is_written(kind, tmp_path):
    folder = tmp_path / "data"
    words = make_broken(kind, folder)
    before = snapshot(folder)
    out = tmp_path / "out"
    with pytest.raises((ValueError, OSError)) as err:
        run(folder, "labelfree", 5, out, log=None)
    for word in words:
        assert word in str(err.value)
    assert not out.exists()
    assert snapshot(folder) == before


def test_a_missing_folder_or_a_file_instead_of_a_folder_is_named(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(cli(tmp_path / "nowhere", out, "--budget-min", "5")) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nowhere'}: neither a folder of pairs" in err and "data list" in err
    folder = good_pairs(tmp_path / "data")
    one = folder / "p0_IM.ome.tiff"
    with pytest.raises(AutoError, match=f"{one}: is a file; give the folder .* \\({folder}\\)"):
        run(one, "labelfree", 5, out, log=None)
    assert not out.exists()


@pytest.mark.parametrize("minutes, words", [
    ("0.01", ["budget of 0.01 min is too small for one trial", "Give --budget-min 1.1 or more",
              "nothing was written"]),
    ("0.3", ["budget of 0.3 min is too small for one trial", "--budget-min 1.1"]),
    ("0", ["budget 0.0 min: give a positive number of minutes (--budget-min)"]),
    ("-2", ["budget -2.0 min: give a positive number"]),
    ("nan", ["budget nan min: give a positive number"]),
    ("inf", ["budget inf min: give a positive number"]),
])
def test_a_budget_too_small_for_one_trial_is_refused_before_anything_is_written(
        minutes, words, tmp_path, capsys):
    folder = good_pairs(tmp_path / "data", 3)
    out = tmp_path / "out"
    assert main(cli(folder, out, "--budget-min", minutes)) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert not out.exists()
    with pytest.raises(AutoError, match="--budget-min"):
        run(folder, "labelfree", float(minutes), out, log=None)
    assert not out.exists()


def test_the_least_budget_is_below_what_any_plan_needs():
    """The early refusal never refuses a budget that :func:`budget.make_plan` would take."""
    assert budget.least_budget_s() < budget.typical_budget_s()
    with pytest.raises(AutoError):
        budget.check_budget(budget.least_budget_s() / 60 * 0.99)
    assert budget.check_budget(budget.least_budget_s() / 60) == pytest.approx(
        budget.least_budget_s())
    assert budget.check_budget(0.01, least=False) == pytest.approx(0.6)  # a planned study
    assert math.ceil(budget.typical_budget_s() / 6) / 10 == 1.1


def test_one_fold_is_refused_before_anything_is_written(tmp_path, capsys):
    folder = good_pairs(tmp_path / "data", 3)
    out = tmp_path / "out"
    assert main(cli(folder, out, "--budget-min", "5", "--folds", "1")) == 2
    assert "folds=1: cross-validation needs at least 2 folds (--folds 2" in (
        capsys.readouterr().err)
    assert not out.exists()


def our_earlier_output(out: Path) -> dict[str, str]:
    """An output folder of an earlier automatic configuration (its marker, a chosen
    configuration, a report, a final run's checkpoint); its snapshot."""
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"storage": f"sqlite:///{out / 'study.db'}",
                                          "study": "auto"}))
    (out / "best.yaml").write_text("model: {name: unet}\n")
    (out / "auto_report.md").write_text("# the earlier result\n")
    (out / "final" / "checkpoints").mkdir(parents=True)
    (out / "final" / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    return snapshot(out)


@pytest.mark.parametrize("kind", ["empty", "target shape differs"])
def test_overwrite_with_bad_data_keeps_the_earlier_result(kind, tmp_path, capsys):
    out = tmp_path / "out"
    before = our_earlier_output(out)
    words = make_broken(kind, tmp_path / "data")
    assert main(cli(tmp_path / "data", out, "--budget-min", "5", "--overwrite")) == 2
    err = capsys.readouterr().err
    assert all(word in err for word in words)
    assert snapshot(out) == before  # --overwrite deletes only once the data have loaded


def test_overwrite_with_a_budget_too_small_keeps_the_earlier_result(tmp_path, capsys):
    out = tmp_path / "out"
    before = our_earlier_output(out)
    folder = good_pairs(tmp_path / "data", 3)
    assert main(cli(folder, out, "--budget-min", "0.01", "--overwrite")) == 2
    assert "too small for one trial" in capsys.readouterr().err
    assert snapshot(out) == before


def test_a_folder_of_the_users_is_left_byte_identical_whatever_is_wrong(tmp_path, capsys):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.docx").write_bytes(b"keep me")
    (theirs / "split.json").write_text("{}")  # has the name of one of our outputs
    before = snapshot(theirs)
    folder = good_pairs(tmp_path / "data", 3)
    for options in (["--budget-min", "5"], ["--budget-min", "0.01", "--overwrite"],
                    ["--budget-min", "5", "--overwrite"]):
        assert main(cli(folder, theirs, *options)) == 2
        err = capsys.readouterr().err
        assert f"{theirs}: " in err and "nothing was changed" in err
        assert snapshot(theirs) == before
    afile = tmp_path / "a-file"
    afile.write_bytes(b"mine")
    assert main(cli(folder, afile, "--budget-min", "5")) == 2
    assert "is a file; give a folder for the output (--out)" in capsys.readouterr().err
    assert afile.read_bytes() == b"mine"


def test_test_pairs_that_are_not_there_are_named_and_the_folder_runs_again(
        tmp_path, tiny_folder, good_and_bad):
    out = tmp_path / "out"
    with pytest.raises(AutoError, match=r"--test \['nope'\]\): .*not among the pairs.*Give a "
                                        r"fraction.*Only auto.json and an empty study"):
        run(tiny_folder, "denoising", 3, out, test=["nope"], candidates=good_and_bad, log=None)
    assert sorted(p.name for p in out.iterdir()) == ["auto.json", "study.db"]
    again = run(tiny_folder, "denoising", 3, out, test=2, candidates=good_and_bad, max_trials=0,
                retrain=False, log=None)  # set up again in the same folder; no trial run here
    assert again.best is None and set(again.cv) == {"good", "bad"}
    assert len(json.loads((out / "split.json").read_text())["names"]["test"]) == 2


def test_a_home_folder_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    make_broken("target shape differs", tmp_path / "data")
    with pytest.raises(ValueError, match=f"{tmp_path}/data/p1_GT.ome.tiff: spatial shape"):
        run("~/data", "labelfree", 5, "~/out", log=None)
    assert not (tmp_path / "out").exists()
