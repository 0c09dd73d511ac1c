"""``run``: look at the data, propose candidates, cross-validate them within a time budget,
retrain the winner on all training pairs, test it once on the held-out pairs, write a report."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import torch

from im2im_helpers import config, data, io, train
from im2im_helpers.auto import budget, report
from im2im_helpers.auto.candidates import Candidate, measure_step, propose
from im2im_helpers.auto.kinds import AutoError, AutoTask, get_task
from im2im_helpers.auto.profile import profile_data, profile_device, target_kind
from im2im_helpers.auto.search import (
    HEARTBEAT_S,
    Folds,
    Search,
    best_candidate,
    candidate_results,
    default_storage,
    fold_weights,
    make_folds,
    observe_step,
    open_study,
    quiet,
    scores,
)
from im2im_helpers.config import RunConfig
from im2im_helpers.data import LoadConfig, Pairs, SplitConfig
from im2im_helpers.data.splits import make_split

#: The file that marks a folder as an automatic configuration's output (and records its setup).
MARKER = "auto.json"
#: Everything :func:`run` writes into its output folder.
ENTRIES = frozenset({MARKER, "study.db", "split.json", "folds", "trials", "final", "best.yaml",
                     "auto_report.md", "auto_report.json"})
#: The state of the only candidate a budget affords, not cross-validated.
SINGLE = "chosen without cross-validation (the only candidate the budget affords)"
#: Version of the setup record kept in the study.
SETUP_VERSION = 2


@dataclass
class AutoResult:
    """What :func:`run` found.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    best : str or None
        Name of the chosen candidate (``None`` when no trial finished).
    config : RunConfig or None
        Its configuration as retrained (saved as ``out/best.yaml``).
    cv : dict
        Per candidate: ``state``, ``fold_scores``, ``mean``, ``std`` (see
        :func:`~im2im_helpers.auto.search.candidate_results`).
    metric : str
        The metric that chose (higher is better).
    test_score : float or None
        The winner's ``metric`` on the held-out test pairs.
    test_scores : dict
        Every metric of the task on the test pairs (means).
    run : pathlib.Path or None
        The winner's run folder (``out/final``), trained on all training pairs.
    report : pathlib.Path
        ``out/auto_report.md`` (``auto_report.json`` beside it).
    seconds : float
        Seconds of this call on the budget's clock (wall or CPU: ``clock`` of :func:`run`).
    """

    out: Path
    best: str | None
    config: RunConfig | None
    cv: dict
    metric: str
    test_score: float | None
    test_scores: dict
    run: Path | None
    report: Path
    seconds: float


def source_name(source: str | os.PathLike) -> str:
    """The data source as recorded: a folder's absolute path, else the name as given."""
    return str(Path(source).resolve()) if Path(source).is_dir() else str(source)


def load_pairs(source: str | os.PathLike, task: AutoTask) -> tuple[Pairs, LoadConfig, list]:
    """The pairs of ``source`` as ``task`` learns them, with the ``data.load`` settings and
    the transforms that make them (instance labels become foreground masks for semantic
    segmentation).

    Raises
    ------
    AutoError
        When the targets do not suit the task (continuous targets for segmentation, several
        target channels).
    """
    if Path(source).expanduser().is_file():
        raise AutoError(f"{source}: is a file; give the folder of X_IM/X_GT pairs that holds it "
                        f"({Path(source).expanduser().parent}) or a dataset name "
                        "(python -m im2im_helpers data list).")
    load = LoadConfig(normalize_target=not task.segmentation)
    pairs = data.load(source, load)
    if not len(pairs):
        raise AutoError(f"{source}: holds no pairs; give a folder of X_IM/X_GT files or a "
                        "dataset name (python -m im2im_helpers data list).")
    transforms: list = []
    if task.segmentation:
        kind = target_kind([p.target for p in pairs])
        if kind == "continuous":
            raise AutoError(f"{source}: the targets hold continuous values, not masks or label "
                            "images; semantic segmentation needs 0/1 masks (or integer labels, "
                            "turned into foreground). Use --task labelfree for image targets.")
        if kind == "labels":
            pairs = data.foreground(pairs)
            transforms = [{"kind": "foreground"}]
        if pairs[0].target.shape[0] != 1:
            raise AutoError(f"{source}: targets have {pairs[0].target.shape[0]} channels; "
                            "semantic segmentation here takes one mask channel.")
    return pairs, load, transforms


def check_out(out: Path, overwrite: bool) -> bool:
    """Whether ``out`` may take our outputs, without writing or deleting anything; returns
    whether it holds an automatic configuration of ours (:data:`MARKER`).

    Raises
    ------
    AutoError
        If ``out`` is a file, holds other files (unless ``overwrite``), or holds files that
        have the names of our outputs without being ours.
    """
    if out.exists() and not out.is_dir():
        raise AutoError(f"{out}: is a file; give a folder for the output (--out).")
    if not out.is_dir() or not any(out.iterdir()):
        return False
    if (out / MARKER).is_file():
        return True
    if not overwrite:
        names = sorted(p.name for p in out.iterdir())[:5]
        raise AutoError(f"{out}: holds other files ({names}) and no {MARKER} of an automatic "
                        "configuration; nothing was changed. Choose a new or empty folder, or "
                        "pass --overwrite to write beside those files.")
    clash = sorted(p.name for p in out.iterdir() if p.name in ENTRIES)
    if clash:
        raise AutoError(f"{out}: {clash} are not ours but have the names of our outputs; "
                        "nothing was changed. Choose a new or empty folder.")
    return False


def prepare_out(out: Path, overwrite: bool, storage_url: str | None, study_name: str) -> bool:
    """Make ``out`` ready; returns whether it already holds a search of ours (to resume).

    A folder holding other files is refused unless ``overwrite``; then ours are written beside
    them (a name of ours taken by another file is an error): see :func:`check_out`.
    ``overwrite`` on our own folder deletes only our entries (and the study at
    ``storage_url``); the folder itself stays."""
    ours = check_out(out, overwrite)
    if not ours:
        out.mkdir(parents=True, exist_ok=True)
        return False
    if not overwrite:
        return True
    for entry in out.iterdir():
        if entry.name in ENTRIES:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    if storage_url is not None:
        try:
            optuna.delete_study(study_name=study_name, storage=storage_url)
        except KeyError:
            pass
    return False


def check_folds(n: int, folds: int, source: str) -> int:
    """The number of folds for ``n`` cross-validation pairs (at most ``n``)."""
    if int(folds) < 2:
        raise AutoError(f"folds={folds}: cross-validation needs at least 2 folds.")
    if n < 2:
        raise AutoError(f"{source}: only {n} pair(s) left for training after the test split; "
                        "cross-validation needs at least 2. Add pairs, hold out fewer for "
                        "testing (--test), or cut images in two (data.halves).")
    return min(int(folds), n)


def new_setup(source: str, task: AutoTask, pairs: Pairs, load: LoadConfig, transforms: list,
              out: Path, *, test, shuffle: bool, seed: int, folds: int,
              candidates: Sequence[Candidate] | None, budget_s: float, start: float,
              log: Callable[[str], None], warm_start: bool = True, clock: str = "wall",
              estimate_single: bool = False) -> dict:
    """Split, profile, propose, measure and plan: the record every process of the study uses
    (the candidates as proposed and as fitted to a fold, the folds the plan affords)."""
    try:
        split = data.split(pairs, test=test, val=0, seed=seed, shuffle=shuffle,
                           path=out / "split.json")
    except ValueError as err:  # test pairs that are not there, or that leave none to train on
        raise AutoError(f"{source}: cannot hold out the test pairs (--test {test!r}): {err} "
                        "Give a fraction such as 0.2, a count, or names of pairs in the data."
                        ) from err
    if not len(split.test):
        raise AutoError(f"{source}: no pair is held out for testing (test={test!r}); hold out "
                        "at least one (--test 1, or a fraction such as 0.2).")
    k = check_folds(len(split.train), folds, source)
    profile, device = profile_data(split.train), profile_device()
    for line in [*profile.lines(), f"device: {device.line()}"]:
        log(line)
    n_fold, _ = budget.fold_sizes(len(split.train), k)
    proposed = list(candidates) if candidates is not None else propose(
        profile, device, task, source, load, transforms, n_fold, seed)
    names = [c.name for c in proposed]
    if len(set(names)) != len(names):
        raise AutoError(f"candidates {names}: each needs its own name.")
    now = budget.clock(clock)
    measured = [c if c.step_seconds else replace(c, step_seconds=measure_step(c, clock=now))
                for c in proposed]
    plan = budget.make_plan(budget_s, now() - start, measured, len(split.train), k,
                            warm_start=warm_start, clock=clock, estimate_single=estimate_single)
    held_out = make_folds(split.train.names, plan.folds, seed) if plan.cross_validates else []
    fitted = [budget.fit_candidate(c, plan, len(split.train)) for c in measured]
    for line in plan.lines():
        log(line)
    return {"version": SETUP_VERSION, "source": source, "task": task.name, "seed": seed,
            "test": split.test.names, "folds": held_out,
            "candidates": [c.to_dict() for c in fitted],
            "proposed": [c.to_dict() for c in measured], "plan": plan.to_dict(),
            "profile": profile.to_dict(), "device": device.to_dict()}


def run(data_source: str | os.PathLike, task: str, budget_min: float, out: str | os.PathLike, *,
        storage: str | None = None, study_name: str = "auto", folds: int = 3, test=None,
        shuffle: bool = True, seed: int = 0, candidates: Sequence[Candidate] | None = None,
        max_trials: int | None = None, retrain: bool = True, overwrite: bool = False,
        heartbeat_s: int = HEARTBEAT_S, warm_start: bool = True, tta: bool = True,
        clock: str = "wall", estimate_single: bool = False,
        log: Callable[[str], None] | None = print, progress: bool = False) -> AutoResult:
    """Configure a supervised network automatically by cross-validation within a time budget.

    Parameters
    ----------
    data_source : str or path-like
        What :func:`im2im_helpers.data.load` takes: a sample or registry dataset name
        (``"ndev-labelfree"``) or a folder of ``X_IM``/``X_GT`` pairs.
    task : str
        ``"labelfree"``, ``"denoising"`` or ``"semantic"`` (see
        :data:`~im2im_helpers.auto.kinds.AUTO_TASKS`).
    budget_min : float
        Minutes for everything: profiling, cross-validation, the final run and the report.
    out : path-like
        Output folder: ``study.db``, ``split.json``, ``folds/``, ``trials/``, ``final/`` (the
        winner's run), ``best.yaml``, ``auto_report.md``/``.json``. Run again with the same
        folder to resume a killed search.
    storage : str, optional
        Optuna storage URL of the study (default ``sqlite:///OUT/study.db``); other processes
        join the search through the same URL.
    study_name : str
        Name of the study in the storage.
    folds : int
        Most cross-validation folds (at most the number of training pairs; fewer, down to 2,
        when the budget is small: see :func:`~im2im_helpers.auto.budget.make_plan`).
    test : float, int, list of str or None
        Pairs held out for the final test (as :func:`im2im_helpers.data.split` takes it; by
        default the dataset's policy or 20 %). Cross-validation never sees them.
    shuffle : bool
        Shuffle before holding out test pairs (``False``: the last pairs are the test set,
        for a time-lapse).
    seed : int
        Seed of the test split, the folds, weights and patches.
    candidates : sequence of Candidate, optional
        Candidates to evaluate instead of the proposed ones.
    max_trials : int, optional
        Trials this process runs at most (others may run the rest).
    retrain : bool
        Retrain the winner and test it once every candidate is done (``False``: only join the
        search, e.g. as a second worker).
    overwrite : bool
        Start again in an output folder of ours (deleting only our files and study), or write
        beside the files of a folder that is not ours.
    heartbeat_s : int
        Seconds between a running trial's heartbeats; a trial silent for three beats is taken
        as killed and its candidate tried again.
    warm_start : bool
        Start the final run from the weights of the winner's best fold model (fine-tuned on
        all training pairs with a fresh schedule) instead of from random weights.
    tta : bool
        Score the test pairs with test-time augmentation (predictions averaged over flips, as
        the tutorials' test predictions of a segmentation); cross-validation scores without.
    clock : str
        How the budget is counted: ``"wall"`` seconds, or ``"cpu"`` seconds of this process
        (:data:`~im2im_helpers.auto.budget.CLOCKS`; on a machine shared with other work the
        same CPU budget takes longer on the wall). A joining process uses the study's clock.
    estimate_single : bool
        Cross-validate even when the budget affords a single candidate, for an estimate of its
        score (the folds' time is taken from the final model). By default a single affordable
        candidate is not cross-validated: there is nothing to choose, and the final model
        trains for the whole budget (the report names the budget a choice would need). Always
        on for a search-only process (``retrain=False``) and for a study in a ``storage`` given
        by URL: other processes may join it, and their trials need the folds.
    log : callable or None
        Called with each line of progress (``None``: silent).
    progress : bool
        Show the final run's progress bar.

    Returns
    -------
    AutoResult

    Raises
    ------
    AutoError
        Unknown task, a budget too small for one trial (naming the least one), an output
        folder that is not ours, a study made for other data.
    im2im_helpers.data.pairs.PairError, FileNotFoundError
        Data that cannot be loaded (an empty or mixed folder, a target whose shape differs
        from its input's), naming the file.

    Notes
    -----
    Bad input (the output folder, the budget, the folds, the data) is refused before anything
    is written into ``out`` or deleted from it, ``overwrite`` included.
    """
    now = budget.clock(clock)
    start = now()
    say = log or (lambda line: None)
    auto_task = get_task(task)
    out = Path(out).expanduser()
    if Path(data_source).expanduser().is_dir():  # "~/data" typed in a notebook
        data_source = Path(data_source).expanduser()
    # bad input is refused before anything is written or deleted: the output folder (read
    # only), the budget (when this call plans a new study), the folds, then the data
    ours = check_out(out, overwrite)
    # a new study (planned by this call) needs the least budget; a study that may already be
    # planned (resumed, or joined through --storage) takes any positive budget
    new_study = storage is None and (overwrite or not ours)
    budget_s = budget.check_budget(budget_min, out, least=new_study)
    if int(folds) < 2:
        raise AutoError(f"folds={folds}: cross-validation needs at least 2 folds (--folds 2 "
                        "or more); nothing was written.")
    pairs, load, transforms = load_pairs(data_source, auto_task)
    resumed = prepare_out(out, overwrite, storage, study_name)
    url = storage or default_storage(out)
    source = source_name(data_source)
    if not resumed:  # marks the folder as ours before anything else is written into it
        io.write_text(out / MARKER, json.dumps({"storage": url, "study": study_name,
                                                "source": source, "task": auto_task.name},
                                               indent=1) + "\n")
    study = open_study(url, study_name, seed, heartbeat_s)
    setup = study.user_attrs.get("setup")
    if setup is None:
        fresh = not (out / "split.json").exists()
        try:
            setup = new_setup(source, auto_task, pairs, load, transforms, out, test=test,
                              shuffle=shuffle, seed=seed, folds=folds, candidates=candidates,
                              budget_s=budget_s, start=start, log=say, warm_start=warm_start,
                              clock=clock, estimate_single=(
                                  estimate_single or not retrain or storage is not None))
        except AutoError as err:
            if fresh:  # a later call with other settings splits again
                (out / "split.json").unlink(missing_ok=True)
            raise AutoError(f"{err} Only {MARKER} and an empty study were written for "
                            f"{out}; run again with the same --out once fixed.") from err
        study.set_user_attr("setup", setup)
        setup = study.user_attrs["setup"]  # another process may have written first
        own = True
    else:
        own = False
        if setup.get("source") != source or setup.get("task") != auto_task.name:
            raise AutoError(f"study {study_name!r} at {url} was made for {setup.get('task')} on "
                            f"{setup.get('source')}, not {auto_task.name} on {source}; give the "
                            "same data and task, or another --study-name / --out.")
        say(("resuming" if resumed else "joining") + f" study {study_name!r} at {url}")
    io.write_text(out / MARKER, json.dumps({"storage": url, "study": study_name, **setup},
                                           indent=1, default=str) + "\n")
    split = test_split(pairs, out / "split.json", setup)
    plan = budget.Plan(**setup["plan"])
    if plan.clock != clock:  # a process joining the study counts as the study does
        now = budget.clock(plan.clock)
        start = now()
    chosen = [Candidate.from_dict(c) for c in setup["candidates"]]
    if plan.cross_validates:
        search = Search(study, {c.name: c for c in chosen}, split.train,
                        Folds(setup["folds"], out / "folds", int(setup["seed"])), auto_task,
                        out / "trials", say, clock=now)
        if own:
            deadline = start + plan.search_deadline_s
        else:
            keep = (budget.RESERVE_S + plan.final_s + budget.OVERHEAD_S) if retrain else 0.0
            deadline = start + budget_s - keep
        search.run(deadline, plan.train_s, max_trials, [c.name for c in chosen][:plan.trials]
                   if own else None, first=own)
    results = candidate_results(study, [c.name for c in chosen])
    winner = best_candidate(results)
    if not plan.cross_validates:  # a single affordable candidate: nothing to choose
        winner = chosen[0].name
        results[winner]["state"] = SINGLE
        if retrain:  # the final run's schedule is fitted to the pace observed in Lightning
            with quiet():
                results[winner]["step_s"] = observe_step(chosen[0], split,
                                                         out / "trials" / "step", clock=now)
    content = {"source": source, "task": auto_task.name, "metric": auto_task.metric,
               "storage": url, "study": study_name, "setup": setup, "cv": results,
               "best": winner, "test": None, "seconds": None}
    final_cfg, run_path, test_scores = None, None, {}
    pending = any(r["state"] in ("running",) for r in results.values())
    if winner is not None and retrain and not pending:
        proposed = {c["name"]: c for c in setup.get("proposed", setup["candidates"])}
        best = next(c for c in chosen if c.name == winner)
        seconds = final_seconds(plan, budget_s - (now() - start))
        final_cfg, why = budget.final_config(
            best, Candidate.from_dict(proposed[winner]).config, seconds, len(split.train),
            results[winner].get("step_s"), guard=plan.clock == "wall")
        final_cfg = replace(final_cfg, data=replace(final_cfg.data,
                                                    split=SplitConfig(**split.config)))
        task = config.build_task(final_cfg)
        weights = fold_weights(out / "trials", results[winner]) if plan.warm_start else None
        if weights is not None:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            task.load_state_dict(state)
        start_from = f"from {weights.relative_to(out)}" if weights else "from random weights"
        say(f"retraining {winner} on all {len(split.train)} training pairs {start_from}: {why}")
        dm = data.patches(split, final_cfg.data.patches)
        with quiet():
            fitted = train.fit(task, dm, out / "final", final_cfg.train, overwrite=True,
                               progress=progress)
        run_path = fitted.path
        per_pair = scores(fitted.model, split.test, auto_task, final_cfg.data.patches.patch,
                          auto_task.metrics, tta=tta)
        test_scores = {m: float(sum(v) / len(v)) for m, v in per_pair.items()}
        config.save(final_cfg, out / "best.yaml", overwrite=True)
        content["final"] = {"schedule": why, "start": start_from, "seconds": seconds,
                            "steps": int(fitted.trainer.global_step)}
        content["test"] = {"pairs": split.test.names, "scores": test_scores,
                           "per_pair": per_pair, "tta": tta}
        say(f"test {auto_task.metric} of {winner}: {test_scores[auto_task.metric]:.4f}")
    content["seconds"] = now() - start
    content["clock"] = plan.clock
    path = report.write(out, content)
    if winner is None and retrain and not pending:
        raise AutoError(f"no candidate finished its cross-validation (see {path}); give a larger "
                        "budget (--budget-min) or look at the errors in the report.")
    return AutoResult(out, winner, final_cfg, results, auto_task.metric,
                      test_scores.get(auto_task.metric), test_scores, run_path, path,
                      content["seconds"])



def final_seconds(plan: budget.Plan, left_s: float) -> float:
    """Training seconds of the final run when ``left_s`` seconds of the budget are left: all of
    them but the reserve and one run's overhead (the plan's share plus what the search left
    unused), at least the planned :attr:`~im2im_helpers.auto.budget.Plan.final_s` x 0.5 (a
    search that overran its deadline does not starve the final model)."""
    return max(0.5 * plan.final_s, left_s - budget.RESERVE_S - budget.OVERHEAD_S)


def test_split(pairs: Pairs, path: Path, setup: dict):
    """The split of the study's ``setup`` (training pairs for cross-validation, the test
    pairs): read back from ``path`` with the parameters it was made with, or written there
    with the study's test pairs by name (a process joining from another folder)."""
    if path.is_file():
        try:
            saved = json.loads(path.read_text())["parameters"]
            keys = ("test", "val", "seed", "shuffle")
            split = make_split(pairs, path, **{k: saved[k] for k in keys})
        except (KeyError, TypeError, ValueError) as err:
            raise AutoError(f"{path}: not the split file of this search ({err}); delete it or "
                            "choose another --out.") from err
    else:
        split = make_split(pairs, path, test=list(setup["test"]), val=0,
                           seed=int(setup["seed"]), shuffle=False)
    if sorted(split.test.names) != sorted(setup["test"]):
        raise AutoError(f"{path}: holds other test pairs than the study; delete the file or "
                        "choose another --out.")
    return split
