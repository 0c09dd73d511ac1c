"""The time budget: how long each cross-validation fold trains, how many candidates fit, and
the smallest budget that allows one trial and the final run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from im2im_helpers.auto.candidates import Candidate
from im2im_helpers.auto.kinds import AutoError

#: Least training seconds per fold for a proposed candidate (below it nothing is learned).
MIN_TRAIN_S = 10.0
#: Training steps a fold should get at least: when the budget cannot give every candidate that
#: many, fewer candidates are tried (the first ones, the tutorials' recipes first), each
#: trained long enough to be judged.
MIN_STEPS = 100
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


@dataclass
class Plan:
    """How the budget is spent.

    Attributes
    ----------
    budget_s : float
        The whole budget in seconds.
    folds : int
        Cross-validation folds.
    train_s : float
        Training seconds per fold (each candidate's epochs are fitted to it).
    final_s : float
        Training seconds of the final run on all training pairs.
    trials : int
        Candidates the budget allows (the first ones in order): as many as can each train
        :data:`MIN_STEPS` steps per fold (at least one).
    search_deadline_s : float
        Seconds after the start by which the last trial must end (the rest is kept for the
        final run and the report).
    """

    budget_s: float
    folds: int
    train_s: float
    final_s: float
    trials: int
    search_deadline_s: float

    def to_dict(self) -> dict:
        """Plain values (for JSON)."""
        return asdict(self)

    def lines(self) -> list[str]:
        """The plan as sentences for the report."""
        return [f"budget {self.budget_s / 60:.1f} min: {self.trials} candidate(s) x "
                f"{self.folds} folds of about {self.train_s:.0f} s training each, then "
                f"{self.final_s:.0f} s for the winner on all training pairs"]


def fold_sizes(n: int, folds: int) -> tuple[int, int]:
    """Pairs a fold trains on at least, and pairs the final run trains on."""
    return n - math.ceil(n / folds), n


def epoch_seconds(candidate: Candidate, n_train: int, samples_per_image: int | None = None
                  ) -> float:
    """Estimated seconds of one epoch of ``candidate`` on ``n_train`` pairs."""
    p = candidate.config.data.patches
    spi = samples_per_image or p.samples_per_image
    steps = max(1, (n_train * spi) // p.batch_size)
    return steps * (candidate.step_seconds or 0.1) * LOADING_FACTOR


def least_training(candidate: Candidate, n_train: int) -> float:
    """Training seconds of a fold below which ``candidate`` is not worth running:
    :data:`MIN_TRAIN_S`, or less when its whole schedule (``train.max_epochs``) is shorter."""
    return min(MIN_TRAIN_S, candidate.config.train.max_epochs * epoch_seconds(candidate, n_train))


def make_plan(budget_s: float, elapsed_s: float, candidates: list[Candidate], n_cv: int,
              folds: int) -> Plan:
    """Fit the candidates' cross-validation and the final run into ``budget_s``.

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
        Number of folds.

    Raises
    ------
    AutoError
        When not even one candidate's folds and the final run fit, naming the least budget.
    """
    n_fold, n_all = fold_sizes(n_cv, folds)
    ratio = n_all / n_fold
    least = [least_training(c, n_fold) for c in candidates]
    one = min(least)
    need = elapsed_s + folds * (one + OVERHEAD_S) + ratio * one + OVERHEAD_S + RESERVE_S
    if budget_s < need:
        minimum = math.ceil(need / 6) / 10
        raise AutoError(
            f"budget of {budget_s / 60:.2f} min is too small for one trial: {folds} folds of at "
            f"least {one:.0f} s training plus the final run need at least {minimum:.1f} min "
            f"here ({elapsed_s:.0f} s already went into loading and measuring). Give "
            f"--budget-min {minimum:.1f} or more, or fewer folds (--folds 2).")
    available = 0.95 * (budget_s - elapsed_s - RESERVE_S)  # 5 %: set-up after planning

    def training(trials: int) -> float:  # seconds per fold when ``trials`` candidates share
        return (available - (trials * folds + 1) * OVERHEAD_S) / (trials * folds + ratio)

    wanted = [min(c.config.train.max_epochs * epoch_seconds(c, n_fold),
                  MIN_STEPS * (c.step_seconds or 0.1) * LOADING_FACTOR) for c in candidates]
    trials = 1
    while trials < len(candidates) and training(trials + 1) >= max(
            least[trials], wanted[trials], *wanted[:trials]):
        trials += 1
    train_s = max(training(trials), one)
    final_s = ratio * train_s
    deadline = budget_s - RESERVE_S - final_s - OVERHEAD_S
    return Plan(budget_s, folds, float(train_s), float(final_s), trials, float(deadline))


def fit_candidate(candidate: Candidate, plan: Plan, n_cv: int) -> Candidate:
    """``candidate`` with epochs and patches per image (fewer when one epoch is too long, more
    when whole epochs would leave time over) fitted to
    ``plan.train_s``, and a time limit of 1.25 times that plus 5 s as a guard. Its
    ``train.max_epochs`` is the upper bound."""
    n_fold, _ = fold_sizes(n_cv, plan.folds)
    cfg = candidate.config
    spi = cfg.data.patches.samples_per_image
    epoch = epoch_seconds(candidate, n_fold)
    if epoch > plan.train_s:
        spi = max(1, int(spi * plan.train_s / epoch))
        epoch = epoch_seconds(candidate, n_fold, spi)
    epochs = int(max(1, min(cfg.train.max_epochs, plan.train_s // max(epoch, 1e-9))))
    if epochs < cfg.train.max_epochs:  # whole epochs leave time over: more patches per epoch
        spi = max(1, min(LIMIT_SPI, int(spi * plan.train_s / (epochs * epoch))))
        epoch = epoch_seconds(candidate, n_fold, spi)
    patches = replace(cfg.data.patches, samples_per_image=spi)
    train = replace(cfg.train, max_epochs=epochs, max_time_s=round(1.25 * plan.train_s + 5, 1))
    fitted = replace(cfg, data=replace(cfg.data, patches=patches), train=train)
    reason = (f"{epochs} epoch(s) of {spi} patches per pair: about {epochs * epoch:.0f} s per "
              f"fold at the measured {candidate.step_seconds or 0:.3f} s per step")
    return replace(candidate, config=fitted, reasons=[*candidate.reasons, reason])


def final_config(candidate: Candidate, plan: Plan):
    """The winner's configuration for the final run: the same epochs on all training pairs,
    with the time guard scaled to :attr:`Plan.final_s`."""
    cfg = candidate.config
    return replace(cfg, train=replace(cfg.train, max_time_s=round(1.25 * plan.final_s + 5, 1)))
