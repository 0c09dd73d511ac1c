"""Validate nested dictionaries (from YAML) into dataclasses: unknown keys, missing keys and
wrong types are errors that name the file, the key and what is allowed.

Used by run configurations (:mod:`im2im_helpers.config`) and registry entries
(:mod:`im2im_helpers.data.registry`). Hand-written because the check is ~60 lines and a validation
library (pydantic) would be a heavy dependency for it.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any


class SchemaError(ValueError):
    """A YAML file does not match its schema: unknown key, missing key or wrong type."""


_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "list": list,
          "dict": dict}


def _check_type(value: Any, annotation: str, where: str, origin: str) -> None:
    names = [a.strip().split("[")[0] for a in annotation.split("|")]
    if value is None:
        if "None" in names:
            return
        raise SchemaError(f"{origin}: '{where}' must have a value ({annotation}).")
    accepted = tuple(t for n in names if n in _TYPES for t in (
        _TYPES[n] if isinstance(_TYPES[n], tuple) else (_TYPES[n],)))
    if "Any" in names or not accepted:
        return
    if isinstance(value, bool) and bool not in accepted:
        accepted = ()
    if not isinstance(value, accepted):
        raise SchemaError(
            f"{origin}: '{where}' is {value!r} ({type(value).__name__}); expected {annotation}."
        )


def _nested(f: dataclasses.Field) -> type | None:
    """The dataclass a field holds (``metadata={"item": cls}`` for lists of them)."""
    if "item" in f.metadata:
        return f.metadata["item"]
    default = f.default_factory() if callable(f.default_factory) else None
    return type(default) if dataclasses.is_dataclass(default) else None


def from_dict(cls: type, values: Any, origin: str, where: str = ""):
    """Build dataclass ``cls`` from ``values``, recursively, or raise :class:`SchemaError`.

    ``origin`` (a file name) and ``where`` (the key path) make the error messages precise.
    """
    if not isinstance(values, dict):
        raise SchemaError(f"{origin}: '{where or 'top level'}' must be a mapping of keys.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""
    unknown = [k for k in values if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), fields, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise SchemaError(
            f"{origin}: unknown key '{prefix}{key}'.{hint} Allowed here: {sorted(fields)}."
        )
    missing = [n for n, f in fields.items() if n not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise SchemaError(f"{origin}: missing key '{prefix}{missing[0]}'.")
    kwargs = {}
    for name, value in values.items():
        f, path = fields[name], f"{prefix}{name}"
        nested = _nested(f)
        if nested is not None and "item" in f.metadata:
            if not isinstance(value, list):
                raise SchemaError(f"{origin}: '{path}' must be a list.")
            kwargs[name] = [from_dict(nested, v, origin, f"{path}[{i}]")
                            for i, v in enumerate(value)]
        elif nested is not None:
            kwargs[name] = from_dict(nested, value, origin, path)
        else:
            _check_type(value, str(f.type), path, origin)
            kwargs[name] = value
    return cls(**kwargs)


def with_overrides(cls: type, config: Any = None, overrides: dict | None = None,
                   where: str = ""):
    """A ``cls`` dataclass from ``config`` (an instance, or ``None`` for the defaults) with the
    keyword ``overrides`` applied: how a function takes "a configuration or keyword overrides
    of it" while the dataclass stays the one place its defaults are written.

    Raises ``TypeError`` naming ``where`` and the allowed keys for an unknown keyword.
    """
    base = cls() if config is None else config
    if not isinstance(base, cls):
        raise TypeError(f"{where or cls.__name__}: config must be a {cls.__name__}, "
                        f"got {type(config).__name__}.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides or {}) - names)
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise TypeError(f"{where or cls.__name__}: unknown setting {unknown}.{hint} "
                        f"Settings: {sorted(names)}.")
    return dataclasses.replace(base, **(overrides or {}))
