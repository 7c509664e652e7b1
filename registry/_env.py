"""``Env``: typed access to the ``env.variable`` entries of a registry and their storages.

Reading a variable asks its storage (a router asks its storages in order), then falls back to the
variable's ``default``; with neither, the variable is unset. Values are stored as text and
converted on the way out according to the variable's ``type``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, final

import attrs

from actors import parse_duration as _parse_duration

from ._entry import Entry
from ._exceptions import EnvError, EnvNotFoundError, EnvReadOnlyError
from ._storages import (
    FileStorage,
    MemoryStorage,
    OsStorage,
    RouterStorage,
    StaticStorage,
    Storage,
)

_INT = re.compile(r"[+-]?\d+")
_MAX_DIGITS = 100


def _short(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 80 else f"{shown[:75]}...{shown[-2:]}"


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def convert(text: str, type: str) -> Any:
    """Convert a stored text to a variable's type (str, int, float, bool or duration).

    ``bool`` accepts true/false, 1/0, yes/no, on/off (any case); ``duration`` accepts Go-style
    strings and returns seconds as a float.

    Raises:
        ValueError: the text does not fit the type.
    """
    if type == "str":
        return text
    if type == "int":
        if len(text) > _MAX_DIGITS:
            raise ValueError(f"{_short(text)} is longer than {_MAX_DIGITS} characters")
        if _INT.fullmatch(text.strip()) is None:
            raise ValueError(f"{text!r} is not an integer")
        return int(text)
    if type == "float":
        try:
            number = float(text) if len(text) <= _MAX_DIGITS else math.nan
        except ValueError:
            raise ValueError(f"{_short(text)} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{_short(text)} is not a finite number")
        return number
    if type == "bool":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{_short(text)} is not a boolean (use true or false)")
    if type == "duration":
        return _parse_duration(text)
    raise ValueError(f"unknown variable type {type!r}")


def _to_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise EnvError(f"env values must be str, int, float or bool, got {type(value).__name__}")


@final
@attrs.frozen
class _Variable:
    entry: Entry
    key: str
    storage_id: str
    storage: Storage

    @property
    def label(self) -> str:
        variable = self.entry.data.get("variable")
        return f"{variable} ({self.entry.id})" if variable else self.entry.id


@final
@attrs.define(eq=False, repr=False)
class Env:
    """The environment declared by ``env.variable`` and ``env.storage.*`` entries.

    Variables are addressed by their public ``variable`` name (``NUM_WORKERS``) or by entry id
    (``app:num_workers``; the only way for a variable without ``variable``). Build one with
    :meth:`from_entries`; storages (memory ones in particular) live as long as the ``Env``.

    Args:
        variables (dict[str, _Variable]): Each variable by entry id and by public name, with
            its storage (built by :meth:`from_entries`).
        public (list[str]): The names :meth:`get_all` reports, sorted.
    """

    _variables: dict[str, _Variable]
    _public: list[str]

    @classmethod
    def from_entries(
        cls, entries: Iterable[Entry], *, environ: Mapping[str, str] | None = None
    ) -> Env:
        """Build the environment from entries (a registry snapshot, ``find`` result, ...).

        Args:
            entries (Iterable[Entry]): Every entry is looked at; only ``env.*`` kinds matter.
            environ (Mapping[str, str] | None): What ``env.storage.os`` reads; ``os.environ``
                by default.

        Raises:
            EnvError: a variable or router names a storage that is missing or not a storage,
                or routers form a cycle.
        """
        by_id = {entry.id: entry for entry in entries}
        built: dict[str, Storage] = {}
        os_environ: Mapping[str, str] = os.environ if environ is None else environ

        def storage(storage_id: str, user: str, stack: tuple[str, ...] = ()) -> Storage:
            if storage_id in built:
                return built[storage_id]
            entry = by_id.get(storage_id)
            if entry is None or not entry.kind.startswith("env.storage."):
                raise EnvError(f"{user} refers to storage {storage_id!r}, which is not declared")
            if storage_id in stack:
                cycle = " -> ".join((*stack, storage_id))
                raise EnvError(f"env storage routers form a cycle: {cycle}")
            built[storage_id] = _make_storage(entry, os_environ, stack, storage)
            return built[storage_id]

        variables: dict[str, _Variable] = {}
        public: list[str] = []
        for entry in by_id.values():
            if entry.kind != "env.variable":
                continue
            name = entry.data.get("variable")
            storage_id = entry.data["storage"]
            variable = _Variable(
                entry, name or entry.name, storage_id, storage(storage_id, entry.id)
            )
            variables[entry.id] = variable
            if name:
                if name in variables:
                    other = variables[name].entry.id
                    raise EnvError(f"variable name {name} is declared by {other} and {entry.id}")
                variables[name] = variable
            public.append(name or entry.id)
        return cls(variables, sorted(public))

    def get(self, name: str) -> Any:
        """Return the variable's value converted to its ``type``.

        Args:
            name (str): The public ``variable`` name (``NUM_WORKERS``) or the entry id.

        Raises:
            EnvNotFoundError: If there is no such variable, or it is unset and has no default.
            EnvError: If the stored value does not fit the variable's type, or its storage
                cannot be read (a malformed or unreadable ``.env`` file).
        """
        variable = self._variable(name)
        text = self._text(variable)
        try:
            return convert(text, variable.entry.data.get("type", "str"))
        except ValueError as error:
            raise EnvError(f"env variable {variable.label}: {error}") from None

    def get_text(self, name: str) -> str:
        """Return the variable's value as stored (text), without type conversion.

        Args:
            name (str): The public ``variable`` name (``NUM_WORKERS``) or the entry id.

        Raises:
            EnvNotFoundError: If there is no such variable, or it is unset and has no default.
            EnvError: If its storage cannot be read.
        """
        return self._text(self._variable(name))

    def set(self, name: str, value: str | int | float | bool) -> None:
        """Store a new value for the variable in its storage (for a router, the first writable).

        Args:
            name (str): The public ``variable`` name (``NUM_WORKERS``) or the entry id.
            value (str | int | float | bool): The value, stored as text (a bool as
                ``true``/``false``); it must fit the variable's ``type``.

        Raises:
            EnvNotFoundError: If there is no such variable.
            EnvReadOnlyError: If the variable is ``readonly``, or its storage cannot be written.
            EnvError: If the value is not a str, int, float or bool or does not fit the
                variable's type, or a ``.env`` file cannot be read or is missing.
        """
        variable = self._variable(name)
        if variable.entry.data.get("readonly", False):
            raise EnvReadOnlyError(f"env variable {variable.label} is readonly")
        if not variable.storage.writable:
            raise EnvReadOnlyError(
                f"env variable {variable.label} cannot be set: its storage "
                f"{variable.storage_id} is read-only"
            )
        text = _to_text(value)
        try:
            convert(text, variable.entry.data.get("type", "str"))
        except ValueError as error:
            raise EnvError(f"env variable {variable.label}: {error}") from None
        variable.storage.set(variable.key, text)

    def get_all(self) -> dict[str, Any]:
        """Return every variable that has a value (stored or default), by public name, typed.

        Raises:
            EnvError: a stored value does not fit its variable's type.
        """
        values: dict[str, Any] = {}
        for name in self._public:
            try:
                values[name] = self.get(name)
            except EnvNotFoundError:
                continue
        return values

    def lookup_text(self, name: str) -> str | None:
        """Return the variable's text if it is declared and has a value, else ``None``.

        The value is the stored text, else the default; it is not converted.

        Args:
            name (str): The public ``variable`` name (``NUM_WORKERS``) or the entry id.

        Raises:
            EnvError: If its storage cannot be read.
        """
        variable = self._variables.get(name)
        if variable is None:
            return None
        value = variable.storage.get(variable.key)
        return value if value is not None else variable.entry.data.get("default")

    def __contains__(self, name: object) -> bool:
        return name in self._variables

    def _variable(self, name: str) -> _Variable:
        try:
            return self._variables[name]
        except KeyError:
            raise EnvNotFoundError(f"no env.variable named {name!r} is declared") from None

    def _text(self, variable: _Variable) -> str:
        value = variable.storage.get(variable.key)
        if value is not None:
            return value
        default = variable.entry.data.get("default")
        if default is None:
            raise EnvNotFoundError(
                f"env variable {variable.label} is not set in storage {variable.storage_id} "
                "and has no default"
            )
        return str(default)


def _make_storage(
    entry: Entry,
    environ: Mapping[str, str],
    stack: tuple[str, ...],
    storage: Any,
) -> Storage:
    kind = entry.kind
    if kind == "env.storage.os":
        return OsStorage(environ)
    if kind == "env.storage.memory":
        return MemoryStorage()
    if kind == "env.storage.static":
        return StaticStorage(dict(entry.data.get("values", {})))
    if kind == "env.storage.file":
        path = Path(entry.data["file_path"])
        if not path.is_absolute() and entry.origin is not None:
            path = Path(entry.origin).parent / path
        return FileStorage(
            path,
            auto_create=entry.data.get("auto_create", False),
            file_mode=entry.data.get("file_mode", 0o600),
        )
    if kind == "env.storage.router":
        inner = (*stack, entry.id)
        return RouterStorage(
            [storage(target, entry.id, inner) for target in entry.data.get("storages", ())]
        )
    raise EnvError(f"entry {entry.id} has unknown storage kind {kind!r}")
