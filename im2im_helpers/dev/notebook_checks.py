"""Rules every tutorial notebook follows, as a function the tests (and CI) run on each notebook."""

from __future__ import annotations

import json
import re
from pathlib import Path

MAX_CELL_LINES = 30
REQUIRED_PARAMETERS = ("LEVEL", "DATASET", "SEED")
FIGURE_CALLS = ("viz.compare(", "viz.loss_curves(", "viz.browse(", "plt.show(", ".savefig(")


def problems(path: str | Path) -> list[str]:
    """Every rule ``path`` breaks, as ``"NAME: what is wrong"`` lines (empty when it is clean).

    Rules: stored without outputs or execution counts; exactly one cell tagged ``parameters``
    defining ``LEVEL``, ``DATASET``, a seed and (when it trains) ``MAX_EPOCHS``; no code cell
    over 30 lines; at least one static figure; no hard-coded ``cuda:0``; an environment report
    within the first four code cells; the Colab setup cell never installs torch.
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
    return [f"{path.name}: {p}" for p in found]
