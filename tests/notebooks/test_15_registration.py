"""Tutorial 15 (learned registration): smoke-level run of MONAI's LocalNet against no
registration, phase correlation and TV-L1 on known random fields of held-out real frames, on
real consecutive frames and in 3D."""

import numpy as np
import pytest

from im2im_helpers import io
from tests.notebooks.helpers import held_out, smoke_record

NOTEBOOK = "15_registration"
pytestmark = [pytest.mark.notebook, pytest.mark.slow]

CLASSICAL = ["identity", "phase_correlation", "tvl1"]


def test_smoke_run(run_tutorial):
    folder = run_tutorial(NOTEBOOK)
    record = smoke_record(folder)
    # frames t07-t09 held out (split.json), t06 validates; the pairs are crops of those frames
    assert record["test_images"] == ["t07", "t08", "t09"]
    assert held_out(folder, record["test_images"])["val"] == ["t06"]
    for kind in ("smooth", "affine"):
        names = record["held_out_pairs"][kind]
        assert len(names) == 6 and {n.split("-")[0] for n in names} == {"t07", "t08", "t09"}
    assert record["frame_pairs"] == ["t07-t08", "t08-t09"]
    assert record["steps"]["localnet"] > 0 and record["steps"]["localnet_3d"] == 3
    for table, networks in (("methods", ["localnet"]), ("methods_affine", ["localnet"]),
                            ("methods_3d", ["localnet_3d"])):
        rows = record[table]
        assert list(rows) == CLASSICAL + networks, table
        for name, row in rows.items():
            assert set(row) == {"ncc", "ssim", "folding", "epe", "seconds"}, (table, name)
            assert 0 <= row["folding"] <= 1 and row["seconds"] >= 0 and row["epe"] >= 0
        # measured, not trained: no registration leaves the whole field as error (about half
        # the longest vector on average); TV-L1 recovers most of it without folding; phase
        # correlation's single shift cannot follow a smooth field
        assert rows["identity"]["folding"] == 0 and rows["tvl1"]["folding"] < 0.01, table
        assert rows["tvl1"]["epe"] < 0.6 * rows["identity"]["epe"], table
        assert rows["tvl1"]["ncc"] > rows["identity"]["ncc"] + 0.05, table
    smooth = record["methods"]
    assert 1.0 < smooth["identity"]["epe"] < 2.5
    assert smooth["phase_correlation"]["epe"] > 0.8 * smooth["identity"]["epe"]
    frames = record["methods_frames"]
    assert list(frames) == CLASSICAL + ["localnet"]
    assert all("epe" not in row for row in frames.values())  # real motion: no true field
    assert frames["tvl1"]["ncc"] > frames["identity"]["ncc"]
    assert set(record["drift"]) == {"t07-t08", "t08-t09"}
    assert len(record["epe_per_pair"]["tvl1"]) == 6
    # the claims the default and full runs are checked against: no win over TV-L1 is claimed,
    # only that the network beats no registration in endpoint error
    assert [(h["metric"], h["network"], h["baseline"], h["higher_is_better"], h["table"],
             h["input"], h["others"]) for h in record["headline"]] == [
        ("epe", [], "tvl1", False, "methods", "identity", ["localnet"]),
        ("epe", [], "tvl1", False, "methods_affine", "identity", ["localnet"])]
    # warped images and fields of every held-out pair and real frame pair, as OME-TIFF
    for name in [*record["held_out_pairs"]["smooth"], *record["frame_pairs"]]:
        image = io.read(folder / "predictions" / f"{name}_localnet.ome.tiff")
        assert image.data.shape[:2] == (1, 3) and image.data.shape[2] == 1, name
        assert np.isfinite(image.data).all()
    for figure in ("true_fields", "before", "warped_grids", "overlays_smooth",
                   "warped_grids_affine", "overlays_frames", "warped_grids_3d", "loss_localnet"):
        assert (folder / "figures" / f"{figure}.png").is_file(), figure
