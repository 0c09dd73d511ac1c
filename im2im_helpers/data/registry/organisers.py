"""Turn each dataset's raw layout into ``X_IM`` / ``X_GT`` OME-TIFF pairs.

Every organiser takes the folder holding the downloaded (and unpacked) files and a folder to fill,
writes one ``NAME_IM.ome.tiff`` and ``NAME_GT.ome.tiff`` per pair (under ``train/`` and ``test/``
when the source has its own split), and returns the number of pairs. They find files by pattern
anywhere below the raw folder, so the name of an archive's top folder does not matter.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from im2im_helpers import io
from im2im_helpers.data.registry import download


class OrganiseError(ValueError):
    """The raw files do not have the layout the registry entry describes."""


def _write_pair(out: Path, name: str, image: np.ndarray, target: np.ndarray, dims: str,
                pixel_sizes=(None, None, None)) -> None:
    out.mkdir(parents=True, exist_ok=True)
    io.write_ome_tiff(out / f"{name}_IM.ome.tiff", image, dims, pixel_sizes)
    io.write_ome_tiff(out / f"{name}_GT.ome.tiff", target, dims, pixel_sizes)


def _visible(raw: Path, pattern: str) -> list[Path]:
    """``raw.rglob(pattern)`` without hidden entries (temporary folders, cache records)."""
    return sorted(p for p in raw.rglob(pattern)
                  if not any(part.startswith(".") for part in p.relative_to(raw).parts))


def _find(raw: Path, pattern: str, what: str) -> list[Path]:
    found = [p for p in _visible(raw, pattern) if p.is_file()]
    if not found:
        raise OrganiseError(f"{raw}: no {what} ({pattern}) found below this folder.")
    return found


def _source_part(path: Path, raw: Path) -> str:
    """``"train"`` or ``"test"`` from the folder names between ``raw`` and ``path``."""
    parts = [p.lower() for p in path.relative_to(raw).parts[:-1]]
    if any(p.startswith("test") or p.startswith("val") for p in parts):
        return "test"
    if any(p.startswith("train") for p in parts):
        return "train"
    raise OrganiseError(f"{path}: not inside a train/ or test/ folder.")


def timelapse_channels(raw: Path, out: Path, input_channel: int, target_channel: int) -> int:
    """One multi-channel time-lapse file: per time point, one channel in, another as GT."""
    files = _find(raw, "*.tif*", "time-lapse TIFF")
    img = io.read(files[0])
    _, channels, z, _, _ = img.data.shape
    if max(input_channel, target_channel) >= channels:
        raise OrganiseError(f"{files[0]}: has {channels} channels; expected at least "
                            f"{max(input_channel, target_channel) + 1}.")
    dims = "CYX" if z == 1 else "CZYX"
    for t in range(img.data.shape[0]):
        x = img.data[t, input_channel : input_channel + 1]
        y = img.data[t, target_channel : target_channel + 1]
        if z == 1:
            x, y = x[:, 0], y[:, 0]
        _write_pair(out, f"t{t:03d}", x, y, dims, img.pixel_sizes)
    return img.data.shape[0]


def snapshot_families(raw: Path, out: Path, input_suffix: str, target_suffix: str,
                      target_channel: int) -> int:
    """Per snapshot a family of files ``STEM_bf.tif``, ``STEM_fluo.tif``, ...: one file in, one
    channel of another as GT; the source's ``train/`` and ``test/`` folders are kept."""
    count = 0
    for x_path in _find(raw, f"*{input_suffix}.tif*", f"{input_suffix} images"):
        stem = x_path.name[: x_path.name.index(input_suffix)]
        matches = sorted(x_path.parent.glob(f"{stem}{target_suffix}.tif*"))
        if not matches:
            raise OrganiseError(f"{x_path}: no {stem}{target_suffix}.tif beside it.")
        x, y = io.read(x_path), io.read(matches[0])
        if target_channel >= y.data.shape[1]:
            raise OrganiseError(f"{matches[0]}: has {y.data.shape[1]} channels; expected "
                                f"channel {target_channel}.")
        _write_pair(out / _source_part(x_path, raw), stem.rstrip("_"), x.data[0, :1, 0],
                    y.data[0, target_channel : target_channel + 1, 0], "CYX", x.pixel_sizes)
        count += 1
    return count


def care_npz(raw: Path, out: Path) -> int:
    """CARE ``data_label.npz`` (X, Y, axes SCZYX) for training; ``test_data/condition_*`` with
    ``test_data/GT`` for testing."""
    npz = _find(raw, "data_label.npz", "CARE training archive")[0]
    with np.load(npz) as arrays:
        x, y = arrays["X"], arrays["Y"]
    if x.shape != y.shape or x.ndim != 5:
        raise OrganiseError(f"{npz}: X {x.shape} and Y {y.shape} must both be SCZYX.")
    for s in range(x.shape[0]):
        _write_pair(out / "train", f"patch{s:05d}", x[s], y[s], "CZYX")
    count = x.shape[0]
    gt_dir = next((p for p in _visible(raw, "GT") if p.is_dir()), None)
    if gt_dir is None:
        raise OrganiseError(f"{raw}: no test_data/GT folder found.")
    for cond in sorted(p for p in gt_dir.parent.iterdir() if p.name.startswith("condition")):
        for x_path in sorted(cond.glob("*.tif*")):
            gt_path = gt_dir / x_path.name
            if not gt_path.is_file():
                raise OrganiseError(f"{x_path}: no ground truth {gt_path}.")
            xi, yi = io.read(x_path), io.read(gt_path)
            _write_pair(out / "test", f"{cond.name}_{x_path.name.split('.')[0]}", xi.data[0],
                        yi.data[0], "CZYX", xi.pixel_sizes)
            count += 1
    return count


DEEPLIIF_PANELS = ("ihc", "hematoxylin", "dapi", "lap2", "ki67", "segmentation")


def deepliif_panels(raw: Path, out: Path, target: str = "hematoxylin") -> int:
    """Side-by-side PNG panels: the IHC panel in, the chosen panel (hematoxylin, dapi, lap2) as
    GT; the training set trains, the validation set is the test set."""
    if target not in DEEPLIIF_PANELS[1:4]:
        raise OrganiseError(f"target={target!r}: choose one of {DEEPLIIF_PANELS[1:4]}.")
    index = DEEPLIIF_PANELS.index(target)
    count = 0
    for path in _find(raw, "*.png", "DeepLIIF panels"):
        img = io.read(path).data[0, :, 0]  # (C, Y, X)
        height, width = img.shape[1:]
        if width != len(DEEPLIIF_PANELS) * height:
            raise OrganiseError(f"{path}: {width} x {height} pixels is not six square panels.")
        part = "test" if "validation" in str(path.relative_to(raw)).lower() else "train"
        panels = np.split(img, len(DEEPLIIF_PANELS), axis=2)
        _write_pair(out / part, path.stem, panels[0], panels[index], "CYX")
        count += 1
    return count


def bbbc010_worms(raw: Path, out: Path, channel_tag: str = "_w2_") -> int:
    """BBBC010: one image per well (the ``_w2_`` channel); its per-worm binary masks merged into
    one instance label image (worm k -> label k; where worms overlap, the later one wins)."""
    masks: dict[str, list[Path]] = {}
    for m in _find(raw, "*_ground_truth.png", "per-worm masks"):
        masks.setdefault(m.name.split("_")[0], []).append(m)
    count = 0
    for path in _find(raw, f"*{channel_tag}*.tif", f"{channel_tag} images"):
        found = re.search(r"_([A-P]\d\d)" + re.escape(channel_tag), path.name)
        if not found or found[1] not in masks:
            continue  # a well without ground truth
        well = found[1]
        img = io.read(path)
        labels = np.zeros(img.data.shape[-2:], np.uint16)
        for k, m in enumerate(sorted(masks[well]), start=1):
            labels[io.read(m).data[0, 0, 0] > 0] = k
        _write_pair(out, well, img.data[0, :1, 0], labels[None], "CYX", img.pixel_sizes)
        count += 1
    if not count:
        raise OrganiseError(f"{raw}: no {channel_tag} image has per-worm masks.")
    return count


def confocal_sted(raw: Path, out: Path, structure: str = "Microtubule") -> int:
    """3D-RCAN Confocal->STED: ``STRUCTURE/{Training,test}/{raw,gt}`` with equal file names; GT
    files without a raw partner are skipped."""
    roots = [p for p in _visible(raw, structure) if p.is_dir()]
    if not roots:
        raise OrganiseError(f"{raw}: no folder named {structure!r}.")
    count = 0
    for raw_dir in sorted(p for p in roots[0].rglob("raw") if p.is_dir()):
        part = _source_part(raw_dir / "x", roots[0])
        for x_path in sorted(raw_dir.glob("*.tif*")):
            gt_path = raw_dir.parent / "gt" / x_path.name
            if not gt_path.is_file():
                raise OrganiseError(f"{x_path}: no ground truth {gt_path}.")
            x, y = io.read(x_path), io.read(gt_path)
            _write_pair(out / part, x_path.name.split(".")[0], x.data[0, :1], y.data[0, :1],
                        "CZYX", x.pixel_sizes)
            count += 1
    return count


def glas(raw: Path, out: Path) -> int:
    """GlaS: ``train_N.bmp`` / ``testA_N.bmp`` / ``testB_N.bmp`` with ``*_anno.bmp`` labels."""
    count = 0
    for path in _find(raw, "*.bmp", "GlaS images"):
        if path.stem.endswith("_anno"):
            continue
        anno = path.with_name(f"{path.stem}_anno.bmp")
        if not anno.is_file():
            raise OrganiseError(f"{path}: no annotation {anno.name} beside it.")
        part = "train" if path.stem.startswith("train") else "test"
        labels = io.read(anno).data[0, :1, 0]
        _write_pair(out / part, path.stem, io.read(path).data[0, :, 0], labels, "CYX")
        count += 1
    return count


#: Targets of :func:`allen_metadata` read from a segmentation file instead of a channel of the
#: field of view: option value -> (metadata column of the file's path, channel in that file).
ALLEN_LABELS = {"nucleus_labels": ("fov_seg_path", 0), "structure_labels": ("struct_seg_path", 0)}


def allen_metadata(raw: Path, out: Path, structure: str, input: str, target: str,
                   max_fovs: int, base_url: str) -> int:
    """Allen hiPSC collection: the fields of view of one structure, listed in ``metadata.csv``,
    fetched one by one from ``base_url`` (only those chosen).

    ``input`` and ``target`` are ``"brightfield"`` or ``"structure"`` (a channel of the field of
    view); ``target`` may also be a label image from the collection's segmentations:
    ``"nucleus_labels"`` (the nucleus instance segmentation, channel 0 of ``fov_seg_path``: 3D
    nuclei instances, e.g. with ``structure="LMNB1"``) or ``"structure_labels"`` (the
    structure's segmentation in ``struct_seg_path``, e.g. nucleoli with ``structure="FBL"``:
    semantic against instance segmentation of organelles).
    """
    table = _find(raw, "metadata.csv", "Allen metadata table")[0]
    columns = {"brightfield": "ChannelNumberBrightfield", "structure": "ChannelNumberStruct"}
    if input not in columns or target not in {**columns, **ALLEN_LABELS}:
        raise OrganiseError(f"input must be one of {sorted(columns)}; target one of "
                            f"{sorted({**columns, **ALLEN_LABELS})}.")
    chosen: dict[str, dict] = {}
    with open(table, newline="") as f:
        for row in csv.DictReader(f):
            if row["structure_name"] == structure and len(chosen) < max_fovs:
                chosen.setdefault(row["fov_path"], row)
    if not chosen:
        raise OrganiseError(f"{table}: no field of view with structure_name={structure!r}.")

    def fetch(path: str) -> io.Image:
        local = download.fetch(base_url.rstrip("/") + "/" + path, None, raw / "fovs",
                               Path(path).name)
        return io.read(local)

    for fov_path, row in chosen.items():
        img = fetch(fov_path)
        cin = int(row[columns[input]])
        if target in ALLEN_LABELS:
            column, channel = ALLEN_LABELS[target]
            if not row.get(column):
                raise OrganiseError(f"{table}: no {column} for {fov_path}; the target "
                                    f"{target!r} needs it.")
            labels = fetch(row[column]).data[0, channel : channel + 1]
            if labels.shape[1:] != img.data.shape[2:]:
                raise OrganiseError(f"{row[column]}: labels {labels.shape[1:]} do not match the "
                                    f"field of view {img.data.shape[2:]} ({fov_path}).")
            y = labels.astype(np.uint32)
        else:
            cout = int(row[columns[target]])
            y = img.data[0, cout : cout + 1]
        _write_pair(out, Path(fov_path).name.split(".")[0], img.data[0, cin : cin + 1], y,
                    "CZYX", img.pixel_sizes)
    return len(chosen)


def unpack_only(raw: Path, out: Path) -> int:
    """No pairs: list the unpacked files (checkpoints, sample data) in ``out/files.txt``."""
    out.mkdir(parents=True, exist_ok=True)
    files = [str(p.relative_to(raw)) for p in _visible(raw, "*") if p.is_file()]
    (out / "files.txt").write_text("\n".join(files) + "\n")
    return 0


#: Organiser names used in ``data_registry/*.yaml``.
ORGANISERS: dict[str, Callable[..., int]] = {
    "timelapse_channels": timelapse_channels,
    "snapshot_families": snapshot_families,
    "care_npz": care_npz,
    "deepliif_panels": deepliif_panels,
    "bbbc010_worms": bbbc010_worms,
    "confocal_sted": confocal_sted,
    "glas": glas,
    "allen_metadata": allen_metadata,
    "unpack_only": unpack_only,
}
