"""benchmarks/streaming.py at a tiny size: inputs are OME-Zarr images as bioformats2raw writes
them, the workers predict and measure, a fresh process reports back, a size that does not
fit the disk is skipped, and the tables are written."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from im2im_helpers.stream import engine, omezarr, open_lazy

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "streaming.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("streaming_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_shapes_keep_the_work_per_block(bench):
    assert bench.shape_for(0.25 * 2**30) == (32, 1448, 1448)
    assert bench.shape_for(2**30) == (64, 2048, 2048)
    assert bench.shape_for(16 * 2**30) == (1024, 2048, 2048)
    assert bench.shape_for(2**20, (256, 256), 16) == (16, 128, 128)


def test_input_is_a_chunked_ome_zarr_with_quantised_values(bench, tmp_path):
    path = bench.write_input(tmp_path / "in.ome.zarr", (3, 40, 48), chunks=(1, 16, 32))
    image = open_lazy(path)
    assert image.shape == (1, 1, 3, 40, 48)
    assert image.data.chunks == (1, 1, 1, 16, 32)
    assert image.pixel_sizes == (1.0, 0.2, 0.2)
    values = image.data[0, 0]
    np.testing.assert_array_equal(values[2], bench._pattern(2, (40, 48)))
    assert len(np.unique(values)) <= 256 and np.allclose(values * 255, np.round(values * 255),
                                                         atol=1e-4)


def test_memory_worker_predicts_and_reports_each_phase(bench, tmp_path, one_thread):
    source = bench.write_input(tmp_path / "in.ome.zarr", (8, 64, 64), chunks=(1, 32, 32))
    out = tmp_path / "pred.ome.zarr"
    sample, finish = engine.sampled_normalization, omezarr.finish
    result = bench.memory_worker({"source": str(source), "out": str(out), "roi": [4, 32, 32],
                                  "percentiles": [1.0, 99.8], "kernel": 3})
    assert (engine.sampled_normalization, omezarr.finish) == (sample, finish)  # restored
    assert omezarr.is_ome_zarr(out) and open_lazy(out).shape == (1, 1, 8, 64, 64)
    assert set(result["phases"]) == {"sampling", "blocks", "pyramid"}
    assert result["peak_mib"] >= result["rss_after_imports_mib"] > 0
    assert result["wall_s"] >= sum(p["s"] for p in result["phases"].values()) * 0.99


def test_ratio_worker_outputs_agree(bench, tmp_path, one_thread):
    source = bench.write_input(tmp_path / "in.ome.zarr", (96, 80), chunks=(1, 32, 32))
    result = bench.ratio_worker({"source": str(source), "folder": str(tmp_path), "dims": 2,
                                 "roi": [32, 32], "repeats": 2})
    assert [len(result["runs"][s]) for s in ("streamed", "in_memory")] == [2, 2]
    assert result["max_abs_diff"] < 1e-5
    run = result["runs"]["in_memory"][0]
    assert run["wall_s"] >= run["compute_s"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.ome.zarr"]  # outputs removed


def test_fresh_process_measures_and_the_table_is_written(bench, tmp_path):
    rows = bench.bench_memory(tmp_path, [1.0], bench.QUICK_PLANE, bench.QUICK_INPUT_CHUNKS,
                              bench.QUICK_MEMORY_ROI, 2**20, min_z=bench.QUICK_MIN_Z,
                              log=lambda *_: None)
    row = rows[0]
    assert row["shape_zyx"] == [16, 128, 128] and row["peak_mib"] > 100  # torch alone is more
    assert not any(tmp_path.iterdir())  # input and output deleted
    huge = bench.bench_memory(tmp_path, [2.0**20], log=lambda *_: None)[0]
    assert "free disk" in huge["skipped"]
    table = bench.markdown({"memory": rows + [huge]})
    assert "| 1 MiB | 16 x 128 x 128 |" in table and "skipped: needs about" in table
    assert bench.flatness([{"v": 100.0}, {"v": 110.0}], "v") == pytest.approx(0.1)
