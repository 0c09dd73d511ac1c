"""Seeded train/validation/test splits, written to disk and reused from there."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from im2im_helpers import io
from im2im_helpers.data.pairs import Pairs


class SplitError(ValueError):
    """A split file on disk does not match the pairs or the parameters asked for."""


#: Held-out fractions when neither the call nor the dataset's split policy says.
DEFAULT_TEST = 0.2
DEFAULT_VAL = 0.1


@dataclass
class SplitConfig:
    """How pairs are divided (the ``data.split`` section of a run's ``config.yaml``; see
    :func:`im2im_helpers.data.split`).

    Attributes
    ----------
    test, val : float, int, list of str or None
        Fractions (< 1), counts (>= 1) or names of the pairs held out; ``None``: the dataset's
        split policy (a registry dataset's, the paper's), else :data:`DEFAULT_TEST` /
        :data:`DEFAULT_VAL`.
    seed : int
        Seed of the shuffle.
    shuffle : bool
        ``False`` keeps the order (later frames of a time-lapse are held out).
    path : str or None
        The split file, written once and reused; ``None``: beside the data (a folder) or in the
        cache.
    """

    test: float | list | None = None
    val: float | list | None = None
    seed: int = 0
    shuffle: bool = True
    path: str | None = None


@dataclass
class Split:
    """Pairs divided into ``train``, ``val`` and ``test``; ``config`` says how (and where it is)."""

    train: Pairs
    val: Pairs
    test: Pairs
    config: dict

    def __repr__(self) -> str:
        return (
            f"Split(train={self.train.names}, val={self.val.names}, test={self.test.names}, "
            f"path={self.config.get('path')})"
        )


def _counts(n: int, test: float, val: float) -> tuple[int, int]:
    def count(frac: float) -> int:
        if frac <= 0:
            return 0
        return max(1, int(round(frac * n))) if frac < 1 else int(frac)

    n_test, n_val = count(test), count(val)
    if n_test + n_val >= n:
        raise SplitError(
            f"Cannot hold out {n_test} test and {n_val} validation pairs from {n}: at least one "
            "must remain for training. Lower `test`/`val` or add data."
        )
    return n_test, n_val


def _held_out(value, what: str) -> float | int | list[str]:
    """``value`` of ``test`` or ``val`` (``what``) as a plain number or list of names, as it is
    saved in a split file; anything else is a :class:`SplitError`."""
    if isinstance(value, (list, tuple)):
        if not all(isinstance(n, str) for n in value) or len(set(value)) != len(value):
            raise SplitError(f"{what}={value!r}: a list of held-out pairs names each pair once, "
                             "by its name (a string).")
        return list(value)
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number))
            or (isinstance(value, (float, np.floating)) and not np.isfinite(value))
            or value < 0):
        raise SplitError(f"{what}={value!r}: give a fraction of the pairs (0 <= f < 1), a count of "
                         "pairs (>= 1) or a list of pair names.")
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def _check_seed_and_shuffle(seed, shuffle, where: str = "") -> None:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SplitError(f"{where}seed={seed!r}: the seed of the shuffle is a whole number >= 0.")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise SplitError(f"{where}shuffle={shuffle!r}: True (shuffle the pairs) or False (keep "
                         "their order).")


def check_split_config(cfg: SplitConfig) -> None:
    """Raise :class:`SplitError` naming the setting (``data.split.*``) that cannot divide any
    pairs (whether names exist is checked when the pairs are split)."""
    for name in ("test", "val"):
        if getattr(cfg, name) is not None:
            _held_out(getattr(cfg, name), f"data.split.{name}")
    _check_seed_and_shuffle(cfg.seed, cfg.shuffle, "data.split.")
    if cfg.path is not None and not isinstance(cfg.path, (str, os.PathLike)):
        raise SplitError(f"data.split.path={cfg.path!r}: give the split file as a path, or null "
                         "for the default place.")


def _read_split(path: Path) -> dict:
    """The record of the split file ``path``, checked; a :class:`SplitError` names the file
    (errors of the file system, such as a denied permission, are left to the caller)."""
    try:
        saved = json.loads(path.read_text())
    except (IsADirectoryError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SplitError(f"{path}: cannot be read as a split file ({type(err).__name__}: {err}). "
                         "Pass another split file, or delete this one to re-split.") from err
    names = saved.get("names") if isinstance(saved, dict) else None
    if not isinstance(names, dict) or set(names) != {"train", "val", "test"} or not all(
            isinstance(part, list) and all(isinstance(n, str) for n in part)
            for part in names.values()):
        raise SplitError(f"{path}: not a split file (expected 'names' with lists 'train', 'val' "
                         "and 'test' of pair names). Pass another split file, or delete this one "
                         "to re-split.")
    return saved


def make_split(
    pairs: Pairs,
    path: str | os.PathLike,
    test: float | list[str] = 0.2,
    val: float | list[str] = 0.1,
    seed: int = 0,
    shuffle: bool = True,
    fixed_test: list[str] | None = None,
) -> Split:
    """Split ``pairs`` into train/val/test and write the names to ``path`` (JSON).

    If ``path`` exists it is read and reused, so a split never changes under a finished run.

    Parameters
    ----------
    pairs : Pairs
        The pairs to divide.
    path : path-like
        Split file to write, or to reuse when it exists.
    test, val : float, int or list of str
        Fractions (< 1) or counts (>= 1) of pairs to hold out for testing and validation, or
        the names of the pairs that form that set (e.g. one half of an image, a later frame).
    seed : int
        Seed of the shuffle (>= 0).
    shuffle : bool
        ``False`` keeps the order: the last pairs are the test set, those before it validation
        (the honest choice for a time-lapse, where later frames are held out).
    fixed_test : list of str, optional
        Names that form the test set (a dataset's own split); ``val`` is drawn from the rest.

    Raises
    ------
    SplitError
        If a parameter cannot divide ``pairs`` (not a fraction, count or list of their names;
        nothing left for training), pair names repeat, or ``path`` holds a split made with
        other parameters, of other pairs, or no split file at all.
    """
    path = Path(path)
    test, val = _held_out(test, "test"), _held_out(val, "val")
    _check_seed_and_shuffle(seed, shuffle)
    twice = sorted(n for n, k in Counter(pairs.names).items() if k > 1)
    if twice:
        raise SplitError(f"pairs named {twice[:5]} appear more than once: a split divides pairs "
                         "by name, so each name must be unique. Rename the pairs.")
    params = {"test": test, "val": val, "seed": int(seed), "shuffle": bool(shuffle)}
    if path.exists():
        saved = _read_split(path)
        asked = saved.get("parameters")
        if asked != params:
            raise SplitError(
                f"{path}: this split was made with {asked}, not {params}. Use the saved "
                "parameters, pass another split file, or delete this one to re-split."
            )
        names = saved["names"]
        missing = [n for part in names.values() for n in part if n not in pairs.names]
        if missing:
            raise SplitError(
                f"{path}: names {missing[:5]} of this split are not among the pairs. The data "
                "changed since the split was written: delete the file to re-split."
            )
    else:
        fixed = list(fixed_test or []) + (list(test) if isinstance(test, list) else [])
        fixed_val = list(val) if isinstance(val, list) else []
        unknown = [n for n in fixed + fixed_val if n not in pairs.names]
        if unknown:
            raise SplitError(f"test={fixed}, val={fixed_val}: names {unknown} are not among the "
                             f"pairs {pairs.names}.")
        if set(fixed) & set(fixed_val):
            raise SplitError(f"test={fixed}, val={fixed_val}: {sorted(set(fixed) & set(fixed_val))}"
                             " cannot be in both sets.")
        order = [n for n in pairs.names if n not in set(fixed + fixed_val)]
        n_test, n_val = _counts(len(order) + len(fixed) + len(fixed_val),
                                0 if fixed or isinstance(test, list) else test,
                                0 if isinstance(val, list) else val)
        if shuffle:
            order = [order[i] for i in np.random.default_rng(seed).permutation(len(order))]
        n_train = len(order) - n_test - n_val
        if n_train < 1:
            raise SplitError(f"No pair left for training after holding out test and validation "
                             f"pairs from {pairs.names}: hold out fewer, or add data.")
        names = {
            "train": order[:n_train],
            "val": order[n_train : n_train + n_val] + fixed_val,
            "test": order[n_train + n_val :] + fixed,
        }
        record = {"parameters": params, "names": names}
        io.write_text(path, json.dumps(record, indent=1) + "\n")
    return Split(
        pairs.subset(names["train"]),
        pairs.subset(names["val"]),
        pairs.subset(names["test"]),
        {**params, "path": str(path.resolve())},
    )
