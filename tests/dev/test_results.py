"""Numbers quoted in the README's tutorial table come from a recorded run in ``results/``: each
decimal number of a "full run" cell is a value of ``results/full/NAME.json`` at the precision
quoted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")


def table_rows() -> dict[str, str]:
    """Tutorial name -> the result cell of its README row."""
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"\| \[`(\d\d_\w+)`\]\(notebooks/", line)
        if match:
            rows[match.group(1)] = line.rstrip("|").rsplit("|", 1)[1]
    return rows


def recorded_values(value) -> list[float]:
    """Every number in a recorded run (values, and numeric keys such as photon counts)."""
    if isinstance(value, dict):
        found = []
        for k, v in value.items():
            try:
                found.append(float(k))
            except ValueError:
                pass
            found += recorded_values(v)
        return found
    if isinstance(value, list):
        return [x for v in value for x in recorded_values(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


def unrecorded(text: str, values: list[float]) -> list[str]:
    """The decimal numbers in ``text`` that no recorded value rounds to."""
    missing = []
    for number in NUMBER.findall(text):
        decimals = len(number.split(".")[1])
        if not any(round(v, decimals) == float(number) for v in values):
            missing.append(number)
    return missing


ROWS = table_rows()


def test_every_tutorial_has_a_row():
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(ROWS) == notebooks


@pytest.mark.parametrize("name", [n for n, cell in ROWS.items() if "full run" in cell])
def test_full_run_numbers_are_recorded(name):
    record = ROOT / "results" / "full" / f"{name}.json"
    assert record.is_file(), f"the README quotes a full run of {name}; record it in {record}"
    run = json.loads(record.read_text())
    assert run["tutorial"] == name and run["run"]["level"] == "full"
    assert run.get("level", "full" if run.get("quick") is False else None) == "full"
    assert not unrecorded(ROWS[name], recorded_values(run)), ROWS[name]


def test_the_check_finds_a_number_that_was_not_recorded():
    assert unrecorded("Dice 0.883 vs 0.870", [0.8698, 0.8989]) == ["0.883"]
    assert unrecorded("30.3 dB / 0.70", [30.2619, 0.7032]) == []
