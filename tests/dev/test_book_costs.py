"""The chapter on outgrowing a laptop quotes its costs only from the benchmark records in
``results/benchmarks/``: every number in its "What it costs" section is a recorded value at the
precision it is written with."""

from __future__ import annotations

import json
import re
from pathlib import Path

from im2im_helpers.dev import quoted

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = ROOT / "book" / "scaling.md"
RECORDS = ROOT / "results" / "benchmarks"
NUMBER = re.compile(r"(?<![\w.@/-])(\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?![\w.]*\w)")


def costs_section(text: str) -> str:
    return quoted.blank_code(text.split("## What it costs", 1)[1])


def numbers_in(value) -> list[float]:
    """Every number of a record (mappings and lists, at any depth)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


def recorded_values() -> list[float]:
    return [n for path in sorted(RECORDS.glob("*.json"))
            for n in numbers_in(json.loads(path.read_text()))]


def backs(number: str, value: float) -> bool:
    """Whether ``value`` is ``number`` at the precision it is written with (``4.8e-07``: two
    significant digits)."""
    if "e" in number:
        mantissa, exponent = number.split("e")
        return quoted.matches(mantissa, value / 10 ** int(exponent))
    return quoted.matches(number, value)


def unbacked(section: str, values: list[float]) -> list[str]:
    return [n for n in NUMBER.findall(section) if not any(backs(n, v) for v in values)]


def test_the_costs_of_the_chapter_are_recorded_benchmark_values():
    values = recorded_values()
    assert values, f"{RECORDS}: no benchmark records"
    assert unbacked(costs_section(CHAPTER.read_text()), values) == []


def test_an_edited_cost_fails():
    values = recorded_values()
    section = costs_section(CHAPTER.read_text())
    numbers = NUMBER.findall(section)
    assert numbers, "the section quotes measurements"
    edited = section.replace(numbers[-1], numbers[-1] + "7", 1)
    assert unbacked(edited, values)
