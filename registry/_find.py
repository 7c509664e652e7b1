"""Compile ``find`` filters (the Wippy syntax plus a keyword form) into entry predicates.

Filter keys:

- ``.kind`` / ``.ns`` / ``.name`` / ``.id``: exact match, or a glob where ``*`` matches any run of
  characters (``{".name": "job.*"}``).
- ``meta.<field>``: equality; a list value means the entry's array must contain every item.
- an operator in front of any field: ``~`` regex search, ``*`` substring, ``^`` prefix,
  ``$`` suffix. Against an array of strings they match when any element matches.

Anything else is an :class:`InvalidFilterError` naming the key: Wippy warns and then matches every
entry, which turns a typo into "run every job".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ._entry import Entry, freeze
from ._exceptions import InvalidFilterError

Predicate = Callable[[Entry], bool]

_ROOT_FIELDS = ("kind", "ns", "name", "id")
_OPERATORS = {"~": "regex", "*": "substring", "^": "prefix", "$": "suffix"}
_MISSING = object()
_KEY_HELP = (
    "keys are .kind, .ns, .name, .id or meta.<field>, optionally prefixed by "
    "~ (regex), * (substring), ^ (prefix) or $ (suffix)"
)


def compile_filter(
    filter: Mapping[str, Any] | None = None,
    *,
    kind: str | None = None,
    ns: str | None = None,
    name: str | None = None,
    id: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Predicate:
    """Return a predicate that is true for entries matching every condition given.

    Args:
        filter (Mapping | None): the Wippy-style filter, e.g. ``{"meta.type": "cron.job"}``.
        kind (str | None): same as ``{".kind": kind}`` (``*`` globs allowed).
        ns (str | None): same as ``{".ns": ns}``.
        name (str | None): same as ``{".name": name}``.
        id (str | None): same as ``{".id": id}``.
        meta (Mapping | None): equality on meta fields, ``meta={"type": "cron.job"}`` is
            ``{"meta.type": "cron.job"}``.

    Raises:
        InvalidFilterError: a key is unknown or a value has the wrong type; names the key.
    """
    tests: list[Predicate] = []
    if filter is not None:
        if not isinstance(filter, Mapping):
            raise InvalidFilterError(
                f"a filter must be a mapping such as {{'meta.type': 'cron.job'}}, "
                f"got {type(filter).__name__}"
            )
        tests.extend(_compile_key(key, value) for key, value in filter.items())
    for field, value in (("kind", kind), ("ns", ns), ("name", name), ("id", id)):
        if value is not None:
            tests.append(_compile_key(f".{field}", value))
    if meta is not None:
        if not isinstance(meta, Mapping):
            raise InvalidFilterError(f"meta= must be a mapping, got {type(meta).__name__}")
        for key, value in meta.items():
            if not isinstance(key, str) or not key:
                raise InvalidFilterError(f"meta= keys must be non-empty strings, got {key!r}")
            tests.append(_compile_key(f"meta.{key}", value))
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]
    return lambda entry: all(test(entry) for test in tests)


def _always(entry: Entry) -> bool:
    return True


def _compile_key(key: object, value: Any) -> Predicate:
    if not isinstance(key, str):
        raise InvalidFilterError(f"filter keys must be strings, got {key!r}; {_KEY_HELP}")
    operator = key[0] if len(key) > 1 and key[0] in _OPERATORS else None
    field = key[1:] if operator else key
    getter = _field_getter(key, field)
    if operator is None and field.startswith("."):
        return _compile_root(key, getter, value)
    if operator is None:
        expected = freeze(value)
        return lambda entry: _equals(getter(entry), expected)
    if not isinstance(value, str):
        raise InvalidFilterError(
            f"filter {key!r} ({_OPERATORS[operator]}) needs a string value, got {value!r}"
        )
    if operator == "~":
        try:
            pattern = re.compile(value)
        except re.error as error:
            raise InvalidFilterError(
                f"filter {key!r} has an invalid regular expression {value!r}: {error}"
            ) from None
        return _text_test(getter, lambda text: pattern.search(text) is not None)
    if operator == "*":
        return _text_test(getter, lambda text: value in text)
    if operator == "^":
        return _text_test(getter, lambda text: text.startswith(value))
    return _text_test(getter, lambda text: text.endswith(value))


def _field_getter(key: str, field: str) -> Callable[[Entry], Any]:
    if field.startswith("."):
        root = field[1:]
        if root not in _ROOT_FIELDS:
            raise InvalidFilterError(f"unknown filter key {key!r}: {_KEY_HELP}")
        return lambda entry: getattr(entry, root)
    if field.startswith("meta.") and len(field) > len("meta."):
        path = field[len("meta.") :]
        return lambda entry: _lookup(entry.meta, path)
    if field in _ROOT_FIELDS:
        hint = f"did you mean '.{field}'?"
    elif field == "meta":
        hint = "name a field, e.g. 'meta.type'"
    else:
        hint = f"did you mean 'meta.{field}'?"
    raise InvalidFilterError(f"unknown filter key {key!r} ({hint}); {_KEY_HELP}")


def _lookup(meta: Mapping[str, Any], path: str) -> Any:
    """Find ``path`` in meta: the whole path as one key first, else a walk through nested maps."""
    if path in meta:
        return meta[path]
    node: Any = meta
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _compile_root(key: str, getter: Callable[[Entry], Any], value: Any) -> Predicate:
    if not isinstance(value, str):
        raise InvalidFilterError(f"filter {key!r} needs a string value, got {value!r}")
    if "*" not in value:
        return lambda entry: getter(entry) == value
    pattern = re.compile(".*".join(re.escape(part) for part in value.split("*")), re.DOTALL)
    return lambda entry: pattern.fullmatch(getter(entry)) is not None


def _equals(actual: Any, expected: Any) -> bool:
    if actual is _MISSING:
        return False
    if isinstance(expected, tuple):
        # Wippy: a list value means "the entry's array contains all of these".
        if not isinstance(actual, tuple):
            return False
        return all(any(_same(item, wanted) for item in actual) for wanted in expected)
    return _same(actual, expected)


def _same(actual: Any, expected: Any) -> bool:
    # True == 1 in Python; in a filter a boolean only matches a boolean.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)


def _text_test(getter: Callable[[Entry], Any], test: Callable[[str], bool]) -> Predicate:
    def predicate(entry: Entry) -> bool:
        actual = getter(entry)
        if isinstance(actual, str):
            return test(actual)
        if isinstance(actual, tuple):
            return any(isinstance(item, str) and test(item) for item in actual)
        return False

    return predicate
