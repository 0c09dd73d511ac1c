"""The tutorial runner's record of a run: the metrics plus the facts that make a number
trustworthy later (level, wall time, commit, machine, threads, versions)."""

import json

from im2im_helpers.dev import tutorials


def test_a_recorded_run_keeps_the_metrics_and_says_how_they_were_made(tmp_path, monkeypatch):
    folder = tmp_path / "01_x"
    folder.mkdir()
    metrics = {"tutorial": "01_x", "level": "default", "methods": {"unet": {"pearson": 0.5}},
               "headline": None}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    path = tutorials.record(folder, 123.4, "default", tmp_path / "results" / "default")
    saved = json.loads(path.read_text())
    assert path == tmp_path / "results" / "default" / "01_x.json"
    assert {k: v for k, v in saved.items() if k != "run"} == metrics
    run = saved["run"]
    assert run["level"] == "default" and run["seconds"] == 123 and run["threads"] == "1"
    assert len(run["commit"].split("+")[0]) >= 7 and "cores" in run["machine"]
    assert run["packages"]["torch"].startswith("2.") and "python" in run["packages"]
