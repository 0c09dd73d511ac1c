"""Seeded train/validation/test splits, written to disk and reused from there."""

from __future__ import annotations

import json
import os
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
    test, val : float or list of str
        Fractions (< 1) or counts (>= 1) of pairs to hold out for testing and validation, or
        the names of the pairs that form that set (e.g. one half of an image, a later frame).
    seed : int
        Seed of the shuffle.
    shuffle : bool
        ``False`` keeps the order: the last pairs are the test set, those before it validation
        (the honest choice for a time-lapse, where later frames are held out).
    fixed_test : list of str, optional
        Names that form the test set (a dataset's own split); ``val`` is drawn from the rest.
    """
    path = Path(path)
    params = {"test": test, "val": val, "seed": seed, "shuffle": shuffle}
    if path.exists():
        saved = json.loads(path.read_text())
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
                                0 if fixed else test, 0 if fixed_val else val)
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
