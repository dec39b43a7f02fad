"""Typed settings: a dataclass field that carries its meaning and its valid range, and the checks
that read them.

Every configuration key is declared once, as a field of its section's dataclass (ModelConfig,
LossConfig, the [train] and [data] sections, the synthesizers' settings): its type is the
annotation, its default the field's, and :func:`setting` adds what it means (for the docs) and what
values it takes. The TOML loader (train_config.py) derives the valid keys and their types from the
fields, and each dataclass checks its ranges on construction with :func:`check_ranges`, so a value
out of range is refused in one line naming the key, however the dataclass was made.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import MISSING, Field, field, fields
from functools import cache
from typing import Any

from .errors import Blur2VideoError


def setting(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    above: float | None = None,
    high: float | None = None,
    below: float | None = None,
    choices: tuple | None = None,
) -> Any:
    """A dataclass field with its meaning (``help``) and range: ``low <= value <= high``,
    ``above < value < below``, or one of ``choices``; each item of a tuple is checked alike."""
    limits = {"low": low, "above": above, "high": high, "below": below, "choices": choices}
    metadata = {"help": help, **{k: v for k, v in limits.items() if v is not None}}
    if isinstance(default, (list, dict, set)):
        raise TypeError("a setting's default must be immutable (use a tuple)")
    return field(default=default, metadata=metadata)


@cache
def type_hints(cls: type) -> dict[str, Any]:
    """The resolved type of every init field of dataclass ``cls``, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.init}


def default_of(f: Field) -> Any:
    """A field's default (its factory's product for a ``default_factory``)."""
    return f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]


def describe(hint: Any) -> str:
    """A type as the docs name it: TOML's words, not Python's."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(hint) if a is not type(None))
    if origin is tuple:
        return f"list of {describe(typing.get_args(hint)[0])}s"
    return {bool: "bool", int: "integer", float: "number", str: "string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def plain_value(where: str, hint: Any, value: Any) -> Any:
    """``value`` as TOML gives it, checked against the type ``hint`` of the setting ``where``
    names: an integer is a number too, a tuple is a list (and stays one here)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise Blur2VideoError(f"{where} = {_shown(value)}: expected a list")
        item = typing.get_args(hint)[0]
        try:
            return [plain_value(where, item, v) for v in value]
        except Blur2VideoError:
            raise Blur2VideoError(f"{where} = {_shown(value)}: expected a {describe(hint)}") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise Blur2VideoError(f"{where} = {_shown(value)}: expected true or false")
    elif hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Blur2VideoError(f"{where} = {_shown(value)}: expected a number")
        value = float(value)
    elif hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Blur2VideoError(f"{where} = {_shown(value)}: expected an integer")
    elif hint is str and not isinstance(value, str):
        raise Blur2VideoError(f"{where} = {_shown(value)}: expected a string")
    return value


def build(cls: type, table: dict[str, Any]) -> Any:
    """Dataclass ``cls`` from a table of already checked plain values (lists become tuples)."""
    hints = type_hints(cls)
    return cls(**{k: tuple(v) if isinstance(v, list) and _is_tuple(hints[k]) else v for k, v in table.items()})


def plain(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass's settings as TOML writes them: tuples as lists, unset (None) values left out."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name not in skip and value is not None:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def check_ranges(obj: Any, section: str) -> None:
    """Refuse the first field of ``obj`` whose value (or any item of it) is not finite or is outside
    its :func:`setting` range, naming it as ``section.name`` (``name`` for no section)."""
    hints = type_hints(type(obj))
    for f in fields(obj):
        value = getattr(obj, f.name)
        key = f"{section}.{f.name}" if section else f.name
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, float) and not math.isfinite(v):
                raise Blur2VideoError(f"{key} = {_shown(value)}: give a finite number")
            if not _within(f.metadata, v):
                raise Blur2VideoError(f"{key} = {_shown(value)}: {range_text(f, hints.get(f.name))}")


def range_text(f: Field, hint: Any) -> str:
    """What ``f`` accepts, in words ("" when anything of its type goes)."""
    meta = f.metadata
    if "choices" in meta:
        return "choose " + " or ".join(_shown(c) for c in meta["choices"])
    parts = [f"from {meta['low']:g}" if "low" in meta else "", f"above {meta['above']:g}" if "above" in meta else ""]
    parts += [
        f"up to {meta['high']:g}" if "high" in meta else "",
        f"below {meta['below']:g}" if "below" in meta else "",
    ]
    words = " ".join(p for p in parts if p)
    if not words:
        return ""
    noun = "whole number" if hint is int or typing.get_args(hint)[:1] == (int,) else "number"
    return f"give a {noun} {words}" + (" (each)" if _is_tuple(hint) else "")


def _within(meta: typing.Mapping[str, Any], v: Any) -> bool:
    if "choices" in meta:
        return v in meta["choices"]
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return True
    return (
        ("low" not in meta or v >= meta["low"])
        and ("above" not in meta or v > meta["above"])
        and ("high" not in meta or v <= meta["high"])
        and ("below" not in meta or v < meta["below"])
    )


def _is_tuple(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple


def _shown(value: Any) -> str:
    """A value as the TOML file spells it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return repr(value)
