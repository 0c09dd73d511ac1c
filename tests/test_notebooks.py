"""Every tutorial runs top to bottom under papermill in QUICK mode and records real results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import png_bytes, tar_gz_bytes, zip_bytes

from im2im_helpers import io

NOTEBOOKS_DIR = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(notebook, tmp_path):
    # In a fresh process, as `make tutorials` runs it: a kernel client inside the test process
    # could hang on state that earlier tests left behind (seen after Lightning runs).
    done = subprocess.run([sys.executable, "-m", "im2im_helpers.tutorials", "--no-book", "--out",
                           str(tmp_path), str(notebook)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = tmp_path / notebook.stem
    record = json.loads((folder / "metrics.json").read_text())
    assert record["quick"] is True and record["split"] == "test"
    assert record["tutorial"] == notebook.stem
    assert list((folder / "figures").glob("*.png")), "every tutorial leaves static figures"
    if notebook.stem == "01_labelfree_2d":
        assert record["train_loss_last"] < record["train_loss_first"]  # training lowered the loss
        methods = record["methods"]
        assert methods["unet"]["pearson"] > methods["input"]["pearson"] + 0.1
        pred = io.read(folder / "predictions" / "test_frames_pred.ome.tiff")
        assert pred.data.shape[0] == len(record["test_frames"])
        assert pred.pixel_sizes[2] == pytest.approx(0.619)
    if notebook.stem == "02_denoising":
        methods = record["methods"]
        for trained in ("supervised", "noise2void"):  # both learned something real
            assert record["train_loss"][trained]["last"] < record["train_loss"][trained]["first"]
            assert methods[trained]["psnr"] > methods["noisy"]["psnr"] + 1
        assert methods["noisy"]["psnr"] < methods["gaussian"]["psnr"]
        assert record["methods_3d"]["supervised"]["psnr"] > record["methods_3d"]["noisy"]["psnr"]
        saved = io.read(folder / "predictions" / "stardist-right_denoised.ome.tiff")
        assert saved.data.shape == (1, 1, 1, 512, 256)
    if notebook.stem == "03_modality_transfer":
        methods = record["methods"]
        assert record["train_loss_last"] < record["train_loss_first"]
        assert methods["unet"]["ssim"] > methods["input"]["ssim"]
        assert methods["unet"]["pearson"] > methods["input"]["pearson"]
        saved = io.read(folder / "predictions" / "phalloidin-test_pred.ome.tiff")
        assert saved.data.shape == (1, 1, 1, 623, 251)
        assert saved.pixel_sizes[2] == pytest.approx(0.1241)
    if notebook.stem == "04_semantic_segmentation":
        assert record["train_loss_last"] < record["train_loss_first"]
        assert set(record["methods"]) == {"otsu", "unet"}
        assert record["methods"]["otsu"]["dice"] > 0.8  # the tuned baseline is a real one
        mask = io.read(folder / "predictions" / "stardist-right_mask.ome.tiff").data
        assert mask.shape == (1, 1, 1, 512, 256) and set(np.unique(mask)) <= {0, 1}
    if notebook.stem == "05_instance_segmentation":
        for name, loss in record["train_loss"].items():  # 3-class and embedding networks
            assert loss["last"] < loss["first"], name
        assert record["methods"]["otsu_watershed"]["ap50"] > 0.7
        assert set(record["semantic_vs_instance"]) == {
            "semantic + connected components", "otsu_watershed", "three_class", "embedding"}
        for name in record["test_images"]:
            assert_label_image(folder / "predictions" / f"{name}_labels.ome.tiff")
    if notebook.stem == "06_instances_worms_3d_labelfree":
        for name, loss in record["train_loss"].items():  # worms, 3D and label-free embeddings
            assert loss["last"] < loss["first"], name
        assert record["simulated"] is True  # the worms
        assert set(record["methods"]) == set(record["methods_3d"]) == {"otsu_watershed",
                                                                       "embedding"}
        volume = assert_label_image(
            folder / "predictions" / "stardist-nuclei-3d-right_labels.ome.tiff")
        assert volume.shape == (1, 1, 31, 61, 29)
        for name in record["test_images_labelfree"]:
            assert_label_image(folder / "predictions" / f"{name}_labels.ome.tiff")
    if notebook.stem == "07_stain_transfer":
        for name, loss in record["train_loss"].items():  # FCN loss, pix2pix's L1 term
            assert loss["last"] < loss["first"], name
        assert record["simulated"] is False and record["target"]["by"] == "skimage.color.rgb2hed"
        assert set(record["methods"]) == {"ridge_rgb", "ridge_od", "fcn", "pix2pix"}
        assert record["methods"]["ridge_od"]["pearson"] > 0.99  # the form of the computed target
        for method in ("fcn", "pix2pix"):
            saved = io.read(folder / "predictions" / f"ihc-test_{method}.ome.tiff").data
            assert saved.shape == (1, 1, 1, 256, 256)  # the hematoxylin target of the test region
            low, high = np.percentile(saved, (1, 99))
            assert -0.5 < low < high < 1.5 and saved.std() > 0.05  # a [0, 1] target, not flat
        assert (folder / "figures" / "pix2pix_terms.png").is_file()
    if notebook.stem == "08_masks_and_images_unpaired":
        for name, loss in record["train_loss"].items():  # cycle loss, pix2pix's L1, the U-Net
            assert loss["last"] < loss["first"], name
        assert set(record["methods"]) == {"otsu", "unet_supervised", "cyclegan",
                                          "unet_on_pix2pix_images", "unet_on_cyclegan_images"}
        realism = record["realism"]
        assert set(realism) == {"real", "pix2pix", "cyclegan"}
        for name in ("pix2pix", "cyclegan"):  # compared with the real image of the same mask
            assert -1 < realism[name]["ssim"] < 1 and realism[name]["intensity_distance"] > 0
        mask = io.read(folder / "predictions" / "stardist-right_cyclegan_mask.ome.tiff").data
        assert mask.shape == (1, 1, 1, 512, 256) and set(np.unique(mask)) <= {0, 1}
        for name in ("pix2pix", "cyclegan"):  # synthetic images: the real image's shape, range
            image = io.read(folder / "predictions" / f"stardist-right_{name}_image.ome.tiff").data
            low, high = np.percentile(image, (1, 99))
            assert image.shape == (1, 1, 1, 512, 256) and -1 < low < high < 2
        assert "unpaired: true" in (folder / "cyclegan" / "config.yaml").read_text()
    if notebook.stem == "09_labelfree_3d":
        for name, loss in record["train_loss"].items():  # FCN loss, pix2pix's L1 term
            assert loss["last"] < loss["first"], name
        assert record["simulated"] is True and record["test_images"] == ["vol003"]
        methods = record["methods"]
        assert set(methods) == {"input", "ridge", "fcn", "pix2pix"}
        assert methods["ridge"]["pearson"] > methods["input"]["pearson"] + 0.2
        for method in ("fcn", "pix2pix"):  # the target's 3D shape and [0, 1]-like range
            saved = io.read(folder / "predictions" / f"vol003_{method}.ome.tiff").data
            low, high = np.percentile(saved, (1, 99))
            assert saved.shape == (1, 1, 16, 48, 48) and -1 < low < high < 2


def assert_label_image(path: Path) -> np.ndarray:
    """A label image as saved: unsigned integers, background 0, objects numbered 1..N."""
    labels = io.read(path).data
    assert labels.dtype == np.uint32, path
    values = np.unique(labels)
    assert values[0] == 0 and np.array_equal(values, np.arange(len(values))), path
    return labels


@pytest.mark.notebook
def test_labelfree_tutorial_switches_to_the_papers_dataset(server, tmp_path):
    """DATASET=labelfree-2d-timelapse: fetched from a local copy in its real layout (one
    T x C TIFF, brightfield channel 2 -> H2B channel 4), organised, split by the paper's policy."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    nuclei = ndi.gaussian_filter(rng.random((12, 1, 144, 160)), (0, 0, 3, 3))
    movie = np.concatenate([rng.random((12, 2, 144, 160)), 2 * nuclei,
                            rng.random((12, 1, 144, 160)), nuclei], axis=1)
    movie = (movie * 5000).astype(np.uint16)  # channel 2 (input) carries the nuclei signal too
    tif = tmp_path / "movie.ome.tiff"
    io.write_ome_tiff(tif, movie, "TCYX", (None, 0.5, 0.5))
    env = _serve_registry_entry(server, tmp_path, "labelfree-2d-timelapse", tif.read_bytes())
    folder = _run_tutorial(tmp_path, "01_labelfree_2d", env, DATASET="labelfree-2d-timelapse")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "labelfree-2d-timelapse" and record["simulated"] is False
    assert record["test_frames"] == ["t008", "t001"]  # 15 % of 12 frames, seeded (seed 0)
    pred = io.read(tmp_path / "out" / "01_labelfree_2d" / "predictions" /
                   "test_frames_pred.ome.tiff")
    assert pred.data.shape == (2, 1, 1, 144, 160) and pred.pixel_sizes[2] == pytest.approx(0.5)


def _run_tutorial(tmp_path, notebook: str, env: dict, **parameters: str) -> Path:
    """Run a tutorial in QUICK mode with papermill ``parameters`` in a fresh process; return its
    output folder."""
    options = [a for name, value in parameters.items() for a in ("-p", name, value)]
    done = subprocess.run([sys.executable, "-m", "im2im_helpers.tutorials", "--no-book", "--out",
                           str(tmp_path / "out"), *options,
                           str(NOTEBOOKS_DIR / f"{notebook}.ipynb")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp_path / "out" / notebook


def _serve_registry_entry(server, tmp_path, name: str, *archives: bytes,
                          options: dict | None = None) -> dict:
    """Serve ``archives`` as the files of registry entry ``name`` (in its order), with
    ``options`` replacing some of its organiser options; return the environment that points a
    tutorial at the local copy."""
    import hashlib
    from dataclasses import asdict

    import yaml

    from im2im_helpers import registry

    root, base = server
    entry = registry.get(name)
    if len(archives) != len(entry.files):
        raise ValueError(f"{name} has {len(entry.files)} files; {len(archives)} given.")
    for remote, archive in zip(entry.files, archives):
        (root / remote.filename).write_bytes(archive)
        remote.url = f"{base}/{remote.filename}"
        remote.mirrors = []
        remote.hash = "sha256:" + hashlib.sha256(archive).hexdigest()
    entry.organiser_options.update(options or {})
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / f"{name}.yaml").write_text(yaml.safe_dump(asdict(entry)))
    return {**os.environ, "IM2IM_REGISTRY": str(tmp_path / "registry"),
            "IM2IM_DATA": str(tmp_path / "cache")}


def _volume_bytes(tmp_path, arr) -> bytes:
    path = tmp_path / "vol.ome.tiff"
    io.write_ome_tiff(path, arr, "ZYX", (0.5, 0.2, 0.2), overwrite=True)
    return path.read_bytes()


def _clean_volumes(n, shape=(8, 40, 40), seed=0):
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    return [ndi.gaussian_filter(rng.random(shape), 2).astype("float32") for _ in range(n)]


@pytest.mark.notebook
def test_denoising_tutorial_trains_on_care_data(server, tmp_path):
    """DATASET=care-planaria: CARE's data_label.npz (noisy/clean training patches) and its test
    conditions, fetched from a local copy in the real layout, train and test in 3D."""
    import io as stdio


    rng = np.random.default_rng(1)
    clean = np.stack(_clean_volumes(6))[:, None]  # S C Z Y X
    buffer = stdio.BytesIO()
    np.savez(buffer, X=clean + rng.normal(0, 0.05, clean.shape).astype("float32"), Y=clean,
             axes="SCZYX")
    test_clean = _clean_volumes(1, seed=9)[0]
    files = {"Denoising_Planaria/train_data/data_label.npz": buffer.getvalue(),
             "Denoising_Planaria/test_data/condition_1/a.tif":
                 _volume_bytes(tmp_path, test_clean + rng.normal(0, 0.05, test_clean.shape)),
             "Denoising_Planaria/test_data/GT/a.tif": _volume_bytes(tmp_path, test_clean)}
    env = _serve_registry_entry(server, tmp_path, "care-planaria",
                                tar_gz_bytes(files))
    folder = _run_tutorial(tmp_path, "02_denoising", env, DATASET="care-planaria", PATCH="32",
                           BATCH="4")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "care-planaria" and record["simulated"] is False
    assert record["test_images"] == ["test/condition_1_a"] and record["sweep"] is None
    saved = io.read(folder / "predictions" / "test_condition_1_a_denoised.ome.tiff")
    assert saved.data.shape == (1, 1, 8, 40, 40)


@pytest.mark.notebook
def test_modality_transfer_tutorial_trains_on_confocal_sted_data(server, tmp_path):
    """DATASET=confocal-sted: the 3D-RCAN folders (Training/test, raw/gt), real layout."""
    from scipy import ndimage as ndi

    root = "Confocal_2_STED/Microtubule"
    files = {}
    for part, names, seed in (("Training", ["a", "b", "c"], 0), ("test", ["d"], 5)):
        for name, sharp in zip(names, _clean_volumes(len(names), seed=seed)):
            files[f"{root}/{part}/gt/{name}.tif"] = _volume_bytes(tmp_path, sharp)
            files[f"{root}/{part}/raw/{name}.tif"] = _volume_bytes(
                tmp_path, ndi.gaussian_filter(sharp, 1.5))
    env = _serve_registry_entry(server, tmp_path, "confocal-sted",
                                zip_bytes(files))
    folder = _run_tutorial(tmp_path, "03_modality_transfer", env, DATASET="confocal-sted",
                           PATCH="32")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "confocal-sted" and record["simulated"] is False
    assert record["test_images"] == ["test/d"]
    assert io.read(folder / "predictions" / "test_d_pred.ome.tiff").data.shape == (1, 1, 8, 40, 40)


def _discs(rng, shape, n, radius):
    """A label image of ``n`` random discs (later ones on top)."""
    labels = np.zeros(shape, np.uint8)
    yy, xx = np.indices(shape)
    for k in range(1, n + 1):
        cy, cx = rng.integers(radius, shape[0] - radius), rng.integers(radius, shape[1] - radius)
        labels[np.hypot(yy - cy, xx - cx) <= radius] = k
    return labels


@pytest.mark.notebook
def _glas_archive(seed: int = 0) -> bytes:
    """The GlaS zip in its real layout: RGB H&E-like BMPs with gland instance annotations,
    four training and two test images (testA, testB)."""
    rng = np.random.default_rng(seed)
    root = "Warwick QU Dataset (Released 2016_07_08)"
    files = {}
    for name in ("train_1", "train_2", "train_3", "train_4", "testA_1", "testB_1"):
        anno = _discs(rng, (96, 128), 4, 12)
        rgb = np.where(anno[..., None] > 0, [120, 60, 160], [230, 200, 220]).astype(np.uint8)
        files[f"{root}/{name}.bmp"] = png_bytes(rgb, ".bmp")
        files[f"{root}/{name}_anno.bmp"] = png_bytes(anno, ".bmp")
    return zip_bytes(files)


def test_semantic_tutorial_segments_glas_glands(server, tmp_path):
    """DATASET=glas: the challenge's BMP files (RGB H&E + gland instance annotations) in the
    real layout, fetched from a local copy; glands become the foreground class."""
    env = _serve_registry_entry(server, tmp_path, "glas", _glas_archive())
    folder = _run_tutorial(tmp_path, "04_semantic_segmentation", env, DATASET="glas")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "glas" and record["simulated"] is False
    assert record["test_images"] == ["test/testA_1", "test/testB_1"]
    assert record["chosen"]["otsu"][1] is True  # glands darker than the rest: learned polarity
    assert record["methods"]["otsu"]["dice"] > 0.9
    assert io.read(folder / "predictions" / "test_testA_1_mask.ome.tiff").data.shape == (
        1, 1, 1, 96, 128)


@pytest.mark.notebook
def test_instance_tutorial_segments_bbbc010_worms(server, tmp_path):
    """WORM_DATASET=bbbc010: per-worm PNG masks and _w2_ TIFFs in the real layout."""
    rng = np.random.default_rng(1)
    images, masks = {}, {}
    for well in ("A01", "A02", "A03", "A04", "A05", "B01", "B02", "B03"):
        labels = _discs(rng, (96, 96), 3, 9)
        image = (1000 + 3000 * (labels > 0) + rng.normal(0, 100, labels.shape)).astype(np.uint16)
        images[f"BBBC010_v2_images/plate_{well}_w2_x.tif"] = _image_bytes(tmp_path, image)
        for k in range(1, 4):
            masks[f"BBBC010_v1_foreground_eachworm/{well}_0{k}_ground_truth.png"] = png_bytes(
                ((labels == k) * 255).astype(np.uint8))
    env = _serve_registry_entry(server, tmp_path, "bbbc010", zip_bytes(images),
                                zip_bytes(masks))
    folder = _run_tutorial(tmp_path, "06_instances_worms_3d_labelfree", env, WORM_DATASET="bbbc010")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "bbbc010" and record["simulated"] is False
    assert len(record["test_images"]) == 1  # the paper's 5 % of the wells, at least one
    assert record["methods"]["otsu_watershed"]["ap50"] > 0.5  # separate discs: easy here


def _image_bytes(tmp_path, arr) -> bytes:
    path = tmp_path / "plane.ome.tiff"
    io.write_ome_tiff(path, arr, "YX", overwrite=True)
    return path.read_bytes()


def _deepliif_strip(rng, size=64) -> np.ndarray:
    """Six square RGB panels side by side, as DeepLIIF ships them: IHC (blue nuclei on white,
    with noise), hematoxylin (the same nuclei), DAPI (blue nuclei on black), Lap2 (red nuclear
    rims), then an empty Ki67 panel and a segmentation mask."""
    from scipy import ndimage as ndi

    nuclei = _discs(rng, (size, size), 5, 7) > 0
    rims = nuclei & ~ndi.binary_erosion(nuclei, iterations=2)

    def paint(mask, inside, outside):
        return np.where(mask[..., None], inside, outside)

    ihc = paint(nuclei, [70, 80, 170], [235, 230, 225]) + rng.normal(0, 4, (size, size, 3))
    panels = [ihc, paint(nuclei, [90, 90, 180], [240, 240, 240]),
              paint(nuclei, [0, 0, 200], [0, 0, 10]), paint(rims, [200, 60, 60], [5, 5, 5]),
              np.zeros((size, size, 3)), paint(nuclei, [255, 0, 0], [0, 0, 0])]
    return np.concatenate(panels, axis=1).clip(0, 255).astype(np.uint8)


@pytest.mark.notebook
def test_stain_transfer_tutorial_trains_on_deepliif_panels(server, tmp_path):
    """DATASET=deepliif, TARGET=dapi: the training and validation zips of side-by-side PNG
    panels in the real layout, fetched from a local copy; the validation set tests."""
    rng = np.random.default_rng(0)
    train = zip_bytes({f"DeepLIIF_Training_Set/t{k}.png": png_bytes(_deepliif_strip(rng))
                       for k in range(6)})
    val = zip_bytes({f"DeepLIIF_Validation_Set/v{k}.png": png_bytes(_deepliif_strip(rng))
                     for k in range(2)})
    env = _serve_registry_entry(server, tmp_path, "deepliif", train, val)
    folder = _run_tutorial(tmp_path, "07_stain_transfer", env, DATASET="deepliif", TARGET="dapi")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "deepliif" and record["simulated"] is False
    assert record["target"] == {"panel": "dapi"}
    assert record["test_images"] == ["test/v0", "test/v1"]
    # DAPI here is a function of the IHC colour: the panel that was picked lines up with the input
    assert record["methods"]["ridge_rgb"]["pearson"] > 0.9
    for name, loss in record["train_loss"].items():
        assert loss["last"] < loss["first"], name
    saved = io.read(folder / "predictions" / "test_v0_pix2pix.ome.tiff")
    assert saved.data.shape == (1, 3, 1, 64, 64)  # the RGB panel, predicted


@pytest.mark.notebook
def test_labelfree_3d_tutorial_trains_on_allen_fields_of_view(server, tmp_path):
    """DATASET=allen-hipsc: the metadata table and multi-channel 3D fields of view (DNA,
    structure, membrane, brightfield) served locally; brightfield -> structure channel."""
    import csv
    import io as stdio

    from im2im_helpers import simulate

    root, base = server
    (root / "fovs").mkdir()
    rows = []
    for i in range(5):
        cells = simulate.cells_3d(n_volumes=1, shape=(16, 48, 48), cells=4, seed=i)[0]
        rest = np.random.default_rng(i).integers(0, 500, (2, 16, 48, 48))
        fov = np.stack([rest[0], 100 + 3000 * cells.target[0], rest[1],
                        5000 + 1000 * cells.input[0]]).astype(np.uint16)
        path = tmp_path / f"fov{i}.ome.tiff"
        io.write_ome_tiff(path, fov, "CZYX", (0.29, 0.108, 0.108))
        (root / "fovs" / path.name).write_bytes(path.read_bytes())
        rows.append({"fov_path": f"fovs/{path.name}", "structure_name": "LMNB1",
                     "ChannelNumberBrightfield": 3, "ChannelNumberStruct": 1})
    table = stdio.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    env = _serve_registry_entry(server, tmp_path, "allen-hipsc", table.getvalue().encode(),
                                options={"base_url": base})
    folder = _run_tutorial(tmp_path, "09_labelfree_3d", env, DATASET="allen-hipsc")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "allen-hipsc" and record["simulated"] is False
    assert len(record["test_images"]) == 1  # 20 % of five fields of view
    name = record["test_images"][0]
    saved = io.read(folder / "predictions" / f"{name}_fcn.ome.tiff")
    assert saved.data.shape == (1, 1, 16, 48, 48)
    assert saved.pixel_sizes[0] == pytest.approx(0.29)  # Z step of the field of view


@pytest.mark.notebook
def test_masks_and_images_tutorial_runs_on_colour_glands(server, tmp_path):
    """DATASET=glas: RGB images, names with folders (train/..., test/...): unpaired patches,
    colour synthetic images written and read back, the registry's own test set."""
    env = _serve_registry_entry(server, tmp_path, "glas", _glas_archive())
    folder = _run_tutorial(tmp_path, "08_masks_and_images_unpaired", env, DATASET="glas")
    record = json.loads((folder / "metrics.json").read_text())
    assert record["dataset"] == "glas" and record["test_images"] == ["test/testA_1",
                                                                     "test/testB_1"]
    assert record["methods"]["otsu"]["dice"] > 0.9  # flat-coloured glands: an easy threshold
    image = io.read(folder / "predictions" / "test_testA_1_pix2pix_image.ome.tiff").data
    assert image.shape == (1, 3, 1, 96, 128)  # a colour image drawn from a mask
    assert (folder / "synthetic_cyclegan" / "train__train_1_IM.ome.tiff").is_file()
