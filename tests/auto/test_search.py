"""The search: cross-validation picks the better candidate and prunes the hopeless one, the
winner is retrained and tested once, the report and ``best.yaml`` are written; bad input is
refused with clear errors."""

from __future__ import annotations

import json

import pytest

from im2im_helpers import config, data
from im2im_helpers.__main__ import main
from im2im_helpers.auto import AutoError, open_study, run
from im2im_helpers.auto.search import default_storage


@pytest.fixture(scope="module")
def searched(tmp_path_factory, tiny_folder, good_and_bad):
    """One whole search on the tiny folder: 3 folds, ``good`` first, then ``bad`` (3 minutes:
    enough for both, though the tiny runs take seconds)."""
    out = tmp_path_factory.mktemp("search") / "out"
    return run(tiny_folder, "denoising", 3.0, out, folds=3, test=2, candidates=good_and_bad,
               heartbeat_s=1, log=None)


def test_cross_validation_picks_the_better_candidate_and_prunes_the_other(searched):
    assert searched.best == "good"
    good, bad = searched.cv["good"], searched.cv["bad"]
    assert good["state"] == "complete" and len(good["fold_scores"]) == 3
    assert bad["state"] == "pruned" and len(bad["fold_scores"]) == 2  # stopped after fold 2
    assert max(bad["fold_scores"]) < min(good["fold_scores"])
    assert searched.test_score == searched.test_scores["psnr"] > good["mean"] - 10


def test_the_test_pairs_are_decided_up_front_and_never_in_a_fold(searched):
    split = json.loads((searched.out / "split.json").read_text())["names"]
    assert len(split["test"]) == 2 and not split["val"]
    for i in range(3):
        fold = json.loads((searched.out / "folds" / f"fold-{i}.json").read_text())["names"]
        assert not set(fold["train"] + fold["test"]) & set(split["test"])
        assert sorted(fold["train"] + fold["test"]) == sorted(split["train"])


def test_report_and_best_yaml_are_written_and_best_yaml_runs(searched, tiny_folder):
    text = searched.report.read_text()
    for part in ("## Data and machine", "## Candidates", "learning rate 0.01", "good **(chosen)**",
                 "pruned", "± ", "held-out pair(s): psnr", "Time used"):
        assert part in text, part
    record = json.loads((searched.out / "auto_report.json").read_text())
    assert record["best"] == "good" and record["test"]["scores"]["psnr"] == searched.test_score
    cfg = config.load(searched.out / "best.yaml")
    assert cfg == searched.config and cfg.data.source == str(tiny_folder)
    task, dm = config.build(cfg)  # what `python -m im2im_helpers train best.yaml` builds
    assert sorted(dm.split.train.names) == sorted(record["setup"]["folds"][0]
                                                   + record["setup"]["folds"][1]
                                                   + record["setup"]["folds"][2])
    assert dm.split.test.names == record["setup"]["test"] and not dm.split.val
    assert (searched.run / "checkpoints" / "last.ckpt").is_file()
    best_fold = max(range(3), key=lambda i: searched.cv["good"]["fold_scores"][i])
    assert record["final"]["start"] == f"from trials/trial-000/fold-{best_fold}/weights.pt"
    assert record["final"]["steps"] > 0 and record["test"]["tta"] is True
    assert "from trials/trial-000" in text and "test-time augmentation" in text


def test_running_again_in_the_same_folder_reruns_nothing(searched, tiny_folder, good_and_bad):
    before = [(t.number, t.state, t.datetime_complete) for t in
              open_study(default_storage(searched.out), heartbeat_s=1).get_trials()]
    again = run(tiny_folder, "denoising", 3.0, searched.out, folds=3, test=2,
                candidates=good_and_bad, heartbeat_s=1, log=None, retrain=False)
    after = [(t.number, t.state, t.datetime_complete) for t in
             open_study(default_storage(searched.out), heartbeat_s=1).get_trials()]
    assert after == before and again.best == "good"
    assert len(before) == 2  # one trial per candidate, none queued twice


def test_bad_input_gets_errors_that_name_it(tmp_path, tiny_folder, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["auto", str(empty), "--task", "labelfree", "--budget-min", "1",
                 "--out", str(tmp_path / "o1")]) == 2
    assert f"{empty}: no training pairs found" in capsys.readouterr().err
    pairs = data.load(tiny_folder)
    mixed = data.write_folder(pairs.subset(pairs.names[:2]), tmp_path / "mixed")
    (mixed / "notes.txt").write_text("not an image")
    (mixed / "p0_GT.ome.tiff").unlink()
    assert main(["auto", str(mixed), "--task", "labelfree", "--budget-min", "1",
                 "--out", str(tmp_path / "o2")]) == 2
    assert "p0_IM.ome.tiff: has no ground truth" in capsys.readouterr().err
    assert main(["auto", str(tiny_folder), "--task", "instances", "--budget-min", "1",
                 "--out", str(tmp_path / "o3")]) == 2
    assert "task 'instances'" in capsys.readouterr().err
    assert main(["auto", str(tiny_folder), "--task", "semantic", "--budget-min", "1",
                 "--out", str(tmp_path / "o4")]) == 2
    assert "continuous values, not masks" in capsys.readouterr().err
    assert main(["auto", str(tiny_folder), "--task", "labelfree", "--budget-min", "0.05",
                 "--out", str(tmp_path / "o5"), "--test", "2"]) == 2
    err = capsys.readouterr().err
    assert "too small for one trial" in err and "--budget-min" in err
    assert not (tmp_path / "o5").exists()  # refused before anything was written
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.docx").write_text("keep me")
    with pytest.raises(AutoError, match="holds other files"):
        run(tiny_folder, "labelfree", 1, theirs, log=None)
    assert [p.name for p in theirs.iterdir()] == ["thesis.docx"]


def test_the_command_line_end_to_end(tmp_path, tiny_folder, good_and_bad, capsys):
    files = [config.save(c.config, tmp_path / f"{c.name}.yaml") for c in good_and_bad]
    out = tmp_path / "out"
    assert main(["auto", str(tiny_folder), "--task", "denoising", "--budget-min", "1", "--out",
                 str(out), "--folds", "2", "--test", "p0,p1", "--quiet", "--clock", "cpu",
                 "--candidates", *map(str, files)]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'auto_report.md'}" in printed and "chosen: good" in printed
    record = json.loads((out / "auto_report.json").read_text())
    assert record["clock"] == "cpu" and record["setup"]["plan"]["clock"] == "cpu"
    assert "s (CPU)." in (out / "auto_report.md").read_text()
    assert config.load(out / "best.yaml").train.max_time_s is None  # no wall-clock guard
    assert json.loads((out / "split.json").read_text())["names"]["test"] == ["p0", "p1"]
    assert config.load(out / "best.yaml").task.hparams["lr"] == 1e-2


def test_the_step_time_leaves_out_set_up_and_the_first_step():
    """A fold of a few steps after seconds of set-up: the final run is planned at the steps'
    own pace (here 0.5 s), not at the fold's time spread over its steps (about 2.9 s)."""
    from im2im_helpers.auto.search import StepTimer

    ticks = iter([12.0, 12.5, 13.0, 13.5, 14.0, 14.5])  # the first step ends after 12 s
    timer = StepTimer(lambda: next(ticks))
    assert timer.step_s is None
    timer.on_train_batch_end(None, None, None, None, 0)
    assert timer.step_s is None  # one step says nothing about the pace
    for i in range(1, 6):
        timer.on_train_batch_end(None, None, None, None, i)
    assert timer.steps == 5 and timer.step_s == pytest.approx(0.5)


def test_a_fold_reports_the_pace_of_its_steps(tiny_folder, good_and_bad, tmp_path):
    from im2im_helpers.auto.kinds import get_task
    from im2im_helpers.auto.search import train_and_score

    pairs = data.load(tiny_folder)
    split = data.split(pairs, test=2, val=0, seed=0)
    fold = train_and_score(good_and_bad[0], split, get_task("labelfree"), tmp_path / "fold")
    assert fold.step_s is not None and 0 < fold.step_s < fold.seconds
    assert (tmp_path / "fold" / "weights.pt").is_file()


def test_a_single_candidate_is_not_cross_validated_unless_an_estimate_is_asked_for(
        tmp_path, tiny_folder, good_and_bad, capsys):
    good = good_and_bad[0]
    alone = run(tiny_folder, "denoising", 1.0, tmp_path / "alone", folds=3, test=2,
                candidates=[good], log=None)
    # nothing to choose: no folds, no trials, the one candidate trained on all training pairs
    assert alone.best == "good" and alone.cv["good"]["fold_scores"] == []
    assert alone.cv["good"]["state"].startswith("chosen without cross-validation")
    assert not list(alone.out.glob("trials/*")) and not (alone.out / "folds").exists()
    record = json.loads((alone.out / "auto_report.json").read_text())
    # its schedule fitted to the pace observed in a short run inside Lightning
    assert alone.cv["good"]["step_s"] > 0 and "as observed in training" in record["final"][
        "schedule"]
    assert record["setup"]["plan"]["folds"] == 0 and record["setup"]["folds"] == []
    assert record["final"]["start"] == "from random weights" and record["final"]["steps"] > 0
    assert alone.metric == "psnr" and 10 < alone.test_score == alone.test_scores["psnr"]
    text = alone.report.read_text()
    assert "nothing to choose" in text and "Not cross-validated" in text
    # asked for an estimate, the same budget cross-validates it first
    estimated = run(tiny_folder, "denoising", 1.0, tmp_path / "estimated", folds=3, test=2,
                    candidates=[good], log=None, estimate_single=True)
    assert estimated.cv["good"]["state"] == "complete"
    assert len(estimated.cv["good"]["fold_scores"]) >= 2
    assert json.loads(estimated.report.with_suffix(".json").read_text())["final"][
        "start"].startswith("from trials/")
    # the command line asks for it with --estimate-single
    assert main(["auto", str(tiny_folder), "--task", "denoising", "--budget-min", "1", "--out",
                 str(tmp_path / "cli"), "--folds", "2", "--test", "2", "--quiet",
                 "--estimate-single", "--candidates",
                 str(config.save(good.config, tmp_path / "good.yaml"))]) == 0
    assert json.loads((tmp_path / "cli" / "auto_report.json").read_text())["cv"]["good"][
        "state"] == "complete"
