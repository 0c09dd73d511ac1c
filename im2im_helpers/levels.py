"""Run levels of a tutorial: ``smoke`` (seconds, for tests), ``default`` (what ``make tutorials``
runs and the book shows: minutes on 2 CPU cores, and the network beats the classical baseline),
``full`` (the recipe behind the headline numbers, for a GPU or a patient CPU).

A tutorial's parameters cell holds every setting a level changes, as ``None`` (the level
decides) next to a table of the three values, and one call fills them in::

    LEVEL = "default"
    MAX_EPOCHS = None          # None: the level's value in BY_LEVEL; a number (here or -p) wins
    BY_LEVEL = {               #  smoke, default, full
        "MAX_EPOCHS":          (2,     12,      40),
    }
    ...
    globals().update(levels.choose(LEVEL, BY_LEVEL, globals()))

A value set in the cell or passed with ``papermill -p`` is never replaced by the level's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: The levels, in the order of the values in a ``BY_LEVEL`` table.
LEVELS = ("smoke", "default", "full")
#: Wall seconds a tutorial may take at the ``default`` level on 2 CPU cores (the runner names the
#: tutorials that took longer; it does not fail on them: a slower machine takes longer).
DEFAULT_LIMIT_S = 240.0


class LevelError(ValueError):
    """An unknown level or a malformed ``BY_LEVEL`` table."""


def check_level(level: str) -> str:
    """Return ``level`` if it is one of :data:`LEVELS`, else raise :class:`LevelError`."""
    if level not in LEVELS:
        raise LevelError(f"LEVEL={level!r}: choose one of {', '.join(map(repr, LEVELS))} "
                         "(smoke: seconds, for tests; default: minutes on a laptop CPU; full: "
                         "the recipe behind the headline numbers).")
    return level


def choose(level: str, by_level: Mapping[str, Sequence[Any]], chosen: Mapping[str, Any],
           verbose: bool = True) -> dict[str, Any]:
    """The value of every setting of ``by_level`` at ``level``, unless already chosen.

    Parameters
    ----------
    level : str
        One of :data:`LEVELS`.
    by_level : mapping
        ``{NAME: (smoke value, default value, full value)}``.
    chosen : mapping
        The values set so far (a notebook's ``globals()``): a name whose value is not ``None``
        keeps it.
    verbose : bool
        Print each setting and where it came from.

    Returns
    -------
    dict
        ``{NAME: value}`` for every name of ``by_level``.
    """
    index = LEVELS.index(check_level(level))
    values, lines = {}, []
    for name, row in by_level.items():
        if not isinstance(row, (tuple, list)) or len(row) != len(LEVELS):
            raise LevelError(f"BY_LEVEL[{name!r}]={row!r}: give one value per level "
                             f"({', '.join(LEVELS)}).")
        own = chosen.get(name)
        values[name] = row[index] if own is None else own
        lines.append(f"  {name} = {values[name]!r}"
                     + ("" if own is None else f"  (set; the {level} level has {row[index]!r})"))
    if verbose:
        print(f"level {level}:\n" + "\n".join(lines))
    return values
