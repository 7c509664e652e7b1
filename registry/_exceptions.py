"""The registry's exceptions: one flat set, each refining the builtin it is closest to.

Every class derives from :class:`RegistryError`, so ``except registry.RegistryError`` catches
anything this package raises on purpose, and from a builtin (``ValueError``, ``LookupError``,
``PermissionError``, ``ImportError``, ``RuntimeError``), so generic code that already handles the
builtin keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import final

import attrs


@final
@attrs.frozen
class Problem:
    """One validation problem, with as much of its place as is known."""

    message: str
    """What is wrong, e.g. ``"expected a boolean, got the string 'yes'"``."""
    file: str | None = None
    """The index file, if the entry came from one."""
    line: int | None = None
    """The line of the entry (or of the file-level key) in that file."""
    entry: str | None = None
    """The entry id, or ``entries[3]`` when the entry has no usable name."""
    field: str | None = None
    """The dotted path of the field inside the entry, e.g. ``lifecycle.restart.jitter``."""

    def __str__(self) -> str:
        where: list[str] = []
        if self.file is not None:
            where.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.entry is not None:
            where.append(f"entry {self.entry}")
        if self.field is not None:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class RegistryError(Exception):
    """Base class of every error the registry raises on purpose."""


class InvalidEntryError(RegistryError, ValueError):
    """An entry built in code is malformed: a bad id or kind, or data that breaks its kind's schema.

    The same problems found in an index file raise :class:`IndexFileError` instead, which also
    names the file. ``problems`` lists every problem found, not just the first.

    Args:
        message (str): The error message (every problem, one per line).
        problems (Sequence[Problem]): The problems as structured values (kept as ``problems``).
    """

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[Problem, ...] = tuple(problems)


class IndexFileError(RegistryError, ValueError):
    """One or more ``_index.yaml`` files are malformed; every problem of the load is listed.

    Each problem is one paragraph naming the file (and line), the entry and the field. The
    individual problems are also available as structured values in ``problems``.

    Args:
        problems (Sequence[Problem]): Every problem found (kept as ``problems``); the message
            is made from them.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if len(self.problems) == 1:
            message = str(self.problems[0])
        else:
            lines = [f"{len(self.problems)} problems in index files:"]
            lines.extend(f"- {problem}" for problem in self.problems)
            message = "\n".join(lines)
        super().__init__(message)


class InvalidFilterError(RegistryError, ValueError):
    """A ``find`` filter has a key or a value that cannot be understood.

    Raised instead of matching everything (which is what Wippy does for a key without a prefix).
    """


class EntryNotFoundError(RegistryError, LookupError):
    """No entry has the requested id (``get``, ``funcs.call``).

    A changeset that updates or deletes a missing id raises :class:`ChangesetError` instead, so a
    failed apply is always one exception listing every conflict.

    Args:
        entry_id (str): The id asked for (kept as ``entry_id``).
        version (int | None): The registry version looked at (``snapshot_at``), named in the
            message; None for the current one.
    """

    def __init__(self, entry_id: str, version: int | None = None) -> None:
        where = "" if version is None else f" at version {version}"
        super().__init__(f"no entry with id {entry_id!r} in the registry{where}")
        self.entry_id = entry_id


class ChangesetError(RegistryError, ValueError):
    """A changeset cannot be applied; nothing was applied.

    Raised for a create of an existing id, an update or delete of a missing id, and for a changeset
    applied twice. ``problems`` lists each conflict as a sentence.

    Args:
        problems (Sequence[str]): Every conflict, one sentence each (kept as ``problems``).
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        if len(self.problems) == 1:
            message = f"changeset not applied: {self.problems[0]}"
        else:
            lines = [f"changeset not applied, {len(self.problems)} conflicts:"]
            lines.extend(f"- {problem}" for problem in self.problems)
            message = "\n".join(lines)
        super().__init__(message)


class ResolveError(RegistryError, ImportError):
    """The callable of a ``process`` or ``function`` entry cannot be loaded.

    The message names the entry and the module, file or attribute that failed; an import error or
    a syntax error in the user's file is kept as ``__cause__``.
    """


class FunctionCallError(RegistryError, RuntimeError):
    """A ``function`` entry ran and raised; the original exception is the ``__cause__``.

    Cancellation (``trio.Cancelled``) and other ``BaseException`` s are never wrapped.

    Args:
        entry_id (str): The ``function`` entry (kept as ``entry_id``).
        error (BaseException): What the function raised, named in the message (the raiser
            chains it as ``__cause__``).
    """

    def __init__(self, entry_id: str, error: BaseException) -> None:
        super().__init__(f"function {entry_id} raised {type(error).__name__}: {error}")
        self.entry_id = entry_id


class EnvError(RegistryError, ValueError):
    """An env value or a ``.env`` file is malformed, e.g. ``"abc"`` for an ``int`` variable."""


class EnvNotFoundError(RegistryError, LookupError):
    """No ``env.variable`` is declared under that name, or it has no value and no default."""


class EnvReadOnlyError(RegistryError, PermissionError):
    """``Env.set`` on a ``readonly`` variable, or on one whose storages are all read-only."""
