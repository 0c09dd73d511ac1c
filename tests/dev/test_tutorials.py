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


def test_the_runner_names_a_default_run_over_the_time_limit_and_sums_the_times(
        tmp_path, monkeypatch, capsys):
    def execute(nb, out, level, parameters):  # an executed notebook without a headline
        folder = tmp_path / "build" / "01_x"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps({"headline": None}))
        return folder / "01_x.ipynb"

    monkeypatch.setattr(tutorials, "execute", execute)
    monkeypatch.setattr(tutorials, "DEFAULT_LIMIT_S", -1.0)  # every run is over it
    assert tutorials.main(["notebooks/01_x.ipynb", "--no-book", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "OVER TIME: 01_x took" in captured.err
    assert "wall seconds per tutorial (level default): 01_x 0" in captured.out
    monkeypatch.setattr(tutorials, "DEFAULT_LIMIT_S", 240.0)
    assert tutorials.main(["notebooks/01_x.ipynb", "--no-book", "--out", str(tmp_path)]) == 0
    assert "OVER TIME" not in capsys.readouterr().err
