"""Config reference text from the dataclass schemas: field docstrings become ``--help``."""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from typing import Any

import docstring_parser


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass and its bases (``x: int = 1`` then ``\"\"\"doc\"\"\"``)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            try:
                parsed = docstring_parser.parse_from_object(klass)
            except (OSError, TypeError):  # no source available (e.g. built in a REPL)
                continue
            docs.update(
                {p.arg_name: (p.description or "") for p in parsed.params if p.args[:1] == ["attribute"]}
            )
    return docs


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return "???"


def describe(cls: type, prefix: str = "", only_own: bool = False) -> list[tuple[str, str, str, str]]:
    """``(dotted key, type, default, doc)`` rows for every leaf field of ``cls``.

    With ``only_own`` only fields that ``cls`` adds to or redefines from its first base
    are listed (used to show what ``algo.name=grpo`` adds).
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    base_fields = {}
    if only_own and dataclasses.is_dataclass(cls.__mro__[1]):
        base_fields = {f.name: _default(f) for f in dataclasses.fields(cls.__mro__[1])}
    rows = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints.get(f.name, f.type)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            rows += describe(tp, key + ".")
            continue
        default = _default(f)
        if only_own and f.name in base_fields and base_fields[f.name] == default:
            continue
        rows.append((key, _type_name(tp), repr(default), docs.get(f.name, "")))
    return rows


def format_rows(rows: list[tuple[str, str, str, str]]) -> str:
    width = max((len(r[0]) for r in rows), default=0)
    lines = []
    for key, tp, default, doc in rows:
        lines.append(f"  {key:<{width}}  {doc}")
        lines.append(f"  {'':<{width}}  [{tp}, default {default}]")
    return "\n".join(lines)
