"""Rules every tutorial notebook follows, as a function the tests (and CI) run on each notebook."""

from __future__ import annotations

import json
import re
from pathlib import Path

MAX_CELL_LINES = 30
REQUIRED_PARAMETERS = ("LEVEL", "DATASET", "SEED")
FIGURE_CALLS = ("viz.compare(", "viz.loss_curves(", "viz.browse(", "plt.show(", ".savefig(")
#: The first code cell of every tutorial, word for word: on Colab it installs the helpers (never
#: torch: Colab's own build is kept) and switches on the widget manager; elsewhere it does nothing.
COLAB_SETUP = """\
import sys

if "google.colab" in sys.modules:  # Colab only: the helpers, leaving Colab's own torch
    %pip install -q "im2im-helpers[samples,notebooks] @ git+https://github.com/im2im-project/im2im"
    from google.colab import output
    output.enable_custom_widget_manager()  # sliders"""
#: An exercise is a Markdown cell that starts with this; the next cell is its solution.
EXERCISE = "**Exercise"
#: A solution is a code cell that starts with this, tagged ``hide-cell`` (collapsed in the book).
SOLUTION = "# Solution"
SOLUTION_TAG = "hide-cell"
#: What a cell that trains (``train.fit``) must not also do, so that re-running a tuning,
#: prediction or figure cell never trains again (or meets ``RunExistsError``).
NOT_WITH_TRAINING = FIGURE_CALLS + ("viz.", ".history()", ".tune_clustering(", "predict.",
                                    "metrics.")


def problems(path: str | Path) -> list[str]:
    """Every rule ``path`` breaks, as ``"NAME: what is wrong"`` lines (empty when it is clean).

    Rules: stored without outputs or execution counts; exactly one cell tagged ``parameters``
    defining ``LEVEL``, ``DATASET``, a seed and (when it trains) ``MAX_EPOCHS``; no code cell
    over 30 lines; at least one static figure; no hard-coded ``cuda:0``; an environment report
    within the first four code cells; the Colab setup cell never installs torch and is
    :data:`COLAB_SETUP`; a cell that trains does nothing else (:data:`NOT_WITH_TRAINING`); a
    Markdown heading starts its cell; there are exercises, each followed by its solution (a code
    cell starting ``# Solution``, tagged ``hide-cell``), and every solution follows an exercise.
    """
    path = Path(path)
    try:
        cells = json.loads(path.read_text())["cells"]
    except (ValueError, KeyError) as err:
        return [f"{path.name}: not a notebook ({err})"]
    code = [c for c in cells if c.get("cell_type") == "code"]
    source = ["".join(c.get("source", "")) for c in code]
    found = []
    if any(c.get("outputs") for c in code) or any(c.get("execution_count") for c in code):
        found.append("stored with outputs or execution counts: clear them before committing")
    tagged = [s for c, s in zip(code, source) if "parameters" in c.get("metadata", {}).get(
        "tags", [])]
    if len(tagged) != 1:
        found.append(f"{len(tagged)} cells tagged 'parameters'; exactly one is needed")
    else:
        needed = REQUIRED_PARAMETERS + (("MAX_EPOCHS",) if any("train.fit(" in s for s in source)
                                        else ())
        missing = [n for n in needed if not re.search(rf"^{n}\s*=", tagged[0], re.M)]
        if missing:
            found.append(f"the parameters cell does not set {missing}")
    long = [i for i, s in enumerate(source) if len(s.splitlines()) > MAX_CELL_LINES]
    if long:
        found.append(f"code cells {long} are over {MAX_CELL_LINES} lines: move logic into "
                     "im2im_helpers, with a test")
    if not any(call in s for s in source for call in FIGURE_CALLS):
        found.append("no static figure (viz.compare/loss_curves/browse, plt.show or savefig)")
    if any("cuda:0" in s for s in source):
        found.append("hard-coded 'cuda:0': use system.accelerator() or the model's device")
    if not any("environment_report()" in s for s in source[:4]):
        found.append("no system.environment_report() in the first four code cells")
    if any("google.colab" in s and re.search(r"install[^\n]*\btorch\b", s) for s in source):
        found.append("the Colab setup cell installs torch: Colab's own torch must be kept")
    if not code or "".join(code[0].get("source", "")) != COLAB_SETUP:
        found.append("the first code cell is not the Colab setup cell (COLAB_SETUP)")
    for i, s in enumerate(source):
        trains = "train.fit(" in s and not s.startswith(SOLUTION)  # a solution stands alone
        mixed = [call for call in NOT_WITH_TRAINING if call in s] if trains else []
        if mixed:
            found.append(f"code cell {i} trains and also calls {mixed}: give training its own cell")
    found += _heading_problems(cells) + _exercise_problems(cells)
    return [f"{path.name}: {p}" for p in found]


def _heading_problems(cells: list[dict]) -> list[str]:
    """Markdown headings buried inside a cell (below its first line, outside code blocks)."""
    found = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        fenced = False
        for k, line in enumerate("".join(cell.get("source", "")).splitlines()):
            fenced ^= line.lstrip().startswith("```")
            if k and not fenced and re.match(r"#{1,6} ", line):
                found.append(f"cell {i}: the heading {line!r} does not start its cell")
    return found


def _is_solution(cell: dict) -> bool:
    return (cell.get("cell_type") == "code"
            and "".join(cell.get("source", "")).startswith(SOLUTION)
            and SOLUTION_TAG in cell.get("metadata", {}).get("tags", []))


def _exercise_problems(cells: list[dict]) -> list[str]:
    """Exercises without a solution right after them, solutions without an exercise, exercises
    still listed together in one cell, and a tutorial without exercises."""
    found = []
    text = ["".join(c.get("source", "")) for c in cells]
    exercises = [i for i, c in enumerate(cells)
                 if c.get("cell_type") == "markdown" and text[i].startswith(EXERCISE)]
    if not exercises:
        found.append(f"no exercises (Markdown cells starting {EXERCISE!r})")
    for i in exercises:
        if i + 1 >= len(cells) or not _is_solution(cells[i + 1]):
            found.append(f"the exercise in cell {i} is not followed by its solution (a code "
                         f"cell starting {SOLUTION!r}, tagged {SOLUTION_TAG!r})")
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and text[i].startswith(SOLUTION) and (
                i == 0 or i - 1 not in exercises or not _is_solution(cell)):
            found.append(f"the solution in cell {i} does not follow an exercise or is not "
                         f"tagged {SOLUTION_TAG!r}")
        if cell.get("cell_type") == "markdown" and re.search(
                r"^#+ .*Exercises", text[i], re.M) and re.search(r"^\d+\. \*\*", text[i], re.M):
            found.append(f"cell {i} lists exercises together: one exercise per cell, each "
                         "followed by its solution")
    return found
