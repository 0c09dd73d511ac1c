"""The time budget: how much of it the final model trains, how many folds and candidates the
cross-validation affords in the rest, how long each fold trains, and the smallest budget that
allows one trial and the final run.

The final model is what the user keeps, so it gets a fixed share of the budget
(:data:`FINAL_SHARE`) plus whatever the search leaves unused; the search fits into the rest:
fewer folds (down to 2) and fewer candidates (the tutorials' recipes first) when the budget is
small. When the budget affords a single candidate there is nothing to choose: unless an
estimate of its score is asked for, no cross-validation runs and the final model gets all the
time (:func:`make_plan`), and the plan names the budget a choice would need. Every schedule
is fitted to its time in whole epochs (:func:`fit_schedule`), so a one-cycle or cosine
schedule anneals to its end; the time limit given to Lightning is only a guard against a
machine that slows down.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from im2im_helpers.auto.candidates import Candidate
from im2im_helpers.auto.kinds import AutoError
from im2im_helpers.config import RunConfig

#: Least training seconds per fold for a proposed candidate (below it nothing is learned).
MIN_TRAIN_S = 10.0
#: Training steps a fold should get at least: when the budget cannot give every candidate that
#: many, fewer folds (down to 2) and then fewer candidates are tried (the first ones, the
#: tutorials' recipes first), each trained long enough to be judged.
MIN_STEPS = 100
#: Share of the time left after loading, measuring and the reserve that the final run on all
#: training pairs trains for (it also gets what the search leaves unused).
FINAL_SHARE = 0.6
#: Most patches per pair and epoch the fitting proposes.
LIMIT_SPI = 1024
#: Seconds each training run costs besides its steps: Lightning's set-up, the run folder,
#: predicting the held-out fold.
OVERHEAD_S = 4.0
#: Seconds kept for predicting the test pairs and writing the report.
RESERVE_S = 10.0
#: A training step inside Lightning (data loading, augmentation, logging) costs this many times
#: the bare step :func:`~im2im_helpers.auto.candidates.measure_step` measures.
LOADING_FACTOR = 1.75
#: The time guard of a run is this many times its planned training seconds, plus
#: :data:`GUARD_S`: it stops a run only when the machine has become much slower than measured.
GUARD_FACTOR = 1.5
GUARD_S = 10.0
#: Training steps of the short run that observes a candidate's step time inside Lightning when no
#: fold did (a single candidate, not cross-validated): its set-up costs :data:`OVERHEAD_S`.
OBSERVED_STEPS = 20
#: How the budget is counted: ``"wall"`` seconds, or ``"cpu"`` seconds of this process (all its
#: threads; a fair budget on a machine shared with other work, where wall seconds buy less).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.monotonic, "cpu": time.process_time}


def clock(name: str) -> Callable[[], float]:
    """The clock :data:`CLOCKS` calls ``name``.

    Raises
    ------
    AutoError
        For an unknown name, listing the known ones.
    """
    if name not in CLOCKS:
        raise AutoError(f"clock {name!r}: choose one of {sorted(CLOCKS)}.")
    return CLOCKS[name]


@dataclass
class Plan:
    """How the budget is spent.

    Attributes
    ----------
    budget_s : float
        The whole budget in seconds.
    folds : int
        Cross-validation folds (at most the number asked for; fewer when the budget is small).
    train_s : float
        Training seconds per fold (each candidate's epochs are fitted to it).
    final_s : float
        Planned training seconds of the final run on all training pairs (at least; it also
        gets the time the search leaves unused).
    trials : int
        Candidates the budget allows (the first ones in order): as many as can each train
        :data:`MIN_STEPS` steps per fold (at least one).
    search_deadline_s : float
        Seconds after the start by which the last trial must end (the rest is kept for the
        final run and the report).
    warm_start : bool
        The final run starts from the weights of the winner's best fold model (fine-tuning on
        all training pairs) instead of from random weights.
    clock : str
        How seconds are counted (a key of :data:`CLOCKS`): with ``"cpu"``, runs get no
        wall-clock guard (their schedules bound them).
    choice_budget_s : float or None
        When the plan affords a single candidate of several: the least budget (seconds, the
        same loading and measuring) whose plan cross-validates two of them.

    Notes
    -----
    ``folds == 0``: no cross-validation (a single candidate and no estimate asked for); the
    candidate is the winner and ``final_s`` is all the training time there is.
    """

    budget_s: float
    folds: int
    train_s: float
    final_s: float
    trials: int
    search_deadline_s: float
    warm_start: bool = True
    clock: str = "wall"
    choice_budget_s: float | None = None

    @property
    def cross_validates(self) -> bool:
        """Whether the plan runs a cross-validation (``folds > 0``)."""
        return self.folds > 0

    def to_dict(self) -> dict:
        """Plain values (for JSON)."""
        return asdict(self)

    def lines(self) -> list[str]:
        """The plan as sentences for the report."""
        choice = (f" A choice between the first two candidates needs about "
                  f"{math.ceil(self.choice_budget_s / 30) / 2:g} min."
                  if self.choice_budget_s else "")
        if not self.cross_validates:
            return [f"budget {self.budget_s / 60:.1f} min: it affords a single candidate, so "
                    "there is nothing to choose; no cross-validation, the candidate trains "
                    f"about {self.final_s:.0f} s on all training pairs.{choice}"]
        start = ("from the weights of its best fold model" if self.warm_start
                 else "from random weights")
        return [f"budget {self.budget_s / 60:.1f} min: {self.trials} candidate(s) x "
                f"{self.folds} folds of about {self.train_s:.0f} s training each, then at "
                f"least {self.final_s:.0f} s for the winner on all training pairs ({start}; it "
                "also gets the time the search leaves unused)"]


def least_budget_s() -> float:
    """Seconds below which no budget affords one trial, whatever the data and candidates: two
    folds' and the final run's overheads (:data:`OVERHEAD_S`) and the reserve
    (:data:`RESERVE_S`); :func:`make_plan` needs these plus the training itself."""
    return 3 * OVERHEAD_S + RESERVE_S


def typical_budget_s() -> float:
    """Seconds a proposed candidate needs at least (before loading and measuring): the least
    budget plus :data:`MIN_TRAIN_S` for each of two folds and twice that for the final run on
    all training pairs."""
    return least_budget_s() + 4 * MIN_TRAIN_S


def check_budget(budget_min: float, out: object = None, least: bool = True) -> float:
    """``budget_min`` (minutes) as seconds, when it is a finite positive number that could
    afford one trial (with ``least``).

    Parameters
    ----------
    budget_min : float
        The budget as given (``--budget-min``).
    out : object, optional
        The output folder, named in the message (nothing has been written into it).
    least : bool
        Refuse a budget below :func:`least_budget_s` (a new study, which :func:`make_plan`
        plans); ``False`` for a study that may already be planned (resumed or joined).

    Raises
    ------
    AutoError
        For a budget that is not a positive finite number, or one below
        :func:`least_budget_s` (too small for one trial whatever is measured later), naming
        the budget to give instead.
    """
    try:
        minutes = float(budget_min)
    except (TypeError, ValueError):
        minutes = math.nan
    if not math.isfinite(minutes) or minutes <= 0:
        raise AutoError(f"budget {budget_min!r} min: give a positive number of minutes "
                        "(--budget-min), e.g. 5.")
    typical = math.ceil(typical_budget_s() / 6) / 10
    if least and minutes * 60 < least_budget_s():
        where = f"nothing was written to {out}. " if out is not None else "nothing was written. "
        raise AutoError(
            f"budget of {minutes:g} min is too small for one trial: two cross-validation folds, "
            f"the final run and the report need more than {least_budget_s() / 60:.2f} min even "
            f"for the quickest candidate, and about {typical:.1f} min plus loading the data for "
            f"a proposed one; {where}Give --budget-min {typical:.1f} or more.")
    return minutes * 60


def fold_sizes(n: int, folds: int) -> tuple[int, int]:
    """Pairs a fold trains on at least, and pairs the final run trains on."""
    return n - math.ceil(n / folds), n


def epoch_seconds(candidate: Candidate, n_train: int, samples_per_image: int | None = None,
                  step_s: float | None = None) -> float:
    """Estimated seconds of one epoch of ``candidate`` on ``n_train`` pairs: its measured bare
    step x :data:`LOADING_FACTOR`, or ``step_s`` (a step as observed inside Lightning) when
    given."""
    p = candidate.config.data.patches
    spi = samples_per_image or p.samples_per_image
    steps = max(1, (n_train * spi) // p.batch_size)
    if step_s:
        return steps * step_s
    return steps * (candidate.step_seconds or 0.1) * LOADING_FACTOR


def least_training(candidate: Candidate, n_train: int) -> float:
    """Training seconds of a fold below which ``candidate`` is not worth running:
    :data:`MIN_TRAIN_S`, or less when its whole schedule (``train.max_epochs``) is shorter."""
    return min(MIN_TRAIN_S, candidate.config.train.max_epochs * epoch_seconds(candidate, n_train))


def wanted_training(candidate: Candidate, n_train: int) -> float:
    """Training seconds of a fold that judge ``candidate``: :data:`MIN_STEPS` steps, or its
    whole schedule when that is shorter."""
    return min(candidate.config.train.max_epochs * epoch_seconds(candidate, n_train),
               MIN_STEPS * (candidate.step_seconds or 0.1) * LOADING_FACTOR)


def make_plan(budget_s: float, elapsed_s: float, candidates: list[Candidate], n_cv: int,
              folds: int, warm_start: bool = True, clock: str = "wall",
              estimate_single: bool = False, name_choice: bool = True) -> Plan:
    """Fit the final run and the candidates' cross-validation into ``budget_s``.

    The final run gets :data:`FINAL_SHARE` of the time left; the search the rest, with as many
    folds (at most ``folds``, at least 2) as let the first candidate train :data:`MIN_STEPS`
    steps per fold, then as many candidates as can each train that long. When that is a single
    candidate, there is nothing to choose: unless ``estimate_single``, the plan has no folds and
    the final run gets all the time (folds that only estimate a score would take it from the
    model the user keeps).

    Parameters
    ----------
    budget_s : float
        Seconds for everything, from the start of the call that asked for it.
    elapsed_s : float
        Seconds already spent (loading, profiling, measuring steps).
    candidates : list of Candidate
        In the order they are tried, with measured ``step_seconds``.
    n_cv : int
        Training pairs cross-validation divides.
    folds : int
        Most folds (at least 2; fewer are used when the budget is small).
    warm_start : bool
        Record that the final run starts from the winner's best fold model.
    clock : str
        How the seconds are counted (:data:`CLOCKS`).
    estimate_single : bool
        Cross-validate a single affordable candidate all the same, for an estimate of its score
        (at the cost of the final model's training time).
    name_choice : bool
        For a single affordable candidate of several, find the budget a choice would need
        (:func:`least_choice_budget`, which plans without it).

    Raises
    ------
    AutoError
        When not even one candidate's two folds and the final run fit, naming the least budget.
    """
    folds = max(2, min(int(folds), n_cv))
    least_k = 2
    n_fold, n_all = fold_sizes(n_cv, least_k)
    ratio = n_all / n_fold
    one = min(least_training(c, n_fold) for c in candidates)
    need = elapsed_s + least_k * (one + OVERHEAD_S) + ratio * one + OVERHEAD_S + RESERVE_S
    if budget_s < need:
        minimum = math.ceil(need / 6) / 10
        raise AutoError(
            f"budget of {budget_s / 60:.2f} min is too small for one trial: {least_k} folds of "
            f"at least {one:.0f} s training plus the final run need at least {minimum:.1f} min "
            f"here ({elapsed_s:.0f} s already went into loading and measuring). Give "
            f"--budget-min {minimum:.1f} or more.")
    available = 0.95 * (budget_s - elapsed_s - RESERVE_S)  # 5 %: set-up after planning
    final_s = FINAL_SHARE * available
    search_s = available - final_s - OVERHEAD_S

    def training(trials: int, k: int) -> float:  # seconds per fold of ``trials`` candidates
        return (search_s - trials * k * OVERHEAD_S) / (trials * k)

    k = folds
    while k > least_k and training(1, k) < wanted_training(candidates[0], fold_sizes(n_cv, k)[0]):
        k -= 1
    n_fold, _ = fold_sizes(n_cv, k)
    least = [least_training(c, n_fold) for c in candidates]
    wanted = [wanted_training(c, n_fold) for c in candidates]
    trials = 1
    while trials < len(candidates) and training(trials + 1, k) >= max(
            least[trials], wanted[trials], *wanted[:trials]):
        trials += 1
    train_s = training(trials, k)
    if train_s < least[0]:  # the share left for the search is too small: take from the final
        train_s = least[0]
        final_s = available - k * (train_s + OVERHEAD_S) - OVERHEAD_S
    choice = None
    if trials == 1 and len(candidates) > 1 and name_choice:
        choice = least_choice_budget(budget_s, elapsed_s, candidates, n_cv, folds)
    if trials == 1 and not estimate_single:  # the final run, after observing its pace
        observing = OVERHEAD_S + OBSERVED_STEPS * (candidates[0].step_seconds or 0.1) * (
            LOADING_FACTOR)
        return Plan(budget_s, 0, 0.0, float(available - OVERHEAD_S - observing), 1,
                    float(elapsed_s), False, clock, choice)
    deadline = budget_s - RESERVE_S - final_s - OVERHEAD_S
    return Plan(budget_s, k, float(train_s), float(final_s), trials, float(deadline),
                bool(warm_start), clock, choice)


def least_choice_budget(budget_s: float, elapsed_s: float, candidates: list[Candidate],
                        n_cv: int, folds: int) -> float:
    """The least budget (seconds, to 1 %) above ``budget_s`` whose plan cross-validates the
    first two of ``candidates`` (with the same ``elapsed_s`` for loading and measuring)."""
    def trials(seconds: float) -> int:
        return make_plan(seconds, elapsed_s, candidates[:2], n_cv, folds,
                         estimate_single=True, name_choice=False).trials

    low, high = budget_s, 2 * budget_s
    while trials(high) < 2:
        low, high = high, 2 * high
    while high - low > 0.01 * high:
        middle = (low + high) / 2
        low, high = (middle, high) if trials(middle) < 2 else (low, middle)
    return float(high)


def fit_schedule(config: RunConfig, candidate: Candidate, seconds: float, n_train: int,
                 step_s: float | None = None, guard: bool = True) -> tuple[RunConfig, str]:
    """``config`` with epochs and patches per image fitted to ``seconds`` of training on
    ``n_train`` pairs (``step_s``: a step as observed, else the measured bare step x
    :data:`LOADING_FACTOR`), and a time guard of :data:`GUARD_FACTOR` x ``seconds`` +
    :data:`GUARD_S` (none unless ``guard``: seconds counted on another clock than the wall);
    with why. Whole epochs (at most ``train.max_epochs``) fill the time, so
    the schedule (one-cycle, cosine) runs to its end; fewer patches per epoch when one epoch
    is too long, more when whole epochs would leave time over."""
    timed = replace(candidate, config=config)
    spi = config.data.patches.samples_per_image
    epoch = epoch_seconds(timed, n_train, spi, step_s)
    if epoch > seconds:
        spi = max(1, int(spi * seconds / epoch))
        epoch = epoch_seconds(timed, n_train, spi, step_s)
    epochs = int(max(1, min(config.train.max_epochs, seconds // max(epoch, 1e-9))))
    if epochs < config.train.max_epochs:  # whole epochs leave time over: more patches per epoch
        spi = max(1, min(LIMIT_SPI, int(spi * seconds / (epochs * epoch))))
        epoch = epoch_seconds(timed, n_train, spi, step_s)
    patches = replace(config.data.patches, samples_per_image=spi)
    train = replace(config.train, max_epochs=epochs,
                    max_time_s=round(GUARD_FACTOR * seconds + GUARD_S, 1) if guard else None)
    fitted = replace(config, data=replace(config.data, patches=patches), train=train)
    step = step_s or (candidate.step_seconds or 0) * LOADING_FACTOR
    why = (f"{epochs} epoch(s) of {spi} patches per pair on {n_train} pairs: about "
           f"{epochs * epoch:.0f} s at {step:.3f} s per step "
           f"({'as observed in training' if step_s else 'measured'})")
    return fitted, why


def fit_candidate(candidate: Candidate, plan: Plan, n_cv: int) -> Candidate:
    """``candidate`` with its schedule fitted to ``plan.train_s`` per fold
    (:func:`fit_schedule`); its ``train.max_epochs`` is the upper bound. Unchanged when the
    plan has no folds."""
    if not plan.cross_validates:
        return candidate
    n_fold, _ = fold_sizes(n_cv, plan.folds)
    fitted, why = fit_schedule(candidate.config, candidate, plan.train_s, n_fold,
                               guard=plan.clock == "wall")
    return replace(candidate, config=fitted, reasons=[*candidate.reasons, f"per fold: {why}"])


def final_config(candidate: Candidate, original: RunConfig, seconds: float, n_train: int,
                 step_s: float | None = None, guard: bool = True) -> tuple[RunConfig, str]:
    """The winner's configuration for the final run: ``original`` (the candidate as proposed,
    before it was fitted to a fold) with its schedule refitted to ``seconds`` of training on
    all ``n_train`` training pairs at ``step_s`` (observed in training) — more epochs, not a
    schedule cut short; with why."""
    return fit_schedule(original, candidate, seconds, n_train, step_s, guard)
