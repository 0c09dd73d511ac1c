"""The study outlives its processes: a search killed midway resumes without rerunning finished
trials, and a second process joins a search through the storage URL.

The other process is a fresh interpreter (multiprocessing's ``spawn``; a real process with its own
id, killed with SIGKILL). Not a fork: a fork of a process whose torch/OpenMP threads have run
deadlocks in the child, as it did in the full test suite."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time

import optuna
import pytest

from im2im_helpers import config
from im2im_helpers.__main__ import main
from im2im_helpers.auto import open_study, run
from im2im_helpers.auto.search import default_storage
from tests.auto.conftest import tiny_candidate

STATES = optuna.trial.TrialState
SPAWN = multiprocessing.get_context("spawn")


def search_in_child(folder, out):
    """The search the first test kills: ``quick`` (one epoch), then ``slow`` (twenty: seconds of
    training, so the kill lands while it runs however slow the poll is)."""
    quick = tiny_candidate(folder, "quick", 1e-2, 1)
    slow = tiny_candidate(folder, "slow", 1e-2, 20)
    run(folder, "denoising", 2.0, out, folds=2, test=2, candidates=[quick, slow],
        heartbeat_s=1, log=None)


def command_in_child(argv):
    """``python -m im2im_helpers ARGV`` in this process; its status is the exit code."""
    sys.exit(main(argv))


def trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return open_study(url, heartbeat_s=1).get_trials()


@pytest.mark.slow
def test_a_killed_search_resumes_without_rerunning_finished_trials(tmp_path, tiny_folder):
    out = tmp_path / "out"
    url = default_storage(out)
    victim = SPAWN.Process(target=search_in_child, args=(tiny_folder, out))
    victim.start()
    try:
        deadline = time.monotonic() + 300  # a fresh interpreter imports torch first
        while time.monotonic() < deadline:  # the first trial done, the second one started
            if (out / "study.db").is_file():
                states = [t.state for t in trials(url)]
                if states.count(STATES.COMPLETE) == 1 and STATES.RUNNING in states:
                    break
            assert victim.is_alive(), "the search ended before it could be killed"
            time.sleep(0.2)
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        victim.kill()
        victim.join()
    assert victim.exitcode == -signal.SIGKILL
    before = trials(url)
    first = next(t for t in before if t.state == STATES.COMPLETE)
    assert first.params["candidate"] == "quick"
    assert [t.state for t in before].count(STATES.RUNNING) == 1  # left running by the kill

    result = run(tiny_folder, "denoising", 2.0, out, folds=2, test=2, heartbeat_s=1, log=None)
    after = trials(url)
    kept = next(t for t in after if t.number == first.number)
    assert (kept.state, kept.datetime_complete, kept.value) == (
        STATES.COMPLETE, first.datetime_complete, first.value)
    done = [t.params["candidate"] for t in after if t.state == STATES.COMPLETE]
    assert sorted(done) == ["quick", "slow"]  # quick was not run again
    killed = next(t for t in after if t.number == 1)
    assert killed.state == STATES.FAIL  # its heartbeat went silent: failed, then retried
    assert result.best in ("quick", "slow") and (out / "best.yaml").is_file()


@pytest.mark.slow
def test_a_second_process_joins_the_study_through_its_storage_url(tmp_path, tiny_folder):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    files = []
    for name, lr in (("fast", 1e-2), ("slow", 1e-3)):
        files.append(config.save(tiny_candidate(tiny_folder, name, lr, 2).config,
                                 tmp_path / f"{name}.yaml"))
    first = SPAWN.Process(target=command_in_child, args=([
        "auto", str(tiny_folder), "--task", "denoising", "--budget-min", "1", "--out",
        str(tmp_path / "worker"), "--storage", url, "--folds", "2", "--test", "2",
        "--max-trials", "1", "--search-only", "--quiet", "--candidates", *map(str, files)],))
    first.start()
    first.join(timeout=300)
    assert first.exitcode == 0
    assert (tmp_path / "worker" / "auto_report.md").is_file()
    assert not (tmp_path / "worker" / "best.yaml").exists()  # search only

    result = run(tiny_folder, "denoising", 2.0, tmp_path / "main", storage=url, log=None,
                 heartbeat_s=1)
    finished = [t for t in trials(url) if t.state == STATES.COMPLETE]
    assert sorted(t.params["candidate"] for t in finished) == ["fast", "slow"]
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) == 2  # one trial each
    assert result.best in ("fast", "slow") and result.test_score is not None
    assert config.load(tmp_path / "main" / "best.yaml").model["channels"] == [4, 8]
    assert (tmp_path / "main" / "auto_report.md").is_file()
