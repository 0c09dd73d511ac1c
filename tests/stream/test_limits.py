"""Streaming in a process of its own: an image larger than the memory the process may use is
predicted (the in-memory path fails under the same limit), and a killed prediction resumes
without recomputing the chunks it finished."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zarr

from im2im_helpers import predict
from im2im_helpers.stream.omezarr import job_record, partial_path
from tests.stream.conftest import write_ome_zarr
from tests.stream.worker import SlowConv

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "PYTHONPATH": str(ROOT)}


def worker(*args: str, limit_mib: int | None = None) -> subprocess.Popen:
    """``tests.stream.worker`` in a new process (its memory limited to ``limit_mib``)."""
    def limit():
        if limit_mib:
            size = limit_mib * 2**20
            resource.setrlimit(resource.RLIMIT_DATA, (size, size))

    return subprocess.Popen([sys.executable, "-m", "tests.stream.worker", *args], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=limit)


def smooth_volume(shape) -> np.ndarray:
    z, y, x = (np.arange(s, dtype=np.float32) for s in shape)
    return (np.sin(x / 37.0)[None, None, :] + np.cos(y / 23.0)[None, :, None]
            * np.sin(z / 5.0)[:, None, None]).astype(np.float32)


def test_an_ome_zarr_larger_than_the_process_memory_is_predicted(tmp_path):
    # 1 GiB of float32 pixels; the process may allocate 950 MiB in all (about 450 MiB go to
    # torch, MONAI, zarr and the package themselves)
    data = smooth_volume((64, 2048, 2048))[None, None]
    source = write_ome_zarr(tmp_path / "large.ome.zarr", data, chunks=(1, 1, 16, 512, 512))
    out = tmp_path / "large_pred.ome.zarr"
    limit = 950
    assert data.nbytes > limit * 2**20
    failed = worker(str(source), str(out), "--roi", "16", "256", "256", "--in-memory",
                    limit_mib=limit)
    assert failed.wait(600) == 3, failed.stdout.read()  # in memory: MemoryError
    streamed = worker(str(source), str(out), "--roi", "16", "128", "128", "--chunks", "16",
                      "256", "256", limit_mib=limit)
    log = streamed.communicate(timeout=900)[0]
    assert streamed.returncode == 0, log
    got = zarr.open_group(str(out), mode="r")["0"]
    assert got.shape == (1, 1, 64, 2048, 2048)
    expected = predict.image(SlowConv(3), data[0], roi=(16, 128, 128))
    np.testing.assert_allclose(got[0], expected, atol=1e-5)


def chunk_files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in (folder / "0" / "c").rglob("*") if p.is_file()}


def test_a_killed_prediction_resumes_without_recomputing_finished_chunks(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(0, 1, (1, 1, 1, 768, 1024)).astype(np.float32)
    source = write_ome_zarr(tmp_path / "field.ome.zarr", data, chunks=(1, 1, 1, 256, 256))
    out = tmp_path / "field_pred.ome.zarr"
    args = (str(source), str(out), "--roi", "128", "128", "--chunks", "256", "256")
    slow = worker(*args, "--delay", "0.3")
    partial = partial_path(out)
    deadline = time.time() + 300
    while time.time() < deadline and slow.poll() is None:
        if (partial / "0").is_dir() and len(chunk_files(partial)) >= 3:
            break
        time.sleep(0.05)
    assert slow.poll() is None, "the prediction finished before it could be killed"
    slow.send_signal(signal.SIGKILL)
    slow.wait(30)
    before = chunk_files(partial)
    assert 3 <= len(before) < 12 and not out.exists()  # 3 x 4 blocks, some done
    left = job_record(out)
    assert left["shape"] == [1, 1, 1, 768, 1024] and left["chunks"] == [1, 1, 1, 256, 256]
    assert left["job"]["roi"] == [128, 128]

    model = SlowConv(2)
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    predict.file(model, source, out, roi=(128, 128), chunks=(256, 256),
                 normalize_percentiles=None)
    after = chunk_files(out)
    assert len(after) == 12 and job_record(out) == {}
    assert {k: after[k] for k in before} == before  # finished chunks were not rewritten
    np.testing.assert_allclose(zarr.open_group(str(out), mode="r")["0"][0, :, 0],
                               predict.image(SlowConv(2), data[0, :, 0], roi=(128, 128)),
                               atol=1e-5)
    all_windows = 8 * 11  # windows of 128 every 96 pixels over 768 x 1024
    assert calls[0] == 1 and 0 < sum(calls[1:]) < all_windows  # a probe, then the rest only
