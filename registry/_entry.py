"""Registry entries: frozen ``Entry`` values with deep read-only ``meta`` and ``data`` maps."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, final

import attrs

from ._exceptions import InvalidEntryError

_WORD = r"[A-Za-z0-9_][A-Za-z0-9_\-]*"
_DOTTED = rf"{_WORD}(?:\.{_WORD})*"
_ID = re.compile(rf"({_DOTTED}):({_DOTTED})")
_KIND = re.compile(_DOTTED)


@final
class FrozenMap(Mapping[str, Any]):
    """A read-only, hashable mapping: the type of ``Entry.meta`` and ``Entry.data``.

    It compares equal to any mapping with the same items (``FrozenMap({"a": 1}) == {"a": 1}``).
    Nested dicts are ``FrozenMap`` s and lists are tuples, see :func:`freeze`.

    Args:
        items (Mapping[str, Any] | Iterable[tuple[str, Any]]): The items, copied as they are
            (use :func:`freeze` to freeze nested values too).
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        self._data: dict[str, Any] = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def freeze(value: Any) -> Any:
    """Return a deep read-only copy: mappings become ``FrozenMap``, lists and tuples become tuples.

    Sets become frozensets; every other value (str, numbers, None, callables) is kept as is.

    Args:
        value (Any): The value to freeze; a ``FrozenMap`` is returned as is.

    Raises:
        InvalidEntryError: If a mapping has a key that is not a string.
    """
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, Mapping):
        items = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidEntryError(f"mapping keys must be strings, got {key!r}")
            items[key] = freeze(item)
        return FrozenMap(items)
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    if isinstance(value, set | frozenset):
        return frozenset(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """Return a deep mutable copy of a frozen value: dicts and lists, e.g. to dump as JSON/YAML.

    Args:
        value (Any): A frozen (or any) value: mappings become dicts, tuples and lists become
            lists, everything else (sets included) is kept as is.
    """
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(item) for item in value]
    return value


def check_id(entry_id: object) -> str:
    """Return ``entry_id`` if it is a valid ``"namespace:name"`` id.

    Raises:
        InvalidEntryError: the id is not a string or not of the form ``ns:name``.
    """
    if not isinstance(entry_id, str) or _ID.fullmatch(entry_id) is None:
        raise InvalidEntryError(
            f"invalid entry id {entry_id!r}: expected 'namespace:name' such as 'app:worker' "
            "or 'app.jobs:heartbeat' (dot-separated words of letters, digits, '_' and '-')"
        )
    return entry_id


def is_valid_id(entry_id: object) -> bool:
    """Return whether ``entry_id`` is a valid ``"namespace:name"`` id."""
    return isinstance(entry_id, str) and _ID.fullmatch(entry_id) is not None


def is_valid_namespace(namespace: object) -> bool:
    """Return whether ``namespace`` is a valid (possibly dotted) namespace."""
    return isinstance(namespace, str) and re.fullmatch(_DOTTED, namespace) is not None


def _validate_id(_instance: Any, _attribute: Any, value: Any) -> None:
    check_id(value)


def _validate_kind(_instance: Any, _attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or _KIND.fullmatch(value) is None:
        raise InvalidEntryError(
            f"invalid entry kind {value!r}: expected dot-separated words such as 'function' "
            "or 'env.storage.file'"
        )


def _freeze_map(value: Mapping[str, Any] | None) -> FrozenMap:
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping):
        raise InvalidEntryError(f"expected a mapping, got {type(value).__name__}")
    frozen = freeze(value)
    assert isinstance(frozen, FrozenMap)
    return frozen


@final
@attrs.frozen
class Entry:
    """One registry entry: an id, a kind, free metadata and kind-specific data.

    ``meta`` and ``data`` are deep read-only (:class:`FrozenMap`, lists become tuples), so an entry
    can be shared between processes and used as a dict key. Build entries of the built-in kinds
    with the helpers (:func:`process_entry`, :func:`service_entry`, ...) so their data is
    validated and normalised; ``Entry(...)`` itself checks only the id and the kind.

    Example::

        Entry("app:job.heartbeat", "function",
              meta={"type": "cron.job", "interval": "1s"},
              data={"source": "jobs:heartbeat"})
    """

    id: str = attrs.field(validator=_validate_id)
    """The full id, ``"namespace:name"``; the namespace may be dotted (``app.jobs:x``)."""
    kind: str = attrs.field(validator=_validate_kind)
    """What the entry declares: ``process``, ``function``, ``service``, ``env.variable``, ..."""
    meta: FrozenMap = attrs.field(factory=FrozenMap, converter=_freeze_map)
    """Free metadata, searched by ``find`` (``{"meta.type": "cron.job"}``)."""
    data: FrozenMap = attrs.field(factory=FrozenMap, converter=_freeze_map)
    """The kind's fields (``source``, ``lifecycle``, ...); for index files, everything but
    ``name``, ``kind`` and ``meta``."""
    origin: str | None = attrs.field(default=None, kw_only=True, eq=False)
    """The index file the entry was loaded from, if any. Relative ``file://`` sources and
    ``file_path`` s resolve against its directory. Not part of equality."""

    @property
    def ns(self) -> str:
        """The namespace: the part of the id before the colon."""
        return self.id.partition(":")[0]

    @property
    def name(self) -> str:
        """The name: the part of the id after the colon."""
        return self.id.partition(":")[2]
