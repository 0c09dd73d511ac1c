"""Each real dataset layout, served as a tiny archive from a local HTTP server, is organised
into pairs (:mod:`im2im_helpers.data.registry.organisers`)."""

from __future__ import annotations

import csv
import io as stdio

import numpy as np
import pytest

from im2im_helpers import data
from im2im_helpers.data import registry
from im2im_helpers.data.registry.organisers import OrganiseError
from tests.helpers import (
    QuietHandler,
    organised,
    png_bytes,
    serve_entry,
    tar_gz_bytes,
    tiff_bytes,
    use,
    zip_bytes,
)


def test_timelapse_channels(server, tmp_path):
    t, c = 3, 5
    movie = np.stack([np.stack([np.full((16, 20), 1000 * ci + ti, np.uint16) for ci in range(c)])
                      for ti in range(t)])
    entry = serve_entry(server, "labelfree-2d-timelapse", [tiff_bytes(tmp_path, movie, "TCYX")])
    pairs = organised(entry)["all"]
    assert pairs.names == ["t000", "t001", "t002"]
    assert pairs[1].input.shape == (1, 16, 20)
    assert pairs[1].input.max() == 2001 and pairs[1].target.max() == 4001  # channel 2 -> 4, t=1


def test_snapshot_families_keep_train_and_test(server, tmp_path):
    files = {}
    for part, stem in (("train", "a_r1"), ("train", "b_r2"), ("test", "c_r3")):
        bf = np.full((12, 12), 7, np.uint16)
        fluo = np.stack([np.full((12, 12), 1, np.uint16), np.full((12, 12), 9, np.uint16)])
        files[f"training_dataset/{part}/{stem}_bf.tif"] = tiff_bytes(tmp_path, bf, "YX")
        files[f"training_dataset/{part}/{stem}_fluo.tif"] = tiff_bytes(tmp_path, fluo, "CYX")
        files[f"training_dataset/{part}/{stem}_dpc.tif"] = tiff_bytes(tmp_path, bf, "YX")
    parts = organised(serve_entry(server, "labelfree-2d-snapshots", [zip_bytes(files)]))
    assert parts["train"].names == ["a_r1", "b_r2"] and parts["test"].names == ["c_r3"]
    assert parts["train"][0].input.max() == 7 and parts["train"][0].target.max() == 9
    assert parts["train"][0].target.dtype == np.float32


def test_care_npz(server, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((3, 1, 4, 8, 8)).astype(np.float32)
    buffer = stdio.BytesIO()
    np.savez(buffer, X=x, Y=x + 10, axes="SCZYX")
    vol = rng.random((4, 8, 8)).astype(np.float32)
    files = {"Denoising_Planaria/train_data/data_label.npz": buffer.getvalue(),
             "Denoising_Planaria/test_data/condition_1/a.tif": tiff_bytes(tmp_path, vol, "ZYX"),
             "Denoising_Planaria/test_data/GT/a.tif": tiff_bytes(tmp_path, vol + 1, "ZYX")}
    parts = organised(serve_entry(server, "care-planaria", [tar_gz_bytes(files)]))
    assert len(parts["train"]) == 3 and parts["test"].names == ["condition_1_a"]
    assert parts["train"][2].input.shape == (1, 4, 8, 8)
    np.testing.assert_allclose(parts["train"][2].target, x[2] + 10)
    np.testing.assert_allclose(parts["test"][0].target, vol[None] + 1)


def test_deepliif_side_by_side_panels(server):
    def panels(seed):
        return np.concatenate([np.full((8, 8, 3), 10 * k + seed, np.uint8) for k in range(6)], 1)

    train = zip_bytes({"DeepLIIF_Training_Set/p1.png": png_bytes(panels(1)),
                       "DeepLIIF_Training_Set/p2.png": png_bytes(panels(2))})
    val = zip_bytes({"DeepLIIF_Validation_Set/v1.png": png_bytes(panels(3))})
    entry = serve_entry(server, "deepliif", [train, val])
    parts = organised(entry)
    assert parts["train"].names == ["p1", "p2"] and parts["test"].names == ["v1"]
    assert parts["train"][0].input.shape == (3, 8, 8)
    assert parts["train"][0].input.max() == 1 and parts["train"][0].target.max() == 11
    dapi = organised(entry, target="dapi")
    assert dapi["test"][0].target.max() == 23  # panel 2 of the validation image
    with pytest.raises(ValueError, match="no organiser option"):
        registry.prepare(entry, colour="blue")


def test_bbbc010_worms_merged_into_instance_labels(server, tmp_path):
    image = np.full((10, 12), 500, np.uint16)
    worm1, worm2 = np.zeros((10, 12), np.uint8), np.zeros((10, 12), np.uint8)
    worm1[1:3, 1:9] = 255
    worm2[5:9, 4:6] = 255
    images = zip_bytes({
        "BBBC010_v2_images/plate_A01_w1_x.tif": tiff_bytes(tmp_path, image + 1, "YX"),
        "BBBC010_v2_images/plate_A01_w2_x.tif": tiff_bytes(tmp_path, image, "YX"),
        "BBBC010_v2_images/plate_B02_w2_x.tif": tiff_bytes(tmp_path, image, "YX"),
    })
    masks = zip_bytes({"BBBC010_v1_foreground_eachworm/A01_01_ground_truth.png": png_bytes(worm1),
                       "BBBC010_v1_foreground_eachworm/A01_02_ground_truth.png": png_bytes(worm2),
                       "BBBC010_v1_foreground_eachworm/B02_01_ground_truth.png": png_bytes(worm2)})
    pairs = organised(serve_entry(server, "bbbc010", [images, masks]))["all"]
    assert pairs.names == ["A01", "B02"]
    labels = pairs[0].target[0]
    assert set(np.unique(labels)) == {0, 1, 2}
    assert (labels == 1).sum() == 16 and (labels == 2).sum() == 8
    assert pairs[0].input.max() == 500  # the _w2_ channel, not _w1_


def test_confocal_sted_drops_unpaired_gt(server, tmp_path):
    vol = np.arange(2 * 6 * 6, dtype=np.uint16).reshape(2, 6, 6)
    root = "Confocal_2_STED/Microtubule"
    files = {f"{root}/Training/raw/a.tif": tiff_bytes(tmp_path, vol, "ZYX"),
             f"{root}/Training/gt/a.tif": tiff_bytes(tmp_path, vol * 2, "ZYX"),
             f"{root}/Training/gt/extra.tif": tiff_bytes(tmp_path, vol * 3, "ZYX"),
             f"{root}/test/raw/b.tif": tiff_bytes(tmp_path, vol + 1, "ZYX"),
             f"{root}/test/gt/b.tif": tiff_bytes(tmp_path, vol + 2, "ZYX")}
    parts = organised(serve_entry(server, "confocal-sted", [zip_bytes(files)]))
    assert parts["train"].names == ["a"] and parts["test"].names == ["b"]
    assert parts["train"][0].input.shape == (1, 2, 6, 6)
    np.testing.assert_array_equal(parts["train"][0].target[0], vol * 2)


def test_glas_challenge_split(server):
    rgb = np.full((8, 10, 3), 100, np.uint8)
    anno = np.zeros((8, 10), np.uint8)
    anno[2:5, 2:5] = 1
    root = "Warwick QU Dataset (Released 2016_07_08)"
    files = {f"{root}/{n}.bmp": png_bytes(rgb, ".bmp") for n in ("train_1", "testA_1", "testB_1")}
    files |= {f"{root}/{n}_anno.bmp": png_bytes(anno, ".bmp")
              for n in ("train_1", "testA_1", "testB_1")}
    parts = organised(serve_entry(server, "glas", [zip_bytes(files)]))
    assert parts["train"].names == ["train_1"]
    assert parts["test"].names == ["testA_1", "testB_1"]
    assert parts["train"][0].input.shape == (3, 8, 10) and parts["train"][0].target.sum() == 9


def test_glas_annotations_load_as_instance_and_semantic_targets(server, tmp_path, monkeypatch):
    rgb = np.full((8, 10, 3), 100, np.uint8)
    anno = np.zeros((8, 10), np.uint8)
    anno[1:4, 1:4], anno[5:7, 5:9] = 1, 2  # two glands
    files = {"train_1.bmp": png_bytes(rgb, ".bmp"), "train_1_anno.bmp": png_bytes(anno, ".bmp"),
             "testA_1.bmp": png_bytes(rgb, ".bmp"), "testA_1_anno.bmp": png_bytes(anno, ".bmp")}
    use(monkeypatch, serve_entry(server, "glas", [zip_bytes(files)]))
    instances = data.load("glas", normalize_target=False)
    np.testing.assert_array_equal(instances[0].target[0], anno)  # one label per gland
    semantic = data.foreground(instances)
    np.testing.assert_array_equal(semantic[0].target[0], anno > 0)
    assert semantic.config["targets"] == {"kind": "foreground"}
    assert instances[0].target.max() == 2  # the instance pairs are left as they were


def test_allen_downloads_only_the_chosen_fields_of_view(server, tmp_path):
    root, base = server
    rows = []
    for i, structure in enumerate(["LMNB1", "FBL", "LMNB1", "LMNB1"]):
        fov = np.stack([np.full((3, 8, 8), 100 * c + i, np.uint16) for c in range(4)])
        (root / "fovs").mkdir(exist_ok=True)
        (root / "fovs" / f"fov{i}.ome.tiff").write_bytes(tiff_bytes(tmp_path, fov, "CZYX"))
        rows.append({"fov_path": f"fovs/fov{i}.ome.tiff", "structure_name": structure,
                     "ChannelNumberBrightfield": 3, "ChannelNumberStruct": 1})
    table = stdio.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    entry = serve_entry(server, "allen-hipsc", [table.getvalue().encode()], base_url=base,
                  max_fovs=2)
    pairs = organised(entry)["all"]
    assert pairs.names == ["fov0", "fov2"]
    assert pairs[1].input.shape == (1, 3, 8, 8)
    assert pairs[1].input.max() == 302 and pairs[1].target.max() == 102  # BF in, structure out
    assert "/fovs/fov3.ome.tiff" not in QuietHandler.requests_seen  # not chosen, not downloaded


def test_allen_nucleus_labels_come_from_the_segmentation_files(server, tmp_path):
    root, base = server
    (root / "fovs").mkdir(exist_ok=True)
    (root / "segs").mkdir(exist_ok=True)
    fov = np.stack([np.full((3, 8, 8), 100 * c, np.uint16) for c in range(4)])
    seg = np.zeros((2, 3, 8, 8), np.uint16)
    seg[0, :, :4], seg[0, :, 4:], seg[1] = 1, 2, 7  # two nuclei; channel 1 (cells) unused
    (root / "fovs" / "fov0.ome.tiff").write_bytes(tiff_bytes(tmp_path, fov, "CZYX"))
    (root / "segs" / "fov0_seg.ome.tiff").write_bytes(tiff_bytes(tmp_path, seg, "CZYX"))
    table = stdio.StringIO()
    writer = csv.DictWriter(table, fieldnames=["fov_path", "fov_seg_path", "structure_name",
                                               "ChannelNumberBrightfield", "ChannelNumberStruct"])
    writer.writeheader()
    writer.writerow({"fov_path": "fovs/fov0.ome.tiff", "fov_seg_path": "segs/fov0_seg.ome.tiff",
                     "structure_name": "LMNB1", "ChannelNumberBrightfield": 3,
                     "ChannelNumberStruct": 1})
    entry = serve_entry(server, "allen-hipsc", [table.getvalue().encode()], base_url=base,
                  input="structure", target="nucleus_labels")
    pair = organised(entry)["all"][0]
    assert pair.input.max() == 100  # the structure channel (lamin B1: nuclear envelope)
    assert set(np.unique(pair.target)) == {1, 2} and pair.target.shape == (1, 3, 8, 8)
    with pytest.raises(OrganiseError, match="struct_seg_path"):
        organised(entry, input="structure", target="structure_labels")


def test_model_archive_is_unpacked_and_listed(server):
    models = zip_bytes({"models/labelfree/2d/fnet.ckpt": b"weights"})
    sample = zip_bytes({"sample_data/exp7_image_denoising/nucleus/x.tif": b"tif"})
    folder = registry.prepare(serve_entry(server, "mmv-im2im-models", [models, sample]),
                              progress=False)
    listing = (folder / "files.txt").read_text()
    assert "models/labelfree/2d/fnet.ckpt" in listing
