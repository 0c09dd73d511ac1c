"""Issue 17: :func:`im2im_helpers.cluster.predict_files` predicts many files on Dask workers,
each loading the model once with threads that fit the cores, skips finished outputs on a
second run, reports broken and missing inputs by name, and explains a scheduler that does
not answer."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from im2im_helpers import io, predict, system
from im2im_helpers.cluster import (
    FileResult,
    FilesFailedError,
    FilesSummary,
    SchedulerUnreachableError,
    predict_files,
)
from im2im_helpers.cluster.files import THREAD_VARIABLES
from im2im_helpers.cluster.worker import machine_threads
from im2im_helpers.export.cli import predict_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def first(tiny_run, images, tmp_path_factory):
    """A 2-worker local cluster predicts 3 good, 1 broken and 1 missing file."""
    out = tmp_path_factory.mktemp("predictions")
    inputs = [*images["good"], *images["broken"], *images["missing"]]
    names = [*THREAD_VARIABLES, "MALLOC_TRIM_THRESHOLD_"]
    environ = {name: os.environ.get(name) for name in names}
    summary = predict_files(tiny_run, inputs, out, workers=2)
    # Dask's nanny sets OMP_NUM_THREADS=1 ... in the process that starts it: undone
    assert {name: os.environ.get(name) for name in names} == environ
    return summary, out


@pytest.mark.slow
def test_workers_predict_as_predict_file_does_and_report_broken_files(first, tiny_run, images,
                                                                       tmp_path):
    summary, out = first
    good, broken, missing = images["good"], images["broken"][0], images["missing"][0]
    assert [f.source for f in summary.files] == [*good, broken, missing]
    assert [f.status for f in summary.files] == ["written"] * 3 + ["failed"] * 2
    model, window, norm = predict_model(tiny_run)
    for source, result in zip(good, summary.written):
        assert result.output == predict.output_path(source, out) and result.output.is_file()
        expected = predict.file(model, source, tmp_path / result.output.name, roi=window,
                                normalize_percentiles=norm)
        np.testing.assert_allclose(io.read(result.output).data, io.read(expected).data,
                                   atol=1e-5)
    failures = {f.source: f.error for f in summary.failed}
    assert str(broken) in failures[broken] and "missing.tif" in failures[missing]
    assert "FileNotFoundError" in failures[missing]
    text = str(summary)
    assert "3 written, 0 skipped, 2 failed of 5 files" in text and "broken.tif" in text
    with pytest.raises(FilesFailedError, match="2 of 5 files") as raised:
        summary.raise_if_failed()
    assert str(broken) in str(raised.value) and len(raised.value.failed) == 2
    assert summary.scheduler.startswith("tcp://") and summary.dashboard.startswith("http")


@pytest.mark.slow
def test_every_worker_loads_the_model_once_with_threads_that_fit_the_cores(first):
    summary, _ = first
    assert len(summary.workers) == 2
    threads = system.threads_per_process(2)
    for worker in summary.workers:
        assert worker.model_loads == 1
        assert worker.torch_threads == threads and worker.dask_threads == 1
    assert sum(w.torch_threads for w in summary.workers) <= system.cpu_cores()
    assert sum(w.files for w in summary.workers) == 4  # the missing file is never submitted


@pytest.mark.slow
def test_a_second_run_on_a_running_cluster_skips_finished_outputs(first, tiny_run, images):
    distributed = pytest.importorskip("distributed")
    summary, out = first
    outputs = [f.output for f in summary.written]
    mtimes = [p.stat().st_mtime_ns for p in outputs]
    inputs = [*images["good"], *images["broken"]]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        again = predict_files(tiny_run, inputs, out, scheduler=cluster.scheduler_address)
        with distributed.Client(cluster.scheduler_address) as client:  # still up, plugin gone
            plugins = client.run(lambda dask_worker: list(dask_worker.plugins))
        assert len(plugins) == 1
        assert not [p for names in plugins.values() for p in names if p.startswith("im2im")]
    assert [f.status for f in again.files] == ["skipped"] * 3 + ["failed"]
    assert again.failed[0].source == images["broken"][0]
    assert [p.stat().st_mtime_ns for p in outputs] == mtimes
    (worker,) = again.workers  # the only worker of its machine: all the cores
    assert worker.torch_threads == system.cpu_cores() and worker.model_loads == 1


@pytest.mark.slow
def test_nothing_to_do_starts_no_cluster(first, tiny_run, images):
    _, out = first
    again = predict_files(tiny_run, images["good"], out, scheduler="tcp://127.0.0.1:9")
    assert [f.status for f in again.files] == ["skipped"] * 3 and again.scheduler is None
    again.raise_if_failed()


def test_a_scheduler_that_does_not_answer_is_explained_quickly(tiny_run, images, tmp_path):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    start = time.perf_counter()
    with pytest.raises(SchedulerUnreachableError, match=f"{address}.*within 2 s") as raised:
        predict_files(tiny_run, images["good"][:1], tmp_path, scheduler=address, timeout=2)
    assert time.perf_counter() - start < 10
    assert "scheduler=None" in str(raised.value)
    assert isinstance(raised.value, ConnectionError)
    assert not list(tmp_path.glob("*_pred*"))


def test_a_missing_run_is_an_error_before_any_cluster(images, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        predict_files(tmp_path / "nope", images["good"], tmp_path / "out")


def test_duplicate_output_names_fail_instead_of_racing(tmp_path):
    from im2im_helpers.cluster.files import plan

    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "img.tif").write_bytes(b"")
    planned = plan([tmp_path / "x" / "img.tif", tmp_path / "y" / "img.tif",
                    tmp_path / "x" / "img.tif"], tmp_path / "out", overwrite=False)
    assert [f.status for f in planned] == ["planned", "failed", "failed"]
    assert "x/img.tif" in planned[1].error and "listed twice" in planned[2].error


def test_summary_table_and_threads_rule():
    files = [FileResult(Path("/d/a.tif"), Path("/o/a_pred.ome.tiff"), "written", seconds=1.5),
             FileResult(Path("/d/b.tif"), Path("/o/b_pred.ome.tiff"), "failed",
                        "ImageReadError: /d/b.tif: unreadable\nmore")]
    summary = FilesSummary(files, Path("/o"), Path("/run"), seconds=2.0)
    assert summary.files_per_second == 0.5
    lines = str(summary).splitlines()
    assert lines[0].startswith("1 written, 0 skipped, 1 failed of 2 files")
    assert "a_pred.ome.tiff (1.5 s)" in lines[2] and lines[3].endswith("unreadable")
    assert machine_threads(8, 2, 1) == 4 and machine_threads(2, 4, 1) == 1
    assert machine_threads(16, 2, 2) == 4
