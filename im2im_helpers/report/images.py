"""The images of a run's split: content hashes of its pairs, and the pairs found again from the
run's ``config.yaml`` when they are on this machine (never downloaded for a report)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from im2im_helpers.data.pairs import Pair

#: What :func:`digest` hashes, as the report states it.
DIGEST_NOTE = ("SHA-256 of each pair's arrays as the network saw them (after loading, "
               "normalisation and the recorded transforms): input, then target, then cost map "
               "if any, each as its dtype, shape and C-ordered bytes")


def digest(pair: Pair) -> str:
    """SHA-256 (64 hexadecimal digits) of a pair's input, target and cost arrays, each with its
    dtype and shape: equal pairs give equal hashes on any machine."""
    h = hashlib.sha256()
    for arr in (pair.input, pair.target, pair.cost):
        if arr is None:
            continue
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _prepared(source: str, options: dict) -> Path | None:
    """The organised folder of the registry dataset ``source`` if it is complete in the cache."""
    from im2im_helpers.data import registry

    entry = registry.get(source)
    folder = registry.cache_dir() / entry.name / f"pairs-{registry.options_key(entry, options)}"
    return folder if (folder / registry.DONE).is_file() else None


def reload(config_file: str | os.PathLike) -> tuple[dict[str, Pair] | None, str]:
    """The pairs a run trained on, by name, read again as its ``config.yaml`` describes them
    (loading, normalisation, transforms); ``(None, why)`` when they are not on this machine (a
    registry dataset that is not in the cache is not downloaded) or cannot be read."""
    from im2im_helpers import config, data
    from im2im_helpers.data import registry

    try:
        cfg = config.load(config_file)
    except Exception as err:  # an older or edited configuration: the report still goes on
        return None, (f"{config_file} is not a configuration this version reads "
                      f"({type(err).__name__}: {err})")
    source = cfg.data.source
    if source not in data.SAMPLES and not Path(source).is_dir():
        if not (registry.registry_dir() / f"{source}.yaml").is_file():
            return None, (f"the data source {source!r} is neither an installed sample, a folder "
                          "on this machine nor a registry dataset")
        try:
            prepared = _prepared(source, dict(cfg.data.load.options or {}))
        except Exception as err:  # an unreadable registry entry or cache folder
            return None, f"the registry dataset {source!r} cannot be looked up ({err})"
        if prepared is None:
            return None, (f"the registry dataset {source!r} is not in the cache of this machine; "
                          f"`python -m im2im_helpers data prepare {source}` downloads it, then "
                          "write the report again")
    try:
        pairs = data.apply_transforms(data.load(source, cfg.data.load), cfg.data.transforms)
    except Exception as err:  # a missing sample package, a changed folder, ...
        return None, f"the data {source!r} could not be read again ({type(err).__name__}: {err})"
    return {p.name: p for p in pairs}, ""
