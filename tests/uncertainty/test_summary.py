"""``uncertainty.json`` and the OME-TIFF maps: keys a QC report reads, JSON round trips, maps
that read back through io.read with their pixel sizes, and no silent overwrites."""

import json

import numpy as np
import pytest

from im2im_helpers import io, uncertainty
from im2im_helpers.uncertainty import UncertaintyMap


def fake_map(seed: int, shape=(1, 32, 40), method="tta") -> UncertaintyMap:
    std = np.random.default_rng(seed).random(shape).astype(np.float32)
    return UncertaintyMap(np.zeros_like(std), std, method, 8, float(std.mean()))


def test_summary_keys_and_round_trip(tmp_path):
    maps = [fake_map(0), fake_map(1)]
    errors = [m.std * 2 + 0.01 for m in maps]
    summary = uncertainty.summarize(maps, errors, names=["t08", "t09"], patch=8,
                                    dataset="ndev-labelfree")
    for key in ("method", "metric", "spearman_rho", "spearman_p", "patch", "sparsification",
                "ause", "per_image"):
        assert key in summary
    assert summary["method"] == "tta" and summary["metric"] == "absolute error"
    assert summary["spearman_rho"] == pytest.approx(1.0) and summary["patch"] == [8, 8]
    assert summary["n_patches"] == 2 * 4 * 5 and summary["dataset"] == "ndev-labelfree"
    assert set(summary["sparsification"]) == {"fractions", "model", "oracle", "random"}
    assert len(summary["sparsification"]["model"]) == len(uncertainty.FRACTIONS)
    assert summary["ause"] == pytest.approx(0, abs=1e-9) and summary["below_random"] == 1.0
    assert [p["name"] for p in summary["per_image"]] == ["t08", "t09"]
    assert summary["per_image"][0]["uncertainty"] == pytest.approx(maps[0].per_image)
    assert summary["per_image"][1]["error"] == pytest.approx(float(errors[1].mean()))
    assert "objects" not in summary
    path = uncertainty.write_summary(tmp_path, summary)
    assert path == tmp_path / "uncertainty.json"
    assert json.loads(path.read_text()) == summary == uncertainty.read_summary(tmp_path)


def test_nan_is_written_as_null_and_objects_are_added(tmp_path):
    maps = [np.ones((1, 16, 16))]
    objects = uncertainty.ObjectConfidence(
        np.zeros(3, int), np.arange(1, 4), np.array([0.9, 0.8, 0.2]),
        np.array([True, True, False]), np.array([0.9, 0.7, 0.0]), 1.0, 0.5)
    summary = uncertainty.summarize(maps, [np.random.default_rng(0).random((1, 16, 16))],
                                    method="mc_dropout", patch=4, objects=objects)
    assert summary["spearman_rho"] is None and summary["spearman_p"] is None
    assert summary["objects"] == {"auroc": 1.0, "n": 3, "matched": 2, "threshold": 0.5}
    path = uncertainty.write_summary(tmp_path / "out" / "uncertainty.json", summary)
    assert "NaN" not in path.read_text()
    assert uncertainty.read_summary(path)["objects"]["auroc"] == 1.0


def test_summaries_are_checked():
    maps = [fake_map(0)]
    with pytest.raises(ValueError, match="which method"):
        uncertainty.summarize([m.std for m in maps], [m.std for m in maps])
    with pytest.raises(ValueError, match="replace computed"):
        uncertainty.summarize(maps, [m.std for m in maps], ause=0)
    with pytest.raises(ValueError, match="one name per image"):
        uncertainty.summarize(maps, [m.std for m in maps], names=["a", "b"])
    with pytest.raises(ValueError, match=r"missing \['ause'"):
        uncertainty.check_summary({"method": "tta", "metric": "x", "spearman_rho": 1,
                                   "spearman_p": 0, "patch": [8, 8], "per_image": [],
                                   "sparsification": {"fractions": [], "model": [],
                                                      "oracle": [], "random": []}})


def test_read_summary_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="uncertainty.json"):
        uncertainty.read_summary(tmp_path)
    (tmp_path / "uncertainty.json").write_text('{"method": "tta"}')
    with pytest.raises(ValueError, match="uncertainty.json: missing"):
        uncertainty.read_summary(tmp_path)


def test_beside_names_the_file_next_to_the_prediction(tmp_path):
    assert uncertainty.beside(tmp_path / "a_pred.ome.tiff") == tmp_path / \
        "a_pred_uncertainty.ome.tiff"
    assert uncertainty.beside("x/b.tif").as_posix() == "x/b_uncertainty.ome.tiff"
    assert uncertainty.beside("c.ome.tif", "_std").name == "c_std.ome.tiff"


def test_save_round_trips_through_io_read(tmp_path):
    result = fake_map(3)
    path = uncertainty.save(result, uncertainty.beside(tmp_path / "img_pred.ome.tiff"),
                            pixel_sizes=(None, 0.65, 0.65))
    img = io.read(path)
    assert img.data.shape == (1, 1, 1, 32, 40)
    np.testing.assert_array_equal(img.data[0, 0, 0], result.std[0])
    assert img.pixel_sizes[1:] == pytest.approx((0.65, 0.65))
    assert img.channel_names == ["uncertainty (tta std)"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        uncertainty.save(result, path)
    other = fake_map(4)
    uncertainty.save(other, path, overwrite=True)
    np.testing.assert_array_equal(io.read(path).data[0, 0, 0], other.std[0])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_save_frames_and_3d(tmp_path):
    frames = [fake_map(5, (2, 16, 16)), fake_map(6, (2, 16, 16))]
    path = uncertainty.save(frames, tmp_path / "frames_uncertainty.ome.tiff")
    img = io.read(path)
    assert img.data.shape == (2, 2, 1, 16, 16) and len(img.channel_names) == 2
    np.testing.assert_array_equal(img.data[1, 1, 0], frames[1].std[1])
    vol = fake_map(7, (1, 4, 16, 16), method="ensemble")
    img3d = io.read(uncertainty.save(vol, tmp_path / "vol.ome.tiff", (2.0, 0.5, 0.5)))
    assert img3d.data.shape == (1, 1, 4, 16, 16) and img3d.pixel_sizes[0] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="one method and one shape"):
        uncertainty.save([frames[0], vol], tmp_path / "mixed.ome.tiff")


def test_one_image_may_be_given_without_a_list():
    result = fake_map(8)
    summary = uncertainty.summarize(result, result.std, patch=8)
    assert [p["name"] for p in summary["per_image"]] == ["image0"]
    assert summary["spearman_rho"] == pytest.approx(1.0)
