"""The active-learning loop on disk: train on the annotated crops, rank the unannotated ones,
have the chosen ones corrected (by a person on :mod:`~im2im_helpers.active.canvas`, or by the
:class:`~im2im_helpers.active.annotator.SimulatedAnnotator`), and train again from the current
weights.

A loop folder holds everything needed to repeat or resume it::

    loop.json                  the settings (LoopConfig) the loop was made with
    pool.json                  every crop (image, position, size) and a digest of each image
    annotations/               the versioned masks (AnnotationStore) and their index.json
    rounds/round-000.json      what round 0 trained on (crop -> version), from which weights,
                               what it chose for annotation, how it scored on held-out images
    rounds/round-000/run/      round 0's run folder (train.fit: config.yaml, logs, checkpoints)

Round ``r`` > 0 starts from round ``r - 1``'s last checkpoint (loaded as weights only) and
records a digest of the weights it started from and ended with.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from im2im_helpers import io, metrics, models, predict, system, tasks, train
from im2im_helpers.active.annotations import AnnotationStore
from im2im_helpers.active.annotator import SimulatedAnnotator, foreground_of, relabel
from im2im_helpers.active.canvas import MaskEditor
from im2im_helpers.active.pool import POOL_FILE, Pool, unannotated
from im2im_helpers.active.ranking import crop_uncertainty, random_order, select_uncertain
from im2im_helpers.data.pairs import Pair, Pairs
from im2im_helpers.data.patches import PatchDataModule
from im2im_helpers.data.splits import Split

CONFIG_FILE = "loop.json"
ROUNDS = "rounds"
ANNOTATIONS = "annotations"
#: The sampling strategies a loop takes.
STRATEGIES = ("uncertainty", "random")
#: Annotation sources that do not count as annotated by someone (baseline pseudo labels).
PSEUDO = "pseudo"


class LoopError(ValueError):
    """A loop folder cannot be used as asked (see the message)."""


@dataclass
class LoopConfig:
    """The settings of an active-learning loop (written to ``loop.json``).

    Attributes
    ----------
    crop : int
        Side of a pool crop in pixels.
    stride : int or None
        Distance between crop corners (default ``crop``).
    per_round : int
        Crops chosen for annotation per round.
    strategy : {"uncertainty", "random"}
        How crops are chosen: by the model's uncertainty (with diversity), or in a random order
        decided by ``seed`` (the baseline that uncertainty sampling must beat).
    method : {"tta", "mc_dropout"}
        Uncertainty from test-time augmentation or Monte-Carlo dropout (needs ``dropout`` > 0).
    diversity : bool
        Spread the choice: discount crops whose features lie near a chosen or annotated
        one (:func:`~im2im_helpers.active.ranking.diverse_greedy`).
    shortlist : int
        Diversity chooses among the ``shortlist * per_round`` most uncertain crops.
    initial : int
        Crops annotated before the first training (chosen by ``seed``), when the loop does not
        start from pseudo labels.
    channels : list of int
        U-Net features per level.
    dropout : float
        Dropout of the U-Net.
    epochs : int
        Training epochs per round (each of ``samples_per_crop`` patches per annotated crop).
    samples_per_crop : int
        Random patches per annotated crop per epoch.
    batch_size : int
        Patches per step.
    patch : int or None
        Training patch (default ``crop``).
    predict_window : int or None
        Sliding window for predicting whole images (ranking, proposals, evaluation); default
        four training patches wide: the network is fully convolutional, and fewer, larger
        windows predict the pool about twice as fast as windows of the patch size.
    lr : float
        Adam learning rate.
    threshold : float
        Probability above which a pixel is foreground (proposals, evaluation).
    seed : int
        Decides the initial crops, the random sampling order and training (weights, patches,
        dropout): round ``r`` trains with seed ``seed + r``.
    """

    crop: int = 64
    stride: int | None = None
    per_round: int = 2
    strategy: str = "uncertainty"
    method: str = "tta"
    diversity: bool = True
    shortlist: int = 5
    initial: int = 1
    channels: list[int] = field(default_factory=lambda: [8, 16, 32])
    dropout: float = 0.0
    epochs: int = 10
    samples_per_crop: int = 8
    batch_size: int = 4
    patch: int | None = None
    predict_window: int | None = None
    lr: float = 2e-3
    threshold: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r}: choose one of {STRATEGIES}.")
        for name in ("crop", "per_round", "epochs", "samples_per_crop", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r}: must be at least 1.")
        self.channels = [int(c) for c in self.channels]

    @property
    def window(self) -> int:
        """The training patch."""
        return int(self.patch or self.crop)

    @property
    def prediction_window(self) -> tuple[int, int]:
        """The ``(Y, X)`` sliding window of whole-image predictions."""
        return (int(self.predict_window or 4 * self.window),) * 2


def weights_digest(state: Mapping[str, torch.Tensor]) -> str:
    """A short SHA-256 of a state dict's tensors (names, shapes and values), to tell which
    weights a round started from."""
    h = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()[:16]


def load_weights(task: torch.nn.Module, checkpoint: str | os.PathLike) -> torch.nn.Module:
    """Load a Lightning checkpoint's ``state_dict`` into ``task`` (weights only)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    task.load_state_dict(state["state_dict"])
    return task


class ActiveLoop:
    """An active-learning loop in ``folder`` (created, or resumed when it exists).

    Parameters
    ----------
    folder : path-like
        The loop folder (see the module's description).
    images : mapping
        The unlabelled pool: image name -> ``(C, Y, X)`` float32 input, normalised as for
        training. A resumed loop checks that they are the images it was made with.
    config : LoopConfig, optional
        The settings of a new loop (default :class:`LoopConfig`); a resumed loop keeps its own,
        and refuses different ones.

    Examples
    --------
    >>> loop = ActiveLoop("runs/active", {p.name: p.input for p in split.train})  # doctest: +SKIP
    >>> loop.pseudo_label(otsu, name="otsu")          # or loop.annotate(loop.initial_crops(), ...)
    >>> loop.train()                                  # round 0
    >>> chosen = loop.propose()                       # the crops to correct
    >>> AnnotationCanvas(loop.editor(chosen[0]))      # correct, accept           # doctest: +SKIP
    >>> loop.train()                                  # round 1, from round 0's weights
    """

    def __init__(self, folder: str | os.PathLike, images: Mapping[str, np.ndarray],
                 config: LoopConfig | None = None):
        self.folder = Path(folder)
        saved = self.folder / CONFIG_FILE
        if saved.is_file():
            existing = LoopConfig(**json.loads(saved.read_text(encoding="utf-8")))
            if config is not None and asdict(config) != asdict(existing):
                differ = sorted(k for k, v in asdict(config).items() if asdict(existing)[k] != v)
                raise LoopError(
                    f"{saved}: this loop was made with other settings ({differ} differ); "
                    "nothing was changed. Resume it without config=, or start a new loop in "
                    "another folder.")
            self.config = existing
            self.pool = Pool.read(self.folder / POOL_FILE, images)
        else:
            if self.folder.is_dir() and any(self.folder.iterdir()):
                raise LoopError(f"{self.folder}: not empty and not a loop folder (no "
                                f"{CONFIG_FILE}); choose a new or empty folder.")
            self.config = replace(config) if config is not None else LoopConfig()
            self.pool = Pool.from_images(images, self.config.crop, self.config.stride)
            self.pool.write(self.folder / POOL_FILE)
            io.write_text(saved, json.dumps(asdict(self.config), indent=1) + "\n")
        self.store = AnnotationStore(self.folder / ANNOTATIONS)
        self._model: torch.nn.Module | None = None
        self._model_round: int | None = None
        self._predictions: dict[str, np.ndarray] = {}
        self._probabilities: dict[str, np.ndarray] = {}

    # -- state on disk ---------------------------------------------------------------------
    def round_path(self, r: int) -> Path:
        """The JSON record of round ``r``."""
        return self.folder / ROUNDS / f"round-{r:03d}.json"

    def run_path(self, r: int) -> Path:
        """The run folder of round ``r``."""
        return self.folder / ROUNDS / f"round-{r:03d}" / "run"

    def record(self, r: int) -> dict:
        """Round ``r``'s record (empty when the round has not started)."""
        path = self.round_path(r)
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def update(self, r: int, **values) -> dict:
        """Add ``values`` to round ``r``'s record and write it atomically."""
        record = {**self.record(r), "round": r, **values}
        io.write_text(self.round_path(r), json.dumps(record, indent=1) + "\n")
        return record

    def rounds(self) -> list[dict]:
        """Every trained round's record, in order."""
        found, r = [], 0
        while self.record(r).get("checkpoint"):
            found.append(self.record(r))
            r += 1
        return found

    @property
    def trained(self) -> int:
        """How many rounds have finished training."""
        return len(self.rounds())

    def annotated(self) -> list[str]:
        """Crops annotated by someone (a person or the simulated annotator; pseudo labels of
        a baseline do not count), in pool order."""
        done = {c for c, vs in self.store.index().items()
                if any(not v.source.startswith(PSEUDO) for v in vs)}
        return [c for c in self.pool.ids if c in done]

    # -- annotation ------------------------------------------------------------------------
    def initial_crops(self) -> list[str]:
        """The ``config.initial`` crops the seed picks to start from."""
        return random_order(self.pool.ids, self.config.seed)[: self.config.initial]

    def pseudo_label(self, baseline: Callable[[np.ndarray], np.ndarray], name: str = "baseline",
                     crops: Sequence[str] | None = None) -> list[str]:
        """Pseudo ground truth: ``baseline(input crop) -> mask`` for ``crops`` (default every
        crop without an annotation), saved as source ``pseudo:<name>``; returns the crops."""
        crops = [c for c in self.pool.ids if not self.store.versions(c)] if crops is None \
            else list(crops)
        for crop in crops:
            x = self.pool.input(crop)
            mask = relabel(foreground_of(np.asarray(baseline(x)) > 0.5))
            self.store.save(crop, mask, x.shape, source=f"{PSEUDO}:{name}", round=self.trained)
        return crops

    def proposal(self, crop: str) -> np.ndarray:
        """The mask a crop's correction starts from: the current model's (probability above
        ``threshold``, as connected components), else the crop's latest annotation, else an
        empty mask."""
        model = self.model()
        if crop in self._probabilities:  # the mean prediction of the latest ranking
            return relabel(self._probabilities[crop][0] > self.config.threshold)
        if model is not None:
            name = self.pool.crop(crop).image
            if name not in self._predictions:
                self._predictions[name] = predict.image(
                    model, self.pool.images[name], self.config.prediction_window)
            probability = self.pool.crop(crop).cut(self._predictions[name])[0]
            return relabel(probability > self.config.threshold)
        if self.store.versions(crop):
            return self.store.read(crop)
        return np.zeros((self.config.crop,) * 2, np.uint32)

    def annotate(self, crops: Sequence[str], annotator: SimulatedAnnotator,
                 truth: Callable[[str], np.ndarray]) -> dict[str, int]:
        """Have ``annotator`` correct each crop's :meth:`proposal` against ``truth(crop_id)``
        and save the result; returns crop -> version saved. After a trained round, its record
        gets ``annotated`` (crop -> version) and ``corrections`` (crop -> edits spent, error
        components left, pixels added and removed)."""
        saved, edits = {}, {}
        for crop in crops:
            x = self.pool.input(crop)
            corrected = annotator(self.proposal(crop), truth(crop))
            saved[crop] = self.store.save(crop, corrected.labels, x.shape,
                                          source=annotator.source, round=self.trained).version
            edits[crop] = {"edits": corrected.edits, "remaining": corrected.remaining,
                           "added": corrected.added, "removed": corrected.removed}
        if self.trained:
            before = self.record(self.trained - 1)
            self.update(self.trained - 1, annotated={**before.get("annotated", {}), **saved},
                        corrections={**before.get("corrections", {}), **edits})
        return saved

    def editor(self, crop: str) -> MaskEditor:
        """A :class:`~im2im_helpers.active.canvas.MaskEditor` of ``crop`` starting from its
        :meth:`proposal`, saving into this loop's store (show it with
        :class:`~im2im_helpers.active.canvas.AnnotationCanvas`)."""
        return MaskEditor(self.pool.input(crop), self.proposal(crop), crop, self.store,
                          round=self.trained)

    # -- training --------------------------------------------------------------------------
    def training_pairs(self) -> tuple[Pairs, dict[str, int]]:
        """Every crop with an annotation (its latest version, pseudo labels included) as a
        pair of input crop and foreground target; and crop -> version used."""
        index = self.store.index()
        used = {c: index[c][-1].version for c in self.pool.ids if c in index}
        pairs = Pairs([Pair(c, self.pool.input(c),
                            (self.store.read(c, v) > 0)[None].astype(np.float32))
                       for c, v in used.items()],
                      {"source": {"folder": str(self.store.root.resolve())}})
        return pairs, used

    def new_task(self) -> tasks.Supervised:
        """An untrained task of this loop's network (seeded by ``config.seed``)."""
        c = self.config
        channels = next(iter(self.pool.images.values())).shape[0]
        strides = [2] * (len(c.channels) - 1)
        net = models.build("unet", 2, in_channels=channels, out_channels=1, seed=c.seed,
                           channels=list(c.channels), strides=strides, norm="BATCH",
                           dropout=c.dropout)
        return tasks.Supervised(net, loss="dice_ce", lr=c.lr)

    def train(self, progress: bool = False) -> dict:
        """Train the next round on every annotated crop, from the previous round's weights.

        A round whose training finished (its record names a checkpoint) is not trained again:
        a resumed loop continues where it stopped.

        Returns
        -------
        dict
            The round's record.
        """
        r = self.trained
        pairs, used = self.training_pairs()
        if not pairs:
            raise LoopError(f"{self.folder}: no crop is annotated yet; annotate some "
                            "(annotate(initial_crops(), ...), pseudo_label(...) or the canvas) "
                            "before training.")
        c = self.config
        task = self.new_task()
        start = None
        if r > 0:
            start = Path(self.record(r - 1)["checkpoint"])
            load_weights(task, self.folder / start)
        initial = weights_digest(task.state_dict())
        split = Split(pairs, Pairs(config=pairs.config), Pairs(config=pairs.config),
                      {"test": 0, "val": 0, "seed": c.seed + r, "shuffle": False,
                       "path": str(self.round_path(r).resolve())})
        dm = PatchDataModule(split, patch=[c.window] * 2, batch_size=c.batch_size,
                             samples_per_image=c.samples_per_crop, augment="flips",
                             seed=c.seed + r)
        self.update(r, strategy=c.strategy, seed=c.seed + r, trained_on=used,
                    n_annotated=len(self.annotated()), n_training_crops=len(used),
                    initial_weights=None if start is None else str(start),
                    initial_digest=initial)
        with warnings.catch_warnings():  # no validation set: the crops are all there is
            warnings.filterwarnings("ignore", message=".*Total length of .* is zero.*")
            run = train.fit(task, dm, self.run_path(r), max_epochs=c.epochs, seed=c.seed + r,
                            progress=progress, overwrite=True,
                            accelerator=system.accelerator())
        checkpoint = run.last_checkpoint.relative_to(self.folder)
        self._model, self._model_round = run.model.eval(), r
        self._predictions, self._probabilities = {}, {}
        return self.update(r, checkpoint=str(checkpoint),
                           final_digest=weights_digest(run.model.state_dict()))

    def model(self) -> torch.nn.Module | None:
        """The latest round's trained task (loaded weights-only from its checkpoint), or
        ``None`` before the first training."""
        r = self.trained - 1
        if r < 0:
            return None
        if self._model is None or self._model_round != r:
            task = load_weights(self.new_task(), self.folder / self.record(r)["checkpoint"])
            self._model, self._model_round = task.eval(), r
            self._predictions, self._probabilities = {}, {}
        return self._model

    # -- choosing --------------------------------------------------------------------------
    def propose(self, k: int | None = None) -> list[str]:
        """The crops to annotate after the latest round (its record keeps them, so asking
        again, or after a restart, gives the same crops).

        Parameters
        ----------
        k : int, optional
            How many (default ``config.per_round``).

        Returns
        -------
        list of str
            Crop ids, best first; fewer when the pool runs out.
        """
        r = self.trained - 1
        if r < 0:
            raise LoopError(f"{self.folder}: train a round first; the choice needs a model.")
        if "chosen" in self.record(r):
            return list(self.record(r)["chosen"])
        c = self.config
        k = int(k or c.per_round)
        annotated = self.annotated()
        candidates = unannotated(self.pool, annotated)
        if c.strategy == "random":
            order = random_order(self.pool.ids, c.seed)
            chosen = [i for i in order if i in set(candidates)][:k]
            return self.update(r, chosen=chosen, scores={})["chosen"]
        scores = crop_uncertainty(self.model(), self.pool, method=c.method,
                                  roi=c.prediction_window, seed=c.seed + r)
        self._probabilities = scores.probability  # the mean predictions double as proposals
        chosen = select_uncertain(scores, k, candidates, annotated, c.diversity, c.shortlist)
        return self.update(r, chosen=chosen, method=c.method,
                           scores={i: scores.uncertainty[i] for i in chosen},
                           pool_uncertainty=float(np.mean(list(scores.uncertainty.values()))))[
            "chosen"]

    def step(self, annotator: SimulatedAnnotator, truth: Callable[[str], np.ndarray]) -> dict:
        """One unattended round: propose with the latest model, have ``annotator`` correct the
        chosen crops, train the next round. Returns the new round's record."""
        self.annotate(self.propose(), annotator, truth)
        return self.train()

    # -- measuring -------------------------------------------------------------------------
    def evaluate(self, held_out: Sequence[Pair]) -> dict:
        """Dice of the latest model on held-out pairs (whole images, sliding windows), written
        into the latest round's record as ``evaluation``."""
        model = self.model()
        if model is None:
            raise LoopError(f"{self.folder}: nothing trained yet to evaluate.")
        scores = {}
        for pair in held_out:
            probability = predict.image(model, pair.input, self.config.prediction_window)
            scores[pair.name] = metrics.dice(probability, (np.asarray(pair.target) > 0),
                                             self.config.threshold)
        result = {"dice": float(np.mean(list(scores.values()))), "per_image": scores,
                  "n_annotated": len(self.annotated())}
        self.update(self.trained - 1, evaluation=result)
        return result
