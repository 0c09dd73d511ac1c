"""The report of an automatic configuration: ``auto_report.md`` for people and
``auto_report.json`` with the same content for programs, written atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from im2im_helpers import io
from im2im_helpers.auto.budget import Plan
from im2im_helpers.auto.profile import DataProfile, DeviceProfile

MARKDOWN = "auto_report.md"
JSON = "auto_report.json"


def number(value, digits: int = 4) -> str:
    """``value`` rounded for a table, ``-`` when missing or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def cv_table(content: dict) -> list[str]:
    """The cross-validation table: one row per candidate (mean ± std over folds, the folds,
    its state), the winner marked."""
    metric = content["metric"]
    rows = [f"| candidate | CV {metric} (mean ± std) | folds | state | trial | seconds |",
            "|---|---|---|---|---|---|"]
    for name, r in content["cv"].items():
        mark = " **(chosen)**" if name == content.get("best") else ""
        state = r["state"] + (" (stopped by the pruner: worse than the median)"
                              if r["state"] == "pruned" else "")
        if "error" in r:
            state += f": {r['error'][:200]}"
        folds = ", ".join(number(v, 3) for v in r["fold_scores"]) or "-"
        mean = (f"{number(r['mean'])} ± {number(r['std'])}" if r["mean"] is not None else "-")
        seconds = number(r.get("seconds"), 0) if r.get("seconds") is not None else "-"
        rows.append(f"| {name}{mark} | {mean} | {folds} | {state} | "
                    f"{r['trial'] if r['trial'] is not None else '-'} | {seconds} |")
    return rows


def markdown(content: dict) -> str:
    """The report as Markdown."""
    setup = content["setup"]
    profile = DataProfile(**setup["profile"])
    device = DeviceProfile(**setup["device"])
    lines = ["# Automatic configuration by cross-validation", "",
             f"Data `{content['source']}`, task **{content['task']}**, chosen by "
             f"**{content['metric']}** (higher is better). Study `{content['study']}` at "
             f"`{content['storage']}`.", "", "## Data and machine", ""]
    lines += [f"- {line}" for line in profile.lines()]
    lines += [f"- device: {device.line()}",
              f"- test pairs (never seen by cross-validation): {', '.join(setup['test'])}",
              (f"- {len(setup['folds'])} folds of the training pairs: "
               + "; ".join(", ".join(f) for f in setup["folds"]) if setup["folds"]
               else "- no cross-validation folds"), ""]
    plan = Plan(**setup["plan"])
    lines += ["## Plan", "", f"- {plan.lines()[0]}", "", "## Candidates", ""]
    for c in setup["candidates"]:
        lines += [f"### {c['name']}", ""] + [f"- {reason}" for reason in c["reasons"]] + [""]
    lines += ["## Cross-validation", "", *cv_table(content), ""]
    lines += ["## Result", ""]
    if content.get("best") is None:
        lines += ["No candidate finished its cross-validation.", ""]
    else:
        lines += [f"Chosen: **{content['best']}**."]
        test = content.get("test")
        if test:
            scores = ", ".join(f"{k} {number(v)}" for k, v in test["scores"].items())
            cv = content["cv"][content["best"]]
            final = content.get("final") or {}
            how = (f" {final['start']}, {final['steps']} steps: {final['schedule']}"
                   if final else "")
            tta = " with test-time augmentation (flips)" if test.get("tta") else ""
            lines += ["", f"Retrained on all training pairs (`final/`, configuration "
                      f"`best.yaml`){how}. Tested once{tta} on {len(test['pairs'])} held-out "
                      f"pair(s): {scores}. " + (
                          f"Cross-validation estimate of {content['metric']}: "
                          f"{number(cv['mean'])} ± {number(cv['std'])}." if cv["mean"] is not
                          None else "Not cross-validated: no estimate before the test."), "",
                      "Train it again with `python -m im2im_helpers train best.yaml --out RUN`."]
        else:
            lines += ["", "Not retrained by this process (search only, or trials still "
                      "running elsewhere)."]
    kind = "CPU" if content.get("clock") == "cpu" else "wall-clock"
    lines += ["", f"Time used by this process: {content['seconds']:.0f} s ({kind}).", ""]
    return "\n".join(lines)


def write(out: str | os.PathLike, content: dict) -> Path:
    """Write ``auto_report.md`` and ``auto_report.json`` into ``out`` (atomically); returns the
    Markdown file."""
    out = Path(out)
    io.write_text(out / JSON, json.dumps(content, indent=1, default=str) + "\n")
    return io.write_text(out / MARKDOWN, markdown(content))
