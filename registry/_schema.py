"""A small declarative schema for entry data: checks that collect every problem with its place.

A check is a function ``(value, ctx, path) -> normalised value``. It raises :class:`Bad` for a
problem with the value itself; container checks (:func:`obj`, :func:`list_of`) record problems of
their items in the context and carry on, so one load reports every problem it can find.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from actors import parse_duration as _parse_duration

from ._entry import is_valid_id
from ._exceptions import Problem


@attrs.define(eq=False)
class Ctx:
    """Where problems go, and what a check needs to know about the entry being checked."""

    problems: list[Problem]
    namespace: str
    """Namespace used to complete short references (``processes`` -> ``app:processes``)."""
    file: str | None = None
    line: int | None = None
    entry: str | None = None
    base_dir: Path | None = None
    """Directory relative paths are checked against; ``None`` skips file-existence checks."""

    def add(self, field: str | None, message: str) -> None:
        """Record a problem at ``field`` of the current entry."""
        self.problems.append(Problem(message, self.file, self.line, self.entry, field or None))


class Bad(Exception):
    """Raised by a check: the value at the current path is wrong (internal)."""


Check = Callable[[Any, Ctx, str], Any]
INVALID: Any = object()
"""Returned by :func:`run` when the check failed; never stored."""
REQUIRED: Any = object()
"""A field default meaning "this key must be present"."""
OMIT: Any = object()
"""A field default meaning "leave the key out when absent"."""


@attrs.frozen
class Field:
    """One key of an object schema: its check and its default (applied through the check)."""

    check: Check
    default: Any = REQUIRED


def run(check: Check, value: Any, ctx: Ctx, path: str) -> Any:
    """Run ``check``, recording a :class:`Bad` as a problem at ``path``; return the result."""
    try:
        return check(value, ctx, path)
    except Bad as bad:
        ctx.add(path, str(bad))
        return INVALID


def join(path: str, key: str | int) -> str:
    """Extend a dotted field path: ``join("a", "b") == "a.b"``, ``join("a", 0) == "a[0]"``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    """Describe a value for an error message: ``the string 'x'``, ``a list``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def unknown_key_message(key: object, allowed: list[str]) -> str:
    """Say a key is unknown, with a close match if there is one and the allowed keys."""
    close = difflib.get_close_matches(str(key), allowed, n=1) if isinstance(key, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; allowed keys: {', '.join(sorted(allowed))}"


def obj(fields: Mapping[str, Field], *, also_allowed: tuple[str, ...] = ()) -> Check:
    """A mapping with exactly these keys: unknown keys are problems, defaults are filled in.

    ``also_allowed`` names keys handled elsewhere (an entry's ``name``, ``kind`` and ``meta``):
    they are not reported as unknown and are listed in the message.
    """

    def check(value: Any, ctx: Ctx, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise Bad(f"expected a mapping, got {describe(value)}")
        allowed = [*fields, *also_allowed]
        for key in value:
            if key not in fields and key not in also_allowed:
                ctx.add(join(path, str(key)), unknown_key_message(key, allowed))
        out: dict[str, Any] = {}
        for name, field in fields.items():
            sub = join(path, name)
            if name in value:
                result = run(field.check, value[name], ctx, sub)
            elif field.default is REQUIRED:
                ctx.add(sub, "required key is missing")
                continue
            elif field.default is OMIT:
                continue
            else:
                result = run(field.check, field.default, ctx, sub)
            if result is not INVALID:
                out[name] = result
        return out

    return check


def list_of(item: Check, *, min_items: int = 0) -> Check:
    """A list whose items all pass ``item``."""

    def check(value: Any, ctx: Ctx, path: str) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise Bad(f"expected a list, got {describe(value)}")
        if len(value) < min_items:
            raise Bad(f"expected at least {min_items} item(s), got an empty list")
        results = [run(item, element, ctx, join(path, i)) for i, element in enumerate(value)]
        return [result for result in results if result is not INVALID]

    return check


def mapping_of(item: Check) -> Check:
    """A mapping with string keys whose values all pass ``item``."""

    def check(value: Any, ctx: Ctx, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise Bad(f"expected a mapping, got {describe(value)}")
        out: dict[str, Any] = {}
        for key, element in value.items():
            if not isinstance(key, str):
                ctx.add(join(path, str(key)), f"keys must be strings, got {describe(key)}")
                continue
            result = run(item, element, ctx, join(path, key))
            if result is not INVALID:
                out[key] = result
        return out

    return check


def any_value(value: Any, ctx: Ctx, path: str) -> Any:
    """Any value, as long as every mapping inside it has string keys (entries are frozen maps)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                out[key] = any_value(item, ctx, join(path, key))
            else:
                ctx.add(join(path, str(key)), f"keys must be strings, got {describe(key)}")
        return out
    if isinstance(value, list | tuple):
        return [any_value(item, ctx, join(path, i)) for i, item in enumerate(value)]
    return value


def boolean(value: Any, ctx: Ctx, path: str) -> bool:
    """``true`` or ``false`` (not ``"yes"``, not ``1``)."""
    if not isinstance(value, bool):
        raise Bad(f"expected true or false, got {describe(value)}")
    return value


def string(pattern: str | None = None, what: str = "a string") -> Check:
    """A non-empty string, optionally matching ``pattern`` in full."""
    compiled = re.compile(pattern) if pattern is not None else None

    def check(value: Any, ctx: Ctx, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise Bad(f"expected {what}, got {describe(value)}")
        if compiled is not None and compiled.fullmatch(value) is None:
            raise Bad(f"expected {what}, got {value!r}")
        return value

    return check


def choice(*options: str) -> Check:
    """One of the given strings."""

    def check(value: Any, ctx: Ctx, path: str) -> str:
        if value not in options or not isinstance(value, str):
            raise Bad(f"expected one of {', '.join(options)}; got {describe(value)}")
        return value

    return check


def scalar_text(value: Any, ctx: Ctx, path: str) -> str:
    """A string, number or boolean, stored as text (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise Bad(f"expected a string, number or boolean, got {describe(value)}")


def integer(minimum: int | None = None, *, nullable: bool = False) -> Check:
    """An integer (not a boolean) of at least ``minimum``; ``null`` too if ``nullable``."""

    def check(value: Any, ctx: Ctx, path: str) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise Bad(f"expected an integer, got {describe(value)}")
        if minimum is not None and value < minimum:
            raise Bad(f"must be at least {minimum}, got {value}")
        return value

    return check


def number(minimum: float | None = None, maximum: float | None = None) -> Check:
    """A finite int or float (not a boolean) within ``[minimum, maximum]``; kept as a float."""

    def check(value: Any, ctx: Ctx, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Bad(f"expected a number, got {describe(value)}")
        if not math.isfinite(value):
            raise Bad(f"expected a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise Bad(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise Bad(f"must be at most {maximum}, got {value}")
        return float(value)

    return check


def duration(*, positive: bool = False) -> Check:
    """A Go-style duration string (kept as given) or a number of seconds; never negative."""

    def check(value: Any, ctx: Ctx, path: str) -> Any:
        try:
            seconds = _parse_duration(value)
        except ValueError as error:
            raise Bad(str(error)) from None
        if positive and seconds <= 0:
            raise Bad(f"must be a positive duration, got {value!r}")
        if seconds < 0:
            raise Bad(f"must not be negative, got {value!r}")
        return value

    return check


def reference(value: Any, ctx: Ctx, path: str) -> str:
    """An entry id; a bare name refers to the entry's own namespace and is completed."""
    if not isinstance(value, str) or not value:
        raise Bad(f"expected an entry id such as 'app:worker', got {describe(value)}")
    full = value if ":" in value else f"{ctx.namespace}:{value}"
    if not is_valid_id(full):
        raise Bad(f"expected an entry id such as 'app:worker', got {value!r}")
    return full
