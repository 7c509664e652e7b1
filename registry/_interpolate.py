"""``${env:NAME}`` and ``${env:NAME|default}`` interpolation in the string fields of entries.

Substituted text is not scanned again, so a value containing ``${env:...}`` stays literal. A
``${env:`` that does not form a valid reference is a problem, never left silently in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ._schema import Ctx, join

_REFERENCE = re.compile(r"\$\{env:([A-Za-z0-9_]+)(?:\|([^}]*))?\}")
_START = "${env:"

Lookup = Callable[[str], "str | None"]
"""Return a variable's text, or ``None`` when it is not set; may raise ``EnvError``."""


def interpolate(value: Any, lookup: Lookup, ctx: Ctx, path: str) -> Any:
    """Return ``value`` with every reference in its strings replaced, recursing into containers.

    Problems (an unset variable without default, a malformed reference, a storage that cannot
    be read) are recorded in ``ctx`` at the field's path; the reference is then left in place.
    """
    if isinstance(value, str):
        return _interpolate_text(value, lookup, ctx, path)
    if isinstance(value, Mapping):
        return {
            key: interpolate(item, lookup, ctx, join(path, str(key))) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [interpolate(item, lookup, ctx, join(path, i)) for i, item in enumerate(value)]
    return value


def _interpolate_text(text: str, lookup: Lookup, ctx: Ctx, path: str) -> str:
    if _START not in text:
        return text
    if _START in _REFERENCE.sub("", text):
        ctx.add(
            path,
            f"malformed interpolation in {text!r}: expected ${{env:NAME}} or "
            "${env:NAME|default}, with NAME made of letters, digits and '_'",
        )
        return text

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        try:
            found = lookup(name)
        except ValueError as error:  # EnvError: e.g. a malformed .env file
            ctx.add(path, f"cannot read variable {name}: {error}")
            return match.group(0)
        if found is not None:
            return found
        if default is not None:
            return default
        ctx.add(
            path,
            f"variable {name} is not set and has no default; declare it, set it, "
            f"or write ${{env:{name}|default}}",
        )
        return match.group(0)

    return _REFERENCE.sub(replace, text)
