"""Checks and stand-in data of the notebook tests: what every tutorial run leaves behind, the
held-out images it recorded against the split file it wrote, and tiny archives in the real
layouts of the registry datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from im2im_helpers import io
from tests.helpers import png_bytes, zip_bytes

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def smoke_record(folder: Path) -> dict:
    """The ``metrics.json`` of a smoke-level run of tutorial ``folder.name``, which also left
    static figures."""
    record = json.loads((folder / "metrics.json").read_text())
    assert record["level"] == "smoke" and record["tutorial"] == folder.name
    assert list((folder / "figures").glob("*.png")), "every tutorial leaves static figures"
    return record


def held_out(folder: Path, names: list[str], split_file: str = "split.json") -> dict:
    """Check that ``names``, the held-out images a tutorial recorded in ``metrics.json``, are
    exactly the test set of the split file it wrote, and that none of them was trained or
    validated on; return the split's names (``train``, ``val``, ``test``)."""
    split = json.loads((folder / split_file).read_text())["names"]
    assert names and names == split["test"], (split_file, names, split["test"])
    assert not set(names) & {*split["train"], *split["val"]}, (split_file, split)
    return split


def losses_fell(record: dict) -> None:
    """Every network a tutorial trained ended with a lower training loss than it began with."""
    assert record["train_loss"], "the tutorial records its training losses"
    for name, loss in record["train_loss"].items():
        assert loss["last"] < loss["first"], name


def assert_label_image(path: Path) -> np.ndarray:
    """A label image as saved: unsigned integers, background 0, objects numbered 1..N."""
    labels = io.read(path).data
    assert labels.dtype == np.uint32, path
    values = np.unique(labels)
    assert values[0] == 0 and np.array_equal(values, np.arange(len(values))), path
    return labels


def volume_bytes(tmp_path: Path, arr: np.ndarray) -> bytes:
    """``arr`` as a ZYX OME-TIFF file's bytes (Z step 0.5 µm, pixels 0.2 µm)."""
    path = tmp_path / "vol.ome.tiff"
    io.write_ome_tiff(path, arr, "ZYX", (0.5, 0.2, 0.2), overwrite=True)
    return path.read_bytes()


def clean_volumes(n: int, shape=(8, 40, 40), seed: int = 0) -> list[np.ndarray]:
    """``n`` smooth random volumes (float32)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    return [ndi.gaussian_filter(rng.random(shape), 2).astype("float32") for _ in range(n)]


def discs(rng: np.random.Generator, shape, n: int, radius: int) -> np.ndarray:
    """A label image of ``n`` random discs (later ones on top)."""
    labels = np.zeros(shape, np.uint8)
    yy, xx = np.indices(shape)
    for k in range(1, n + 1):
        cy, cx = rng.integers(radius, shape[0] - radius), rng.integers(radius, shape[1] - radius)
        labels[np.hypot(yy - cy, xx - cx) <= radius] = k
    return labels


def glas_archive(seed: int = 0) -> bytes:
    """The GlaS zip in its real layout: RGB H&E-like BMPs with gland instance annotations,
    four training and two test images (testA, testB)."""
    rng = np.random.default_rng(seed)
    root = "Warwick QU Dataset (Released 2016_07_08)"
    files = {}
    for name in ("train_1", "train_2", "train_3", "train_4", "testA_1", "testB_1"):
        anno = discs(rng, (96, 128), 4, 12)
        rgb = np.where(anno[..., None] > 0, [120, 60, 160], [230, 200, 220]).astype(np.uint8)
        files[f"{root}/{name}.bmp"] = png_bytes(rgb, ".bmp")
        files[f"{root}/{name}_anno.bmp"] = png_bytes(anno, ".bmp")
    return zip_bytes(files)
