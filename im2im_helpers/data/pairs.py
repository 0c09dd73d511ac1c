"""Input/ground-truth pairs: finding them in a folder, checking them, normalising them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from im2im_helpers import io

IMAGE_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".ome.tiff", ".png", ".czi", ".nd2", ".lif", ".zarr")
_ROLE = re.compile(r"(?P<stem>.+)_(?P<role>IM|GT|CM)", re.DOTALL)  # fullmatch: any stem


class PairError(ValueError):
    """A training pair is inconsistent (missing file, shapes differ, wrong dimensionality...)."""


@dataclass
class Pair:
    """One input image with its ground truth.

    Attributes
    ----------
    name : str
        Identifier used in split files (file stem or ``t003`` for a time point).
    input, target : numpy.ndarray
        ``(C, Y, X)`` for 2D or ``(C, Z, Y, X)`` for 3D, float32.
    cost : numpy.ndarray or None
        Optional per-pixel loss weight with the target's spatial shape (``X_CM`` files).
    pixel_sizes : tuple
        ``(Z, Y, X)`` in micrometres, ``None`` where unknown.
    origin : dict
        Where each array came from (file paths, channel, time point).
    """

    name: str
    input: np.ndarray
    target: np.ndarray
    cost: np.ndarray | None = None
    pixel_sizes: tuple = (None, None, None)
    origin: dict = field(default_factory=dict)

    @property
    def dims(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return self.input.ndim - 1


class Pairs(list):
    """A list of :class:`Pair` that remembers how it was made (``config``) and whether it is
    simulated."""

    def __init__(self, items: Iterable[Pair] = (), config: dict | None = None, simulated=False):
        super().__init__(items)
        self.config = dict(config or {})
        self.simulated = simulated

    def subset(self, names: Iterable[str]) -> Pairs:
        """Return the pairs with the given names, in that order."""
        by_name = {p.name: p for p in self}
        return Pairs((by_name[n] for n in names), self.config, self.simulated)

    @property
    def names(self) -> list[str]:
        """The pair names, in order."""
        return [p.name for p in self]


def check_finite(arr: np.ndarray, what: str) -> None:
    """Raise :class:`PairError` naming ``what`` if ``arr`` holds NaN or infinity."""
    # A sum is NaN/inf when some value is, and needs no image-sized temporary; the full count
    # runs only then (a sum of huge finite float64 values can overflow: nothing is wrong then).
    if not np.isfinite(np.sum(arr, dtype=np.float64)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if not bad:
            return
        raise PairError(
            f"{what}: contains {bad} NaN or infinite values. Fix or mask them in the file "
            "(for example replace them with the background value) before training."
        )


def spatial_image(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` without a leading channel axis of size 1, checked to be one 2D ``(Y, X)`` or 3D
    ``(Z, Y, X)`` image (``what`` names it in the error). An array ``(1, Y, X)`` is read as a 2D
    image with a channel axis, never as a stack of one plane."""
    x = np.asarray(x)
    if x.ndim in (3, 4) and x.shape[0] == 1:
        x = x[0]
    if x.ndim not in (2, 3):
        raise ValueError(
            f"{what} has shape {x.shape}: expected one 2D (Y, X) or 3D (Z, Y, X) image, "
            "optionally with a leading channel axis of size 1. Pick one channel first."
        )
    return x


def spatial_array(img: io.Image, dims: int, what: str) -> np.ndarray:
    """Turn a TCZYX image (T must be 1) into ``(C, Y, X)`` for 2D or ``(C, Z, Y, X)`` for 3D."""
    t, _c, z, _y, _x = img.data.shape
    if t != 1:
        raise PairError(f"{what}: has {t} time points; expected one image per file here.")
    if dims == 2 and z != 1:
        raise PairError(
            f"{what}: is 3D (Z={z}) but a 2D dataset was asked for. Pass dims=3 to train in 3D, "
            "or save single planes."
        )
    arr = img.data[0]
    return arr[:, 0] if dims == 2 else arr


def file_stem(path: Path) -> str:
    """File name without its image suffix (``a.b_IM.ome.tiff`` -> ``a.b_IM``)."""
    name = path.name
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "split.json"
        and any(p.name.lower().endswith(s) for s in IMAGE_SUFFIXES)
    )


def _add(files: dict[str, Path], role: str, path: Path) -> None:
    """Record ``path`` as the ``role`` file of a pair, refusing a second file for it."""
    if role in files:
        raise PairError(
            f"{files[role]} and {path}: two {role} files for the same pair (same name, other "
            "extension); one would be ignored. Remove or rename one of them.")
    files[role] = path


def find_pair_files(folder: str | os.PathLike) -> list[dict[str, Path]]:
    """Find ``X_IM``/``X_GT`` (optional ``X_CM``) files, or equal names in ``IM/``, ``GT/``,
    ``CM/``.

    Returns one dict per pair with keys ``name``, ``IM``, ``GT`` and, if present, ``CM``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of training pairs.")
    groups: dict[str, dict[str, Path]] = {}
    if (folder / "IM").is_dir():
        for role in ("IM", "GT", "CM"):
            if (folder / role).is_dir():
                for p in _images_in(folder / role):
                    _add(groups.setdefault(file_stem(p), {}), role, p)
    else:
        for p in _images_in(folder):
            m = _ROLE.fullmatch(file_stem(p))
            if m:
                _add(groups.setdefault(m["stem"], {}), m["role"], p)
    if not groups:
        raise PairError(
            f"{folder}: no training pairs found. Expected files named X_IM.tif and X_GT.tif "
            "(optional X_CM.tif), or sub-folders IM/ and GT/ holding files with equal names."
        )
    pairs = []
    for name, files in sorted(groups.items()):
        if "IM" not in files:
            orphan = files.get("GT", files.get("CM"))
            raise PairError(f"{orphan}: has no input image (X_IM) beside it; add it or remove it.")
        if "GT" not in files:
            raise PairError(
                f"{files['IM']}: has no ground truth. Expected {name}_GT.<ext> beside it (or "
                f"GT/{files['IM'].name}); add it, or move the input out of the training folder."
            )
        pairs.append({"name": name, **files})
    return pairs


def load_folder(folder: str | os.PathLike, dims: int | None = None) -> Pairs:
    """Read every pair in ``folder`` (see :func:`find_pair_files`), checking shapes and values."""
    pairs = Pairs(config={"source": {"folder": str(Path(folder).resolve())}})
    made = Path(folder) / "pairs.json"  # written by write_folder: how the pairs were made
    names: dict[str, str] = {}  # file stem -> the pair's name as written
    if made.is_file():
        try:
            record = json.loads(made.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise PairError(f"{made}: not valid JSON ({err}); it records how the pairs were made "
                            "(write_folder). Restore it, or delete it to load the files as "
                            "plain pairs.") from err
        if not isinstance(record, dict) or not isinstance(record.get("names", []), list) or not all(
                isinstance(n, str) for n in record.get("names", [])):
            raise PairError(f"{made}: expected a mapping with 'names' (a list of pair names), "
                            f"found {str(record)[:80]!r}; it records how the pairs were made "
                            "(write_folder). Restore it, or delete it to load the files as "
                            "plain pairs.")
        pairs.simulated = bool(record.get("simulated"))
        pairs.config["made"] = record.get("config", {})
        names = {_flat(n): n for n in record.get("names", [])}
    check_dims(dims)
    found = find_pair_files(folder)
    images = {f["name"]: {role: io.read(f[role]) for role in ("IM", "GT", "CM") if role in f}
              for f in found}
    dims = dims or _common_dims(found, images)
    channels: dict[str, dict[int, Path]] = {}
    for files in found:
        im = images[files["name"]]["IM"]
        if dims == 3 and im.data.shape[2] == 1:
            raise PairError(f"{files['IM']}: is 2D (one Z plane) but a 3D dataset was asked for; "
                            "pass dims=2, or give it its Z planes.")
        arrays = {"IM": spatial_array(im, dims, str(files["IM"]))}
        for role in ("GT", "CM"):
            if role in files:
                arrays[role] = spatial_array(images[files["name"]][role], dims, str(files[role]))
                if arrays[role].shape[1:] != arrays["IM"].shape[1:]:
                    raise PairError(
                        f"{files[role]}: spatial shape {arrays[role].shape[1:]} differs from its "
                        f"input {files['IM']} {arrays['IM'].shape[1:]}. Input and ground truth "
                        "must cover the same pixels: crop or resample one of them."
                    )
        for role, arr in arrays.items():
            check_finite(arr, str(files[role]))
            largest = max(arr.max(), -arr.min()) if arr.dtype.kind == "f" else 0
            if largest > np.finfo(np.float32).max:  # float64 beyond float32: inf once converted
                raise PairError(
                    f"{files[role]}: values up to {largest:.3g} exceed the float32 range "
                    f"(+-{np.finfo(np.float32).max:.3g}) the pairs are trained in. Rescale the "
                    "image (e.g. divide by its maximum) before training.")
            channels.setdefault(role, {}).setdefault(arr.shape[0], files[role])
            if len(channels[role]) > 1:
                (c1, f1), (c2, f2) = list(channels[role].items())[:2]
                raise PairError(f"{f1} has {c1} channel(s) but {f2} has {c2}: every {role} "
                                "image of a dataset needs the same channels. Select or add "
                                "channels so they match.")
        _check_exact_in_float32(arrays["GT"], files["GT"])
        pairs.append(
            Pair(
                names.get(files["name"], files["name"]),
                arrays["IM"].astype(np.float32),
                arrays["GT"].astype(np.float32),
                arrays["CM"][:1].astype(np.float32) if "CM" in arrays else None,
                im.pixel_sizes,
                {k: str(v) for k, v in files.items() if k != "name"},
            )
        )
    return pairs


def check_dims(dims: int | None) -> None:
    """Refuse a dimensionality other than 2, 3 or ``None`` (decide from the files)."""
    if dims not in (None, 2, 3):
        raise PairError(f"dims={dims}: images are 2D or 3D; pass dims=2, dims=3 or leave it out.")


def _common_dims(found: list[dict[str, Path]], images: dict[str, dict[str, io.Image]]) -> int:
    """2 or 3: the dimensionality of every input file; mixed 2D and 3D files are an error."""
    kinds: dict[int, list[Path]] = {}
    for files in found:
        z = images[files["name"]]["IM"].data.shape[2]
        kinds.setdefault(3 if z > 1 else 2, []).append(files["IM"])
    if len(kinds) > 1:
        raise PairError(f"2D files (e.g. {kinds[2][0]}) and 3D files (e.g. {kinds[3][0]}) in one "
                        "dataset: keep them in separate folders, or pass dims=3 after giving "
                        "every file its Z planes.")
    return next(iter(kinds))


#: Integers above this are not all exactly representable in float32 (24-bit mantissa).
FLOAT32_EXACT = 2**24


def _check_exact_in_float32(target: np.ndarray, path: Path) -> None:
    """Refuse integer targets (label images) that float32 would change."""
    if np.issubdtype(target.dtype, np.integer) and target.size and (
            int(target.max()) > FLOAT32_EXACT or int(target.min()) < -FLOAT32_EXACT):
        raise PairError(f"{path}: labels up to {int(target.max())} cannot be kept exactly as "
                        f"float32 (exact up to {FLOAT32_EXACT}); number the objects 1..N first "
                        "(skimage.segmentation.relabel_sequential).")


def check_percentiles(low: float, high: float) -> None:
    """Refuse percentiles that would invert or not scale an image."""
    if not 0 <= low < high <= 100:
        raise ValueError(f"normalize_percentiles=({low}, {high}): need 0 <= low < high <= 100, "
                         "e.g. (1, 99.8); (high, low) would invert the images.")


def percentile_normalize(
    x: np.ndarray, low: float = 1.0, high: float = 99.8, eps: float = 1e-6
) -> np.ndarray:
    """Scale each channel so that its ``low`` percentile is 0 and its ``high`` percentile is 1.

    Values outside are kept (not clipped), as in CARE/CSBDeep normalisation.
    """
    check_percentiles(low, high)
    x = np.asarray(x, dtype=np.float32)
    axes = tuple(range(1, x.ndim))
    lo = np.percentile(x, low, axis=axes, keepdims=True)
    hi = np.percentile(x, high, axis=axes, keepdims=True)
    return ((x - lo) / np.maximum(hi - lo, eps)).astype(np.float32)


def normalize(
    pairs: Pairs, low: float = 1.0, high: float = 99.8, target: bool = True
) -> Pairs:
    """Percentile-normalise every input (and, for regression, every target) per image."""
    out = Pairs(
        (
            replace(
                p,
                input=percentile_normalize(p.input, low, high),
                target=percentile_normalize(p.target, low, high) if target else p.target,
            )
            for p in pairs
        ),
        {**pairs.config, "normalize": {"low": low, "high": high, "target": target}},
        pairs.simulated,
    )
    return out


def _flat(name: str) -> str:
    """A pair name as a file stem: folder separators become ``__``."""
    return name.replace("/", "__")


def _check_file_names(pairs: Pairs, folder: Path) -> None:
    """Refuse pair names that :func:`write_folder` could not write as files that
    :func:`load_folder` finds again, each pair its own: a :class:`PairError` names the pair."""
    written: dict[str, str] = {}
    for name in (p.name for p in pairs):
        flat = _flat(name) if isinstance(name, str) else ""
        try:  # the longest name written: the temporary file of an atomic write
            size = len(os.fsencode(f".{flat}_IM.ome.tiff.12345678.ome.tiff"))
        except UnicodeEncodeError:  # a lone surrogate: no file name holds it
            size = 0
        if not flat or flat.startswith(".") or "\0" in flat or not 0 < size <= 255:
            raise PairError(f"{folder}: pair name {name!r} cannot be written as a file name "
                            "(empty, starting with '.', holding a NUL or unencodable character, "
                            "or too long); rename the pair.")
        if flat in written:
            raise PairError(f"{folder}: pairs {written[flat]!r} and {name!r} would both be "
                            f"written as {flat}_IM.ome.tiff; rename one of them.")
        written[flat] = name


def write_folder(pairs: Pairs, folder: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write pairs as ``NAME_IM.ome.tiff`` / ``NAME_GT.ome.tiff`` (and ``NAME_CM``) files that
    :func:`load_folder` reads back, plus ``pairs.json`` saying how they were made.

    Simulated pairs saved this way become a dataset like any other: a run configuration can
    name the folder and ``python -m im2im_helpers train`` repeats the run. A name with folders
    (``train/img1``) is written flat (``train__img1_IM.ome.tiff``) and read back as it was.
    An existing, non-empty folder is an error unless ``overwrite=True`` (its files are then
    replaced); a folder that already holds exactly these pairs is left as it is. A name that
    cannot be a file name, or two names written as the same file, are a :class:`PairError`.
    """
    folder = Path(folder)
    _check_file_names(pairs, folder)
    record = {"names": pairs.names, "simulated": pairs.simulated, "config": pairs.config}
    text = json.dumps(record, indent=1, default=str) + "\n"
    made = folder / "pairs.json"
    if made.is_file() and made.read_text(errors="replace") == text and not overwrite:
        return folder  # the same pairs, made the same way, are already there
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{folder}: already holds other files and was left untouched; "
                              "pass overwrite=True to replace them, or choose another folder.")
    folder.mkdir(parents=True, exist_ok=True)
    made.unlink(missing_ok=True)
    for old in find_pair_files(folder) if _images_in(folder) else []:  # overwrite: no stale pair
        for role in ("IM", "GT", "CM"):
            if role in old:
                old[role].unlink()
    for p in pairs:
        dims = "CYX" if p.dims == 2 else "CZYX"
        arrays = {"IM": p.input, "GT": p.target, **({"CM": p.cost} if p.cost is not None else {})}
        for role, arr in arrays.items():
            io.write_ome_tiff(folder / f"{_flat(p.name)}_{role}.ome.tiff", arr, dims,
                              p.pixel_sizes, overwrite=True)
    io.write_text(made, text)  # last: a folder with pairs.json is complete
    return folder


def with_transform(config: dict, step: dict) -> dict:
    """``config`` with ``step`` appended to its ``transforms``: the record of what was done to
    the loaded pairs, so that a run's ``config.yaml`` can redo it (see
    :func:`im2im_helpers.data.apply_transforms`)."""
    return {**config, "transforms": [*config.get("transforms", []), dict(step)]}


def halves(pairs: Pairs) -> Pairs:
    """Every pair cut in two along its last (X) axis: ``NAME-left`` and ``NAME-right``, so that
    one image (or volume) can train on one half and test on the other. An object cut by the
    middle keeps its label on both sides."""
    out = Pairs(config=with_transform(pairs.config, {"kind": "halves"}),
                simulated=pairs.simulated)
    for p in pairs:
        mid = p.input.shape[-1] // 2
        for side, cut in (("left", np.s_[..., :mid]), ("right", np.s_[..., mid:])):
            out.append(replace(
                p, name=f"{p.name}-{side}", input=np.ascontiguousarray(p.input[cut]),
                target=np.ascontiguousarray(p.target[cut]),
                cost=None if p.cost is None else np.ascontiguousarray(p.cost[cut]),
                origin={**p.origin, "half": side}))
    return out
