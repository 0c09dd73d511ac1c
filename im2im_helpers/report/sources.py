"""What a report is made from: the run folder (configuration, training log, checkpoints) and
the tutorial's files beside it (``metrics.json``, the split file, ``figures/``,
``uncertainty.json``), each read without failing: a missing or unreadable file is recorded with
the reason, and its section says so."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from im2im_helpers import config as run_config
from im2im_helpers import train
from im2im_helpers.data.pairs import Pair
from im2im_helpers.report import images

PARTS = ("train", "val", "test")
#: Picture files of a figures folder that a report embeds.
PICTURES = (".png",)


class ReportError(ValueError):
    """A report cannot be written as asked (see the message: the folder or file, what was
    expected, what to do)."""


@dataclass
class Loaded:
    """A JSON file beside the run: its ``record`` or ``None`` with ``problem`` saying why."""

    path: Path | None
    record: dict | None = None
    problem: str = ""


@dataclass
class Sources:
    """Everything a report shows, read once (see :func:`gather`)."""

    run: Path
    config_text: str
    config: dict
    config_problem: str
    history: dict
    checkpoint: Path | None
    checkpoint_info: dict
    metrics: Loaded
    uncertainty: Loaded
    split_file: Loaded
    split_names: dict[str, list[str]] | None
    pairs: dict[str, Pair] | None
    pairs_note: str
    figures: list[Path]
    figures_note: str
    read: dict[str, Path] = field(default_factory=dict)

    def section(self, *keys: str, default=None):
        """A value of the configuration by its keys (``"data", "source"``), or ``default``."""
        value = self.config
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return value


def read_json(path: Path | None, what: str) -> Loaded:
    """``path`` as a JSON object; a missing or malformed file is recorded, never raised."""
    if path is None:
        return Loaded(None, None, f"no {what} was given")
    if not path.is_file():
        return Loaded(path, None, f"{path} does not exist")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return Loaded(path, None, f"{path} is not valid JSON ({err})")
    if not isinstance(record, dict):
        return Loaded(path, None, f"{path} holds {type(record).__name__}, not a JSON object")
    return Loaded(path, record)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes (read in blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_run(run: str | os.PathLike) -> Path:
    """``run`` as a path, checked to be a run folder written by :func:`im2im_helpers.train.fit`.

    Raises
    ------
    FileNotFoundError
        When it does not exist.
    ReportError
        When it exists but is not a run folder.
    """
    run = Path(run)
    if not run.exists():
        raise FileNotFoundError(f"{run}: no such folder. Pass the run folder a tutorial trained "
                                "into (for example OUT_DIR/run, which holds config.yaml).")
    if not train.is_run(run):
        raise ReportError(
            f"{run}: not a run folder (expected {train.CONFIG} written by train.fit, with "
            f"{train.CHECKPOINTS}/ and {train.LOGS}/). Pass the folder given to train.fit as "
            "`out`, e.g. OUT_DIR/run, not the tutorial's output folder itself.")
    return run


def _checkpoint(run: Path) -> tuple[Path | None, dict]:
    """The checkpoint the model is loaded from (best, else last) and what its file records."""
    best = sorted((run / train.CHECKPOINTS).glob("best-*.ckpt"))
    ckpt = best[-1] if best else train.last_checkpoint(run)
    last = train.last_checkpoint(run)
    info: dict = {}
    if last is not None:
        import torch

        try:
            state = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
            info = {"epochs": state.get("epoch", -1) + 1, "steps": state.get("global_step"),
                    "lightning": state.get("pytorch-lightning_version")}
        except Exception as err:  # a cut or foreign file: the report says so
            info = {"problem": f"{last} could not be read ({type(err).__name__}: {err})"}
    return ckpt, info


def _split(run: Path, cfg: dict, split) -> tuple[Loaded, dict[str, list[str]] | None]:
    """The split file and the names of its parts (a :class:`~im2im_helpers.data.Split` passed
    in gives the names itself)."""
    if split is not None and not isinstance(split, (str, os.PathLike)):
        names = {part: list(getattr(split, part).names) for part in PARTS}
        recorded = (getattr(split, "config", None) or {}).get("path")
        return read_json(Path(recorded) if recorded else None, "split file"), names
    if split is not None:
        candidates = [Path(split)]
    else:
        recorded = (cfg.get("data") or {}).get("split") if isinstance(cfg.get("data"), dict) \
            else None
        recorded = recorded.get("path") if isinstance(recorded, dict) else None
        candidates = [Path(recorded), run.parent / Path(recorded).name] if recorded else []
        candidates.append(run.parent / "split.json")
    path = next((c for c in candidates if c.is_file()), candidates[0])
    loaded = read_json(path, "split file")
    names = loaded.record.get("names") if loaded.record else None
    if loaded.record is not None and not (isinstance(names, dict) and all(
            isinstance(names.get(p), list) for p in PARTS)):
        loaded = Loaded(path, None, f"{path} is not a split file (no 'names' with 'train', "
                                    "'val' and 'test')")
        names = None
    return loaded, ({p: [str(n) for n in names[p]] for p in PARTS} if names else None)


def _pairs(run: Path, split, names, hashes: bool) -> tuple[dict[str, Pair] | None, str]:
    """The split's pairs by name, and where they came from (or why there are none)."""
    if not hashes:
        return None, "content hashes were not asked for (hashes=False)"
    if split is not None and not isinstance(split, (str, os.PathLike)):
        found = {p.name: p for part in PARTS for p in getattr(split, part)}
        return found, "the split passed to the report (the pairs in memory)"
    if names is None:
        return None, "no split file was found, so which images were used is unknown"
    found, why = images.reload(run / train.CONFIG)
    if found is None:
        return None, f"the images are not reachable: {why}"
    return found, "read again as the run's config.yaml describes them"


def _figures(run: Path, figures) -> tuple[list[Path], str]:
    if figures is None or isinstance(figures, (str, os.PathLike)):
        folder = Path(figures) if figures is not None else run.parent / "figures"
        if not folder.is_dir():
            return [], f"{folder} does not exist"
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in PICTURES)
        return found, "" if found else f"{folder} holds no PNG file"
    found = [Path(p) for p in figures]
    missing = [str(p) for p in found if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"figures: {missing[:3]} do not exist; pass existing PNG files "
                                "(or a folder of them).")
    return found, "" if found else "an empty list of figures was given"


def gather(run: str | os.PathLike, *, metrics=None, figures=None, uncertainty=None, split=None,
           hashes: bool = True) -> Sources:
    """Read everything a report of the run folder ``run`` shows (see
    :func:`im2im_helpers.report.write_report` for the arguments)."""
    run = check_run(run)
    cfg_file = run / train.CONFIG
    text = cfg_file.read_text(encoding="utf-8", errors="replace")
    try:
        cfg = run_config.read_yaml(text) or {}
        problem = "" if isinstance(cfg, dict) else f"{cfg_file} is not a YAML mapping"
    except Exception as err:  # yaml.YAMLError and friends: shown, not raised
        cfg, problem = {}, f"{cfg_file} could not be parsed ({err})"
    cfg = cfg if isinstance(cfg, dict) else {}
    ckpt, info = _checkpoint(run)
    split_file, names = _split(run, cfg, split)
    pairs, note = _pairs(run, split, names, hashes)
    found_figures, figures_note = _figures(run, figures)
    sources = Sources(
        run=run, config_text=text, config=cfg, config_problem=problem,
        history=train.read_history(run), checkpoint=ckpt, checkpoint_info=info,
        metrics=read_json(Path(metrics) if metrics else run.parent / "metrics.json",
                          "metrics file"),
        uncertainty=read_json(Path(uncertainty) if uncertainty
                              else run.parent / "uncertainty.json", "uncertainty summary"),
        split_file=split_file, split_names=names, pairs=pairs, pairs_note=note,
        figures=found_figures, figures_note=figures_note)
    sources.read = {"configuration": cfg_file, **({"model weights": ckpt} if ckpt else {})}
    for what, loaded in (("metrics", sources.metrics), ("split", split_file),
                         ("uncertainty", sources.uncertainty)):
        if loaded.record is not None:
            sources.read[what] = loaded.path
    return sources
