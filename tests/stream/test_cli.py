"""The command line streams OME-Zarr inputs on its own and explains a Dask scheduler that
does not answer."""

from __future__ import annotations

import numpy as np
import zarr

from im2im_helpers import io
from im2im_helpers.__main__ import main
from im2im_helpers.stream import open_lazy
from tests.stream.conftest import write_ome_zarr


def test_predict_streams_an_ome_zarr_input_without_reading_it_whole(tiny_run, tmp_path,
                                                                    monkeypatch):
    data = np.random.default_rng(3).normal(500, 100, (1, 1, 1, 300, 260)).astype(np.float32)
    source = write_ome_zarr(tmp_path / "field.ome.zarr", data, pixel_sizes=(1.0, 0.4, 0.4),
                            chunks=(1, 1, 1, 128, 128))

    def no_whole_reads(path):
        raise AssertionError(f"{path} was read whole")

    monkeypatch.setattr(io, "read", no_whole_reads)
    assert main(["predict", str(tiny_run), str(source), "--out", str(tmp_path / "out"),
                 "--quiet"]) == 0
    out = tmp_path / "out" / "field_pred.ome.zarr"
    got = zarr.open_group(str(out), mode="r")["0"]
    assert got.shape == (1, 1, 1, 300, 260) and np.isfinite(got[:]).all()
    assert open_lazy(out).pixel_sizes[1:] == (0.4, 0.4)
    assert main(["predict", str(tiny_run), str(source), "--out", str(tmp_path / "out"),
                 "--quiet"]) == 2  # the output exists: refused


def test_a_scheduler_that_does_not_answer_is_one_clear_error(tiny_run, tmp_path, capsys):
    source = io.write_ome_tiff(tmp_path / "a.ome.tiff", np.ones((32, 32), np.float32), "YX")
    code = main(["predict", str(tiny_run), str(source), "--out", str(tmp_path / "out"),
                 "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "tcp://127.0.0.1:9" in err and "scheduler" in err.lower()
    assert not (tmp_path / "out" / "a_pred.ome.tiff").exists()
