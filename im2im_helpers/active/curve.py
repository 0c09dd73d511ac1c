"""The learning curve: held-out Dice against the number of annotated crops, for uncertainty
sampling and random sampling, over several seeds — and how many annotations uncertainty
sampling saves to reach random sampling's final score (computed from the curve, or reported as
not reached)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from im2im_helpers import io
from im2im_helpers.active.annotator import SimulatedAnnotator
from im2im_helpers.active.loop import STRATEGIES, ActiveLoop, LoopConfig
from im2im_helpers.data.pairs import Pair
from im2im_helpers.viz.figures import finish_figure

#: The file :func:`learning_curve` writes into its folder.
CURVE_FILE = "curve.json"


@dataclass
class Curve:
    """A measured learning curve.

    Attributes
    ----------
    rows : list of dict
        One per strategy, seed and round: ``strategy``, ``seed``, ``round``, ``n_annotated``,
        ``dice``, ``seconds`` (wall time of the round: annotation, training, evaluation).
    summary : dict
        ``{strategy: [{"n_annotated", "mean", "std", "seeds"}, ...]}`` over seeds.
    savings : dict
        See :func:`savings`.
    config : dict
        The loop settings (without strategy and seed) and the annotator.
    """

    rows: list[dict]
    summary: dict[str, list[dict]]
    savings: dict
    config: dict

    def to_dict(self) -> dict:
        """JSON-ready values."""
        return {"rows": self.rows, "summary": self.summary, "savings": self.savings,
                "config": self.config}

    def table(self) -> str:
        """The summary as a plain-text table: one row per number of annotated crops."""
        strategies = list(self.summary)
        counts = sorted({p["n_annotated"] for s in strategies for p in self.summary[s]})
        lines = ["annotated  " + "  ".join(f"{s:>22}" for s in strategies)]
        for n in counts:
            cells = []
            for s in strategies:
                point = next((p for p in self.summary[s] if p["n_annotated"] == n), None)
                cells.append(f"{point['mean']:.3f} ± {point['std']:.3f} (n={point['seeds']})"
                             if point else "")
            lines.append(f"{n:>9}  " + "  ".join(f"{c:>22}" for c in cells))
        return "\n".join(lines)


def summarise(rows: Sequence[Mapping]) -> dict[str, list[dict]]:
    """Mean and standard deviation (over seeds) of Dice per strategy and number of annotated
    crops."""
    summary: dict[str, list[dict]] = {}
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        points = []
        for n in sorted({r["n_annotated"] for r in rows if r["strategy"] == strategy}):
            values = [r["dice"] for r in rows if r["strategy"] == strategy
                      and r["n_annotated"] == n]
            points.append({"n_annotated": int(n), "mean": float(np.mean(values)),
                           "std": float(np.std(values)), "seeds": len(values)})
        summary[strategy] = points
    return summary


def crops(n: int) -> str:
    """``"1 annotated crop"``, ``"3 annotated crops"``."""
    return f"{n} annotated crop{'' if n == 1 else 's'}"


def savings(summary: Mapping[str, Sequence[Mapping]], better: str = "uncertainty",
            baseline: str = "random") -> dict:
    """How many annotated crops ``better`` needs to reach ``baseline``'s final mean score.

    Returns
    -------
    dict
        ``target`` (the baseline's mean at its largest number of annotated crops),
        ``baseline_annotations`` (that number), ``reached_at`` (the smallest number of
        annotated crops at which ``better``'s mean is at least ``target``, or ``None``),
        ``saved`` (``baseline_annotations - reached_at``, or ``None``), ``saved_fraction``,
        and ``statement``: the result in one sentence. When ``baseline`` ends no higher than
        it started (its first point), annotating did not help it and there is nothing to
        save: ``saved`` is ``None`` and the statement says so.
    """
    if better not in summary or baseline not in summary:
        raise ValueError(f"savings: the curve has {sorted(summary)}; both {better!r} and "
                         f"{baseline!r} are needed.")
    final = max(summary[baseline], key=lambda p: p["n_annotated"])
    target, n_base = float(final["mean"]), int(final["n_annotated"])
    reached = next((int(p["n_annotated"]) for p in sorted(summary[better],
                                                           key=lambda p: p["n_annotated"])
                    if p["mean"] >= target), None)
    start = min(summary[baseline], key=lambda p: p["n_annotated"])
    no_gain = n_base > int(start["n_annotated"]) and target <= float(start["mean"])
    saved = None if reached is None or no_gain else n_base - reached
    if no_gain:
        statement = (f"{baseline} sampling's final mean Dice {target:.3f} ({crops(n_base)}) is "
                     f"no higher than at the start ({float(start['mean']):.3f}, "
                     f"{crops(int(start['n_annotated']))}): annotating did not help it, so "
                     "there is nothing to save.")
    elif reached is None:
        statement = (f"{better} sampling did not reach {baseline} sampling's final mean Dice "
                     f"{target:.3f} ({crops(n_base)}) within "
                     f"{crops(max(p['n_annotated'] for p in summary[better]))}.")
    elif saved > 0:
        statement = (f"{better} sampling reached {baseline} sampling's final mean Dice "
                     f"{target:.3f} with {crops(reached)} instead of {n_base}: "
                     f"{saved} fewer ({saved / n_base:.0%}).")
    else:
        statement = (f"{better} sampling reached {baseline} sampling's final mean Dice "
                     f"{target:.3f} only at {crops(reached)} ({baseline}: {n_base}): "
                     "no annotations saved.")
    return {"better": better, "baseline": baseline, "target": target,
            "baseline_annotations": n_base, "reached_at": reached, "saved": saved,
            "saved_fraction": None if saved is None else saved / n_base,
            "statement": statement}


def learning_curve(folder: str | os.PathLike, images: Mapping[str, np.ndarray],
                   truths: Mapping[str, np.ndarray], held_out: Sequence[Pair],
                   config: LoopConfig | None = None, rounds: int = 3,
                   seeds: Sequence[int] = (0, 1, 2),
                   strategies: Sequence[str] = STRATEGIES,
                   annotator: SimulatedAnnotator | None = None,
                   initial_annotator: SimulatedAnnotator | None = None,
                   path: str | os.PathLike | None = None) -> Curve:
    """Run the loop unattended for every strategy and seed and measure held-out Dice.

    Each (strategy, seed) is its own loop folder ``<folder>/<strategy>-seed<seed>``; a
    finished one is read back, an interrupted one resumed. For one seed every strategy starts
    from the same crops (``config.initial`` of them, chosen by the seed) annotated by the same
    annotator, so round 0 is the same model; then each round the loop proposes
    ``config.per_round`` crops, the annotator corrects the model's masks of them
    (:meth:`ActiveLoop.annotate`), and the next round fine-tunes the previous weights.

    Parameters
    ----------
    folder : path-like
        Where the loops, ``curve.json`` and the figure go.
    images : mapping
        The pool: image name -> ``(C, Y, X)`` input (normalised).
    truths : mapping
        Image name -> the ground truth of that image (mask or labels, ``(Y, X)`` or
        ``(1, Y, X)``): what the simulated annotator corrects towards. It is never used for
        training except through the annotator's budgeted edits.
    held_out : sequence of Pair
        Images that are never in the pool: Dice is measured on them.
    config : LoopConfig, optional
        Loop settings; ``strategy`` and ``seed`` are set per loop.
    rounds : int
        Trained rounds per loop (round ``r`` has ``initial + r * per_round`` annotated crops).
    seeds : sequence of int
        At least two, so the spread is seen.
    strategies : sequence of str
        Sampling strategies to compare (default uncertainty and random).
    annotator : SimulatedAnnotator, optional
        Corrects the chosen crops; default 5 edits per crop.
    initial_annotator : SimulatedAnnotator, optional
        Annotates the initial crops (from an empty mask); default a complete annotation
        (``budget=None``), as a person annotates the first crop.
    path : path-like, optional
        The figure (default ``<folder>/learning_curve.png``).

    Returns
    -------
    Curve
        Also written to ``<folder>/curve.json``.
    """
    if len(seeds) < 2:
        raise ValueError(f"seeds={list(seeds)}: give at least two seeds; one run says nothing "
                         "about the spread.")
    if int(rounds) < 1:
        raise ValueError(f"rounds={rounds}: at least one round.")
    folder = Path(folder)
    config = config or LoopConfig()
    annotator = annotator or SimulatedAnnotator(5)
    first = initial_annotator or SimulatedAnnotator(None)
    truths = {str(k): np.asarray(v) for k, v in truths.items()}
    rows = []
    for strategy in strategies:
        for seed in seeds:
            loop = ActiveLoop(folder / f"{strategy}-seed{seed}", images,
                              replace(config, strategy=strategy, seed=int(seed)))

            def truth(crop_id: str, loop: ActiveLoop = loop) -> np.ndarray:
                crop = loop.pool.crop(crop_id)
                return crop.cut(truths[crop.image])

            for r in range(int(rounds)):
                started = time.perf_counter()
                record = loop.record(r)
                if not record.get("evaluation"):
                    if r == 0 and not loop.annotated():
                        loop.annotate(loop.initial_crops(), first, truth)
                    elif r > 0 and loop.trained == r and not loop.record(r - 1).get("annotated"):
                        loop.annotate(loop.propose(), annotator, truth)
                    if loop.trained == r:
                        loop.train()
                    loop.evaluate(held_out)
                    loop.update(r, seconds=time.perf_counter() - started)
                    record = loop.record(r)
                rows.append({"strategy": strategy, "seed": int(seed), "round": r,
                             "n_annotated": int(record["evaluation"]["n_annotated"]),
                             "dice": float(record["evaluation"]["dice"]),
                             "seconds": float(record.get("seconds", 0.0))})
    summary = summarise(rows)
    saved = savings(summary) if {"uncertainty", "random"} <= set(strategies) else {}
    settings = {k: v for k, v in vars(config).items() if k not in ("strategy", "seed")}
    curve = Curve(rows, summary, saved, {**settings, "rounds": int(rounds),
                                         "seeds": [int(s) for s in seeds],
                                         "annotator": repr(annotator),
                                         "initial_annotator": repr(first)})
    io.write_text(folder / CURVE_FILE, json.dumps(curve.to_dict(), indent=1) + "\n")
    plot_curve(curve, folder / "learning_curve.png" if path is None else path)
    return curve


def plot_curve(curve: Curve, path: str | os.PathLike | None = None,
               title: str | None = "Held-out Dice against annotated crops") -> plt.Figure:
    """Mean Dice ± standard deviation over seeds per strategy (each seed a thin line), the
    baseline's final score dashed, and the computed saving as the caption."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    colours = {"uncertainty": "tab:orange", "random": "tab:blue"}
    for strategy, points in curve.summary.items():
        colour = colours.get(strategy)
        for seed in sorted({r["seed"] for r in curve.rows if r["strategy"] == strategy}):
            mine = sorted((r["n_annotated"], r["dice"]) for r in curve.rows
                          if r["strategy"] == strategy and r["seed"] == seed)
            ax.plot(*zip(*mine), color=colour, alpha=0.25, linewidth=0.8)
        n = [p["n_annotated"] for p in points]
        mean = np.array([p["mean"] for p in points])
        std = np.array([p["std"] for p in points])
        ax.plot(n, mean, "o-", color=colour, label=f"{strategy} sampling")
        ax.fill_between(n, mean - std, mean + std, color=colour, alpha=0.2)
    if curve.savings:
        ax.axhline(curve.savings["target"], color="grey", linestyle="--", linewidth=0.8)
        fig.text(0.5, -0.02, curve.savings["statement"], ha="center", va="top", fontsize=8,
                 wrap=True)
    ax.set_xlabel("annotated crops")
    ax.set_ylabel("held-out Dice")
    ax.legend()
    return finish_figure(fig, path, title, ax)
