"""Cross-validation of the candidates on Optuna: one trial per candidate, one training run per
fold, the running mean reported after each fold so a pruner stops hopeless trials.

The study lives in a storage given by URL (an SQLite file by default), so a killed search
resumes where it stopped (finished trials are kept; a trial left running by the kill is found
by its silent heartbeat, marked failed and its candidate tried again) and other processes join
it through the same URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import lightning as L
import numpy as np
import optuna

from im2im_helpers import config, data, io, metrics, predict, train
from im2im_helpers.auto.budget import OBSERVED_STEPS
from im2im_helpers.auto.candidates import Candidate
from im2im_helpers.auto.kinds import AutoTask
from im2im_helpers.data import Pairs, SplitConfig
from im2im_helpers.data.splits import make_split

#: The trial parameter that names the candidate.
PARAM = "candidate"
#: Seconds between a trial's heartbeats by default; silent for :data:`GRACE_BEATS` beats, a
#: running trial is taken as killed.
HEARTBEAT_S = 10
GRACE_BEATS = 3
#: Seconds between looks at trials another process is running.
POLL_S = 2.0
#: States of a trial that mean its candidate is taken care of.
TAKEN = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
         optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)


class DuplicateTrial(RuntimeError):
    """Another trial already evaluates this candidate (two processes enqueued it at once)."""


@contextlib.contextmanager
def quiet():
    """Within the block, Optuna's notes that heartbeats are experimental and Lightning's note
    that a fold trains without validation data (on purpose: it is scored on its held-out fold
    afterwards) are not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=r".*Total length of .* across ranks is zero.*")
        yield


def default_storage(out: str | os.PathLike) -> str:
    """The storage URL of a search in ``out``: ``sqlite:///OUT/study.db``."""
    return f"sqlite:///{Path(out).resolve() / 'study.db'}"


def storage(url: str, heartbeat_s: int = HEARTBEAT_S) -> optuna.storages.RDBStorage:
    """An Optuna storage at ``url`` with heartbeats every ``heartbeat_s`` seconds (a running
    trial silent for :data:`GRACE_BEATS` beats is stale), waiting up to a minute for a database
    another process holds."""
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    with quiet():
        return optuna.storages.RDBStorage(url, engine_kwargs=engine,
                                          heartbeat_interval=int(heartbeat_s),
                                          grace_period=int(GRACE_BEATS * heartbeat_s))


def open_study(url: str, name: str = "auto", seed: int = 0,
               heartbeat_s: int = HEARTBEAT_S) -> optuna.Study:
    """Create the study ``name`` at ``url``, or load it when it exists (``load_if_exists``):
    scores are maximised, a median pruner compares a trial's running mean from the second
    fold on with the trials before it."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are in the report
    return optuna.create_study(
        storage=storage(url, heartbeat_s), study_name=name, direction="maximize",
        load_if_exists=True, sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1))


def candidate_of(trial: optuna.trial.FrozenTrial) -> str | None:
    """The candidate a trial evaluates (for a waiting trial: the one it was queued for)."""
    return trial.params.get(PARAM) or (trial.system_attrs.get("fixed_params") or {}).get(PARAM)


def was_killed(trial: optuna.trial.FrozenTrial) -> bool:
    """A failed trial that did not fail by itself: left running by a killed process and marked
    failed when its heartbeat went silent."""
    return (trial.state == optuna.trial.TrialState.FAIL and "error" not in trial.user_attrs
            and not trial.user_attrs.get("duplicate"))


def enqueue_missing(study: optuna.Study, names: Sequence[str]) -> list[str]:
    """Queue every candidate that no trial evaluates, has evaluated or waits for (a candidate
    whose trial was killed is queued again); returns the names queued."""
    trials = study.get_trials(deepcopy=False)
    taken = {candidate_of(t) for t in trials if t.state in TAKEN}
    errors = {candidate_of(t) for t in trials
              if t.state == optuna.trial.TrialState.FAIL and not was_killed(t)
              and not t.user_attrs.get("duplicate")}
    queued = [n for n in names if n not in taken and n not in errors]
    for name in queued:
        study.enqueue_trial({PARAM: name})
    return queued


@dataclass
class Folds:
    """The cross-validation folds: ``held_out[i]`` are the pairs fold ``i`` scores on, the
    other CV pairs train; each fold's split file is ``folder/fold-i.json``."""

    held_out: list[list[str]]
    folder: Path
    seed: int = 0

    def split(self, pairs: Pairs, i: int):
        """The split of fold ``i`` (``train``: the other folds, ``test``: fold ``i``, no
        validation), written to (or read back from) its file."""
        return make_split(pairs, self.folder / f"fold-{i}.json", test=list(self.held_out[i]),
                          val=0, seed=self.seed, shuffle=False)


def make_folds(names: Sequence[str], k: int, seed: int) -> list[list[str]]:
    """``names`` shuffled with ``seed`` and cut into ``k`` folds of (nearly) equal size."""
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    return [list(part) for part in np.array_split(np.asarray(order, dtype=object), k)]


def score(model, pairs: Pairs, task: AutoTask, patch: Sequence[int]) -> float:
    """Mean of ``task.metric`` over ``pairs`` predicted by ``model`` in windows of ``patch``.
    An undefined score (a constant prediction has no Pearson correlation) counts as no
    correlation for Pearson's r and as the worst score (``-inf``) otherwise."""
    values = scores(model, pairs, task, patch, (task.metric,))[task.metric]
    worst = 0.0 if task.metric == "pearson" else -np.inf
    return float(np.mean([v if not np.isnan(v) else worst for v in values]))


def scores(model, pairs: Pairs, task: AutoTask, patch: Sequence[int],
           names: Sequence[str], tta: bool = False) -> dict[str, list[float]]:
    """Each metric of ``names`` per pair of ``pairs`` (probabilities thresholded at 0.5 for
    segmentation); ``tta``: predictions averaged over flips
    (:func:`im2im_helpers.predict.image`)."""
    out: dict[str, list[float]] = {n: [] for n in names}
    for pair in pairs:
        prediction = predict.image(model, pair.input, roi=tuple(patch), tta=tta)
        target = pair.target > 0 if task.segmentation else pair.target
        for name in names:
            out[name].append(float(metrics.METRICS[name](prediction, target)))
    return out


#: The weights (a ``state_dict``) a fold's run keeps in its folder once its checkpoints are
#: deleted: the final run may start from the best fold's.
WEIGHTS = "weights.pt"


class StepTimer(L.Callback):
    """Seconds per training step on ``clock``, from the end of the first step to the end of the
    last: what a longer run of the same configuration costs per step (epoch ends and checkpoints
    included), without Lightning's set-up and the first step's warm-up, which a short fold would
    otherwise spread over its few steps."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.first: float | None = None
        self.last: float | None = None
        self.steps = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = self.clock()
        if self.first is None:
            self.first = now
        else:
            self.steps, self.last = self.steps + 1, now

    @property
    def step_s(self) -> float | None:
        """Seconds per step after the first (``None`` before two steps)."""
        if not self.steps or self.first is None or self.last is None:
            return None
        return (self.last - self.first) / self.steps


@dataclass
class FoldResult:
    """One fold of a trial: ``score`` on its held-out pairs, ``seconds`` of the whole fold
    (training and scoring), ``step_s`` seconds per training step after the first, as observed
    inside Lightning (:class:`StepTimer`; set-up and warm-up are the final run's
    :data:`~im2im_helpers.auto.budget.OVERHEAD_S`)."""

    score: float
    seconds: float
    step_s: float | None


def train_and_score(candidate: Candidate, split, task: AutoTask, folder: Path,
                    keep_checkpoints: bool = False,
                    clock: Callable[[], float] = time.perf_counter) -> FoldResult:
    """Train ``candidate`` on ``split.train`` into the run folder ``folder`` and score it on
    ``split.test`` (seconds on ``clock``). The fold's checkpoints are deleted afterwards unless
    ``keep_checkpoints``; its ``config.yaml``, log and weights (:data:`WEIGHTS`) stay."""
    import torch

    cfg = replace(candidate.config, data=replace(candidate.config.data,
                                                 split=SplitConfig(**split.config)))
    start = clock()
    timer = StepTimer(clock)
    dm = data.patches(split, cfg.data.patches)
    run = train.fit(config.build_task(cfg), dm, folder, cfg.train, overwrite=True,
                    progress=False, callbacks=[timer])
    trained = clock() - start
    steps = int(run.trainer.global_step)
    value = score(run.model, split.test, task, cfg.data.patches.patch)
    state = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
    io.write_bytes(folder / WEIGHTS, lambda f: torch.save(state, f))
    if not keep_checkpoints:
        shutil.rmtree(folder / train.CHECKPOINTS, ignore_errors=True)
    return FoldResult(value, clock() - start, timer.step_s or (trained / steps if steps else None))


def observe_step(candidate: Candidate, split, folder: Path,
                 clock: Callable[[], float] = time.perf_counter,
                 steps: int = OBSERVED_STEPS) -> float | None:
    """Seconds per training step of ``candidate`` on ``split.train`` as Lightning runs it
    (data loading and augmentation included; :class:`StepTimer`), from a run of about
    ``steps`` steps in ``folder``, which is deleted afterwards: what the final run's schedule is
    fitted to when no fold has shown the pace (a bare step times a fixed factor can be off by
    2x either way, depending on how much of a step is loading)."""
    patches = candidate.config.data.patches
    per_image = max(1, -(-steps * patches.batch_size // len(split.train)))
    cfg = replace(candidate.config, data=replace(
        candidate.config.data, split=SplitConfig(**split.config),
        patches=replace(patches, samples_per_image=per_image)),
        train=replace(candidate.config.train, max_epochs=1))
    timer = StepTimer(clock)
    try:
        train.fit(config.build_task(cfg), data.patches(split, cfg.data.patches), folder,
                  cfg.train, overwrite=True, progress=False, callbacks=[timer])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return timer.step_s


def fold_weights(trials_dir: Path, result: dict) -> Path | None:
    """The weights file of the best fold of a candidate's trial (``result`` as
    :func:`candidate_results` gives it), or ``None`` when it is not on this machine."""
    if result.get("trial") is None or not result.get("fold_scores"):
        return None
    values = np.nan_to_num(np.asarray(result["fold_scores"], dtype=float), nan=-np.inf)
    best = int(np.argmax(values))
    path = Path(trials_dir) / f"trial-{int(result['trial']):03d}" / f"fold-{best}" / WEIGHTS
    return path if path.is_file() else None


@dataclass
class Search:
    """What one process needs to run trials of a study.

    Attributes
    ----------
    study : optuna.Study
    candidates : dict
        ``{name: Candidate}``, fitted to the plan.
    pairs : Pairs
        The cross-validation pairs (never the test pairs).
    folds : Folds
    task : AutoTask
    trials_dir : pathlib.Path
        Where each trial's fold runs go (``trial-NNN/fold-F``).
    log : callable
        Called with one line of progress.
    worker : str
        ``host:pid`` of this process, recorded in each trial it runs.
    duplicates : int
        Trials this process found another trial already evaluating (not counted as run).
    clock : callable
        The clock of the budget (``time.monotonic`` or ``time.process_time``: see
        :data:`im2im_helpers.auto.budget.CLOCKS`); deadlines are on it.
    """

    study: optuna.Study
    candidates: dict[str, Candidate]
    pairs: Pairs
    folds: Folds
    task: AutoTask
    trials_dir: Path
    log: Callable[[str], None] = print
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    duplicates: int = 0
    clock: Callable[[], float] = time.monotonic

    def is_duplicate(self, trial: optuna.Trial, name: str) -> bool:
        """Whether a trial numbered before ``trial`` evaluates (or waits to evaluate) ``name``."""
        return any(candidate_of(t) == name and t.number < trial.number and t.state in TAKEN
                   for t in self.study.get_trials(deepcopy=False))

    def objective(self, trial: optuna.Trial) -> float:
        """Cross-validate the candidate of ``trial``: train and score every fold, report the
        running mean after each and stop when the pruner says so."""
        name = trial.suggest_categorical(PARAM, sorted(self.candidates))
        if self.is_duplicate(trial, name):
            trial.set_user_attr("duplicate", True)
            self.duplicates += 1
            raise DuplicateTrial(f"{name} is evaluated by an earlier trial")
        trial.set_user_attr("worker", self.worker)
        candidate = self.candidates[name]
        fold_scores: list[float] = []
        step_s: list[float] = []
        try:
            for i in range(len(self.folds.held_out)):
                split = self.folds.split(self.pairs, i)
                folder = self.trials_dir / f"trial-{trial.number:03d}" / f"fold-{i}"
                fold = train_and_score(candidate, split, self.task, folder, clock=self.clock)
                value, seconds = fold.score, fold.seconds
                fold_scores.append(value)
                trial.set_user_attr("fold_scores", fold_scores)
                if fold.step_s:
                    step_s.append(fold.step_s)
                    trial.set_user_attr("step_s", step_s)
                mean = float(np.mean(fold_scores))
                self.log(f"trial {trial.number} {name}: fold {i + 1}/{len(self.folds.held_out)}"
                         f" {self.task.metric} {value:.4f} ({seconds:.0f} s), mean {mean:.4f}")
                trial.report(mean, i)
                if i < len(self.folds.held_out) - 1 and trial.should_prune():
                    self.log(f"trial {trial.number} {name}: pruned after fold {i + 1}")
                    raise optuna.TrialPruned()
        except (optuna.TrialPruned, DuplicateTrial):
            raise
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
            self.log(f"trial {trial.number} {name}: failed ({type(err).__name__}: {err})")
            raise
        return float(np.mean(fold_scores))

    def trial_seconds(self, name: str, train_s: float) -> float:
        """Estimated seconds of a trial of ``name`` (every fold)."""
        from im2im_helpers.auto.budget import OVERHEAD_S, epoch_seconds, fold_sizes

        cfg = self.candidates[name].config
        n_fold, _ = fold_sizes(len(self.pairs), len(self.folds.held_out))
        training = min(train_s, cfg.train.max_epochs * epoch_seconds(self.candidates[name],
                                                                     n_fold))
        return len(self.folds.held_out) * (training + OVERHEAD_S)

    def run(self, deadline: float, train_s: float, max_trials: int | None = None,
            allowed: Sequence[str] | None = None, first: bool = False) -> int:
        """Run trials until every candidate is done, ``deadline`` (on :attr:`clock`) would
        be passed by more than a fit's overhead, or this process ran ``max_trials``; wait for
        trials other processes are running (or that a kill left running, until their
        heartbeat goes stale). ``first``: run the first trial whatever the clock says (the
        plan made room for it). Returns the number of trials this process ran."""
        with quiet():
            return self.run_trials(deadline, train_s, max_trials,
                                   list(allowed or self.candidates), first)

    def run_trials(self, deadline: float, train_s: float, max_trials: int | None,
                   names: list[str], first: bool = False) -> int:
        """:meth:`run` for the candidates ``names``, warnings of :func:`quiet` shown."""
        from im2im_helpers.auto.budget import OVERHEAD_S

        ran, self.duplicates = 0, 0
        while max_trials is None or ran - self.duplicates < max_trials:
            optuna.storages.fail_stale_trials(self.study)
            enqueue_missing(self.study, names)
            waiting = self.study.get_trials(deepcopy=False,
                                            states=(optuna.trial.TrialState.WAITING,))
            if waiting:
                name = candidate_of(waiting[0])
                name = name if name in self.candidates else names[0]
                late = self.clock() + self.trial_seconds(name, train_s) > (
                    deadline + OVERHEAD_S)
                if late and not (first and ran == 0):
                    self.log(f"the budget leaves no time for {name} (and the candidates after "
                             "it): the search stops here")
                    break
                self.study.optimize(self.objective, n_trials=1, catch=(Exception,),
                                    gc_after_trial=True)
                ran += 1
                continue
            running = self.study.get_trials(deepcopy=False,
                                            states=(optuna.trial.TrialState.RUNNING,))
            if not running or self.clock() + POLL_S > deadline:
                break
            time.sleep(POLL_S)
        return ran - self.duplicates


def candidate_results(study: optuna.Study, names: Sequence[str]) -> dict[str, dict]:
    """Per candidate: ``state`` (``complete``, ``pruned``, ``failed``, ``running``,
    ``not evaluated``), the fold scores, their mean and standard deviation, the trial number,
    the worker that ran it and any error."""
    out = {n: {"state": "not evaluated", "fold_scores": [], "mean": None, "std": None,
               "trial": None} for n in names}
    rank = {"complete": 4, "pruned": 3, "failed": 2, "running": 1, "not evaluated": 0}
    for t in study.get_trials(deepcopy=False):
        name = candidate_of(t)
        if name not in out or t.user_attrs.get("duplicate") or was_killed(t):
            continue
        state = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed",
                 "RUNNING": "running"}.get(t.state.name)
        if state is None or rank[state] <= rank[out[name]["state"]]:
            continue
        folds = list(t.user_attrs.get("fold_scores", []))
        seconds = ((t.datetime_complete - t.datetime_start).total_seconds()
                   if t.datetime_complete and t.datetime_start else None)
        out[name] = {"state": state, "fold_scores": folds,
                     "mean": float(np.mean(folds)) if folds else None,
                     "std": float(np.std(folds)) if folds else None, "trial": t.number,
                     "step_s": (float(np.median(t.user_attrs["step_s"]))
                                if t.user_attrs.get("step_s") else None),
                     "worker": t.user_attrs.get("worker"), "seconds": seconds,
                     **({"error": t.user_attrs["error"]} if "error" in t.user_attrs else {})}
    return out


def best_candidate(results: dict[str, dict]) -> str | None:
    """The complete candidate with the highest mean score (the first one on a tie)."""
    done = [(r["mean"], -i, n) for i, (n, r) in enumerate(results.items())
            if r["state"] == "complete" and r["mean"] is not None and np.isfinite(r["mean"])]
    return max(done)[2] if done else None
