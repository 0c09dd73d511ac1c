"""A tutorial's headline: which metric, which network(s), which classical baseline, and whether
higher is better — written into ``metrics.json`` so that a checker can tell from the file alone
whether the network won (``make tutorials`` fails, naming the tutorial, when it lost)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field


class HeadlineLost(AssertionError):
    """A headline network did not beat its baseline (or another network did not beat the raw
    input) on the held-out data."""


@dataclass
class Headline:
    """What a tutorial claims, checkable against its metrics table.

    Attributes
    ----------
    metric : str
        The headline metric (a column of the table).
    network : str or list of str
        The main network(s): each must beat ``baseline``.
    baseline : str
        The classical baseline (a row of the table).
    higher_is_better : bool
        ``False`` for errors and distances.
    table : str
        The key of the metrics record holding the table (``"methods"``; ``"methods_3d"`` for a
        second experiment of the same tutorial).
    input : str or None
        The row of the raw input used as a prediction, if the table has one: every network of
        ``others`` must beat it.
    others : list of str
        The tutorial's other networks.
    """

    metric: str
    network: str | list[str]
    baseline: str
    higher_is_better: bool = True
    table: str = "methods"
    input: str | None = None
    others: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain values for ``metrics.json``."""
        return asdict(self)


@dataclass
class Comparison:
    """One checked claim: ``method`` against ``reference`` on ``metric``."""

    table: str
    metric: str
    method: str
    value: float
    reference: str
    reference_value: float
    won: bool

    def __str__(self) -> str:
        verb = "beats" if self.won else "does NOT beat"
        return (f"{self.method} {verb} {self.reference} on {self.metric} ({self.table}): "
                f"{self.value:.3f} vs {self.reference_value:.3f}")


def _headlines(record: Mapping) -> list[Mapping]:
    found = record.get("headline")
    if found is None:
        return []
    return list(found) if isinstance(found, Sequence) and not isinstance(found, str) else [found]


def compare(record: Mapping) -> list[Comparison]:
    """Every claim of a metrics record's ``headline`` (none when it is ``null``).

    Raises
    ------
    KeyError
        When the headline names a table, method or metric the record does not have.
    """
    out = []
    for h in _headlines(record):
        table = record[h.get("table", "methods")]
        sign = 1 if h.get("higher_is_better", True) else -1
        networks = [h["network"]] if isinstance(h["network"], str) else list(h["network"])
        claims = [(n, h["baseline"]) for n in networks]
        if h.get("input"):
            claims += [(n, h["input"]) for n in h.get("others", [])]
        for method, reference in claims:
            value, ref = float(table[method][h["metric"]]), float(table[reference][h["metric"]])
            out.append(Comparison(h.get("table", "methods"), h["metric"], method, value,
                                  reference, ref, sign * (value - ref) > 0))
    return out


def check(record: Mapping, name: str) -> list[Comparison]:
    """Raise :class:`HeadlineLost` naming the tutorial ``name`` if a claim of its headline does
    not hold; return the comparisons otherwise."""
    try:
        comparisons = compare(record)
    except KeyError as err:
        raise HeadlineLost(f"{name}: metrics.json's headline names {err}, which its table does "
                           "not have; fix the headline or the table.") from err
    lost = [c for c in comparisons if not c.won]
    if lost:
        raise HeadlineLost(f"{name}: " + "; ".join(map(str, lost)))
    return comparisons
