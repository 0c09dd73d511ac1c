"""``uncertainty.json``: what an uncertainty map is worth on held-out images, in one file a
quality-control report can read (Spearman correlation over patches, sparsification curves and
AUSE, per-image values, and for segmentation the per-object AUROC)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from im2im_helpers import io
from im2im_helpers.uncertainty.evaluation import (
    FRACTIONS,
    ObjectConfidence,
    sparsification,
    spearman_patches,
)
from im2im_helpers.uncertainty.maps import UncertaintyMap

#: The file name :func:`write_summary` uses inside a folder.
FILENAME = "uncertainty.json"

#: Keys every summary holds (``objects`` too, for segmentation).
REQUIRED = ("method", "metric", "spearman_rho", "spearman_p", "patch", "sparsification",
            "ause", "per_image")

#: Keys of ``summary["sparsification"]``.
CURVES = ("fractions", "model", "oracle", "random")


def _number(value) -> float | None:
    """A JSON number: NaN and infinities become ``None``."""
    value = float(value)
    return value if math.isfinite(value) else None


def _numbers(values) -> list[float | None]:
    return [_number(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def summarize(
    uncertainties: Sequence[np.ndarray | UncertaintyMap],
    errors: Sequence[np.ndarray],
    *,
    method: str | None = None,
    names: Sequence[str] | None = None,
    metric: str = "absolute error",
    patch: int | Sequence[int] = 32,
    fractions: Sequence[float] = FRACTIONS,
    objects: ObjectConfidence | None = None,
    **extra,
) -> dict:
    """The quality of uncertainty maps on held-out images, as a JSON-ready dict.

    Parameters
    ----------
    uncertainties : sequence of numpy.ndarray or UncertaintyMap
        One per-pixel uncertainty map per held-out image (an ``UncertaintyMap``'s ``std``).
    errors : sequence of numpy.ndarray
        The matching per-pixel errors (:func:`~im2im_helpers.uncertainty.evaluation.error_map`
        of the mean prediction and the target).
    method : str, optional
        How the maps were made (``"tta"``, ``"mc_dropout"``, ``"ensemble"``); by default the
        method of the ``UncertaintyMap`` objects given.
    names : sequence of str, optional
        One name per image (default ``"image0"``, ``"image1"``, ...).
    metric : str
        What ``errors`` measure, e.g. ``"absolute error"``.
    patch : int or sequence of int
        Patch size of the Spearman correlation (see
        :func:`~im2im_helpers.uncertainty.evaluation.spearman_patches`).
    fractions : sequence of float
        Discarded fractions of the sparsification curves.
    objects : ObjectConfidence, optional
        For segmentation: per-object confidence against matching (adds ``"objects"``).
    **extra
        Further JSON-ready entries (e.g. ``dataset=``, ``split=``).

    Returns
    -------
    dict
        ``method``, ``metric``, ``spearman_rho``, ``spearman_p``, ``patch`` (list of int),
        ``n_patches``, ``sparsification`` (``fractions``, ``model``, ``oracle``, ``random``
        lists), ``ause``, ``aurg``, ``relative_ause``, ``below_random`` (share of fractions
        where the model's curve lies below random), ``mean_error``, ``per_image`` (a list of
        ``{"name", "uncertainty", "error"}``: the mean of each map), and with ``objects``
        ``objects`` (``auroc``, ``n``, ``matched``, ``threshold``). NaN is written as
        ``None`` (JSON ``null``).
    """
    if isinstance(uncertainties, (np.ndarray, UncertaintyMap)):
        uncertainties = [uncertainties]
    maps = [u.std if isinstance(u, UncertaintyMap) else np.asarray(u) for u in uncertainties]
    errors = [np.asarray(e) for e in ([errors] if isinstance(errors, np.ndarray) else errors)]
    if method is None:
        methods = {u.method for u in uncertainties if isinstance(u, UncertaintyMap)}
        if len(methods) != 1:
            raise ValueError("summarize: say which method made the maps (method='tta', ...); "
                             f"found {sorted(methods) or 'none'} among the maps given.")
        method = methods.pop()
    names = [f"image{i}" for i in range(len(maps))] if names is None else list(names)
    if len(names) != len(maps):
        raise ValueError(f"{len(names)} names for {len(maps)} images; give one name per image.")
    clash = set(extra) & (set(REQUIRED) | {"objects"})
    if clash:
        raise ValueError(f"summarize: extra entries {sorted(clash)} would replace computed ones.")
    corr = spearman_patches(maps, errors, patch)
    curves = sparsification(maps, errors, fractions)
    summary = {
        "method": str(method),
        "metric": str(metric),
        "spearman_rho": _number(corr.rho),
        "spearman_p": _number(corr.p),
        "patch": [int(p) for p in corr.patch],
        "n_patches": corr.n,
        "sparsification": {"fractions": _numbers(curves.fractions),
                           "model": _numbers(curves.model), "oracle": _numbers(curves.oracle),
                           "random": _numbers(curves.random)},
        "ause": _number(curves.ause),
        "aurg": _number(curves.aurg),
        "relative_ause": _number(curves.relative_ause),
        "below_random": _number(curves.below_random),
        "mean_error": _number(curves.random[0]),
        "per_image": [{"name": str(n), "uncertainty": _number(np.mean(u)),
                       "error": _number(np.mean(e))} for n, u, e in zip(names, maps, errors)],
    }
    if objects is not None:
        summary["objects"] = {"auroc": _number(objects.auroc), "n": objects.n,
                              "matched": int(objects.matched.sum()),
                              "threshold": float(objects.threshold)}
    summary.update(extra)
    return summary


def check_summary(summary: Mapping, where: str = "summary") -> None:
    """Check that ``summary`` holds every key a quality-control report reads.

    Parameters
    ----------
    summary : mapping
        A :func:`summarize` result, or one read back from a file.
    where : str
        Named in the error (e.g. the file).

    Raises
    ------
    ValueError
        If a key of :data:`REQUIRED`, a curve of :data:`CURVES` or (when ``objects`` is there)
        ``objects.auroc``/``objects.n`` is missing.
    """
    missing = [k for k in REQUIRED if k not in summary]
    curves = summary.get("sparsification")
    if isinstance(curves, Mapping):
        missing += [f"sparsification.{k}" for k in CURVES if k not in curves]
    elif "sparsification" in summary:
        missing.append("sparsification (a mapping of curves)")
    if "objects" in summary and not {"auroc", "n"} <= set(summary["objects"] or {}):
        missing.append("objects.auroc/objects.n")
    if missing:
        raise ValueError(f"{where}: missing {missing}; make it with "
                         "im2im_helpers.uncertainty.summarize.")


def _target(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / FILENAME if path.is_dir() else path


def write_summary(path: str | os.PathLike, summary: Mapping) -> Path:
    """Write a :func:`summarize` result as JSON, atomically (replacing an older file).

    Parameters
    ----------
    path : path-like
        The file, normally ``OUT_DIR / "uncertainty.json"``; an existing folder gets
        ``uncertainty.json`` inside it.
    summary : dict
        From :func:`summarize` (checked by :func:`check_summary`).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = _target(path)
    check_summary(summary, str(path))
    try:
        text = json.dumps(summary, indent=2, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: the summary is not plain JSON ({err}); pass numbers, "
                         "strings, lists and dicts only (NaN as None).") from err
    return io.write_text(path, text + "\n")


def read_summary(path: str | os.PathLike) -> dict:
    """Read and check an ``uncertainty.json``.

    Parameters
    ----------
    path : path-like
        The file, or a folder holding ``uncertainty.json``.

    Returns
    -------
    dict
        The summary, as :func:`summarize` made it (NaN read back as ``None``).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If it is not JSON or lacks a key (:func:`check_summary`).
    """
    path = _target(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no uncertainty summary; write one with "
                                "im2im_helpers.uncertainty.write_summary.")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); write it again.") from err
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: holds {type(summary).__name__}, expected a JSON object.")
    check_summary(summary, str(path))
    return summary
