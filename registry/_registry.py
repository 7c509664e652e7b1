"""The versioned registry: snapshots, atomic changesets, history and change subscribers."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal, final

import attrs

from ._entry import Entry
from ._exceptions import ChangesetError, EntryNotFoundError
from ._find import compile_filter

logger = logging.getLogger("registry")

Op = Literal["create", "update", "delete"]


@final
@attrs.frozen
class Change:
    """One applied change: what happened to one id, with the entry before and after."""

    op: Op
    """``"create"``, ``"update"`` or ``"delete"``."""
    id: str
    """The entry id the change is about."""
    entry: Entry | None
    """The entry after the change; ``None`` for a delete."""
    previous: Entry | None
    """The entry before the change; ``None`` for a create."""


@final
@attrs.frozen
class Revision:
    """One applied changeset: the version it produced and its changes, in order."""

    version: int
    """The registry version after this changeset (the first apply gives 1)."""
    changes: tuple[Change, ...]
    """The changes, in the order they were added to the changeset."""


@final
@attrs.frozen(eq=False)
class Snapshot:
    """An immutable view of the registry at one version; later applies never change it.

    Made by :meth:`Registry.snapshot` and :meth:`Registry.snapshot_at`.

    Args:
        entries (Mapping[str, Entry]): The entries by id (not copied: do not change it).
    """

    version: int
    """The version this snapshot shows (0 is the empty registry)."""
    _entries: Mapping[str, Entry] = attrs.field(alias="entries", repr=False)
    _sorted: tuple[Entry, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        ordered = tuple(self._entries[key] for key in sorted(self._entries))
        object.__setattr__(self, "_sorted", ordered)

    def get(self, entry_id: str) -> Entry:
        """Return the entry with this id.

        Args:
            entry_id (str): The entry's id, ``namespace:name``.

        Raises:
            EntryNotFoundError: If no entry has this id in this snapshot.
        """
        try:
            return self._entries[entry_id]
        except KeyError:
            raise EntryNotFoundError(entry_id, self.version) from None

    def find(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        kind: str | None = None,
        ns: str | None = None,
        name: str | None = None,
        id: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> list[Entry]:
        """Return the entries matching every condition, sorted by id.

        See :func:`registry.Registry.find` for the filter syntax.

        Args:
            filter (Mapping[str, Any] | None): A Wippy-style filter, e.g.
                ``{"meta.type": "cron.job"}``; None for no filter.
            kind (str | None): Same as ``{".kind": kind}`` (``*`` globs allowed).
            ns (str | None): Same as ``{".ns": ns}``.
            name (str | None): Same as ``{".name": name}``.
            id (str | None): Same as ``{".id": id}``.
            meta (Mapping[str, Any] | None): Equality on meta fields: ``meta={"type":
                "cron.job"}`` is ``{"meta.type": "cron.job"}``.

        Raises:
            InvalidFilterError: If a filter key is unknown or a value has the wrong type.
        """
        predicate = compile_filter(filter, kind=kind, ns=ns, name=name, id=id, meta=meta)
        return [entry for entry in self._sorted if predicate(entry)]

    def entries(self) -> tuple[Entry, ...]:
        """Return every entry, sorted by id."""
        return self._sorted

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._sorted)

    def __len__(self) -> int:
        return len(self._sorted)


@final
@attrs.define(eq=False, repr=False)
class Changes:
    """A changeset under construction; nothing happens until :meth:`apply`.

    Operations are checked in order against the registry *at apply time*, so within one changeset
    a create followed by an update of the same id is fine, and so is a delete followed by a create.
    Each method returns the changeset, so calls chain::

        version = registry.changes().create(a).update(b).delete("app:old").apply()

    Made by :meth:`Registry.changes`.

    Args:
        registry (Registry): The registry :meth:`apply` changes.
        ops (list[tuple[Op, Entry | str]]): The operations so far (empty for a new changeset).
        applied (bool): Whether it was applied already (a second apply is refused).
    """

    _registry: Registry
    _ops: list[tuple[Op, Entry | str]] = attrs.field(factory=list)
    _applied: bool = False

    def create(self, entry: Entry) -> Changes:
        """Add an entry whose id must not exist yet (checked by :meth:`apply`).

        Args:
            entry (Entry): The new entry.

        Raises:
            TypeError: If ``entry`` is not an :class:`Entry`.
        """
        self._ops.append(("create", _check_entry(entry, "create")))
        return self

    def create_all(self, entries: Iterable[Entry]) -> Changes:
        """Add several entries, as :meth:`create` each (e.g. the result of ``load_dir``).

        Args:
            entries (Iterable[Entry]): The new entries.

        Raises:
            TypeError: If an item is not an :class:`Entry`.
        """
        for entry in entries:
            self.create(entry)
        return self

    def update(self, entry: Entry) -> Changes:
        """Replace the entry with the same id, which must exist (checked by :meth:`apply`).

        Args:
            entry (Entry): The new value of the entry.

        Raises:
            TypeError: If ``entry`` is not an :class:`Entry`.
        """
        self._ops.append(("update", _check_entry(entry, "update")))
        return self

    def delete(self, entry: Entry | str) -> Changes:
        """Remove the entry with this id (or with the given entry's id), which must exist.

        Whether it exists is checked by :meth:`apply`.

        Args:
            entry (Entry | str): The entry id, or an entry (only its id is used).

        Raises:
            TypeError: If ``entry`` is neither an id nor an :class:`Entry`.
        """
        entry_id = entry.id if isinstance(entry, Entry) else entry
        if not isinstance(entry_id, str):
            raise TypeError(f"delete() takes an entry id or an Entry, got {entry_id!r}")
        self._ops.append(("delete", entry_id))
        return self

    def apply(self) -> int:
        """Apply every change at once and return the new version.

        Raises:
            ChangesetError: a create of an existing id, an update or delete of a missing id, or
                a second apply; every conflict is listed and nothing is applied.
        """
        if self._applied:
            raise ChangesetError(["this changeset was already applied; start a new one"])
        version = self._registry._apply(self._ops)
        self._applied = True
        return version

    def __len__(self) -> int:
        return len(self._ops)


def _check_entry(entry: object, op: str) -> Entry:
    if not isinstance(entry, Entry):
        raise TypeError(f"{op}() takes an Entry, got {type(entry).__name__}")
    return entry


Subscriber = Callable[[Revision], object]


@final
@attrs.define(eq=False, repr=False)
class Registry:
    """A versioned set of entries: read with ``get``/``find``, change with ``changes()``.

    The registry starts empty at version 0; each applied changeset adds one to the version,
    records a :class:`Revision` in the history and is passed to every subscriber. It is not
    thread-safe: use it from the trio thread.
    """

    _current: Snapshot = attrs.field(factory=lambda: Snapshot(0, entries={}), init=False)
    _history: list[Revision] = attrs.field(factory=list, init=False)
    _subscribers: dict[int, Subscriber] = attrs.field(factory=dict, init=False)
    _next_token: int = attrs.field(default=0, init=False)
    _pending: deque[Revision] = attrs.field(factory=deque, init=False)
    _notifying: bool = attrs.field(default=False, init=False)

    @classmethod
    def from_entries(cls, entries: Iterable[Entry]) -> Registry:
        """Return a registry holding ``entries`` as version 1 (e.g. ``load_dir``'s result).

        Args:
            entries (Iterable[Entry]): The entries, with distinct ids.

        Raises:
            ChangesetError: If two entries have the same id.
            TypeError: If an item is not an :class:`Entry`.
        """
        registry = cls()
        registry.changes().create_all(entries).apply()
        return registry

    @property
    def version(self) -> int:
        """The current version; 0 before the first apply."""
        return self._current.version

    def get(self, entry_id: str) -> Entry:
        """Return the entry with this id.

        Args:
            entry_id (str): The entry's id, ``namespace:name``.

        Raises:
            EntryNotFoundError: If no entry has this id.
        """
        return self._current.get(entry_id)

    def find(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        kind: str | None = None,
        ns: str | None = None,
        name: str | None = None,
        id: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> list[Entry]:
        """Return the entries matching every condition, sorted by id.

        ``filter`` uses the Wippy syntax: ``{"meta.type": "cron.job"}`` (equality; a list value
        means "the entry's array contains all of these"), ``.kind``/``.ns``/``.name``/``.id``
        (exact, or a glob with ``*``), and the operators ``~`` regex, ``*`` substring, ``^``
        prefix and ``$`` suffix in front of a field (``{"^meta.interval": "1"}``). The keyword
        form adds conditions: ``find(kind="function", meta={"type": "cron.job"})``. No condition
        at all returns every entry.

        Args:
            filter (Mapping[str, Any] | None): A Wippy-style filter, e.g.
                ``{"meta.type": "cron.job"}``; None for no filter.
            kind (str | None): Same as ``{".kind": kind}`` (``*`` globs allowed).
            ns (str | None): Same as ``{".ns": ns}``.
            name (str | None): Same as ``{".name": name}``.
            id (str | None): Same as ``{".id": id}``.
            meta (Mapping[str, Any] | None): Equality on meta fields: ``meta={"type":
                "cron.job"}`` is ``{"meta.type": "cron.job"}``.

        Raises:
            InvalidFilterError: If a key is unknown (a key without ``.`` or ``meta.`` is never
                "match everything") or a value has the wrong type.
        """
        return self._current.find(filter, kind=kind, ns=ns, name=name, id=id, meta=meta)

    def snapshot(self) -> Snapshot:
        """Return an immutable view of the current version."""
        return self._current

    def snapshot_at(self, version: int) -> Snapshot:
        """Return the registry as it was at ``version`` (0 is empty), rebuilt from the history.

        Args:
            version (int): The version, 0 to :attr:`version`.

        Raises:
            TypeError: If ``version`` is not an int.
            ValueError: If the version does not exist (negative, or newer than the registry).
        """
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"version must be an int, got {version!r}")
        if not 0 <= version <= self.version:
            raise ValueError(
                f"version {version} does not exist; the registry is at version {self.version}"
            )
        if version == self.version:
            return self._current
        entries: dict[str, Entry] = {}
        for revision in self._history[:version]:
            for change in revision.changes:
                if change.entry is None:
                    del entries[change.id]
                else:
                    entries[change.id] = change.entry
        return Snapshot(version, entries=entries)

    def history(self) -> list[Revision]:
        """Return every applied changeset, oldest first (``history()[0].version == 1``)."""
        return list(self._history)

    def changes(self) -> Changes:
        """Start a changeset; see :class:`Changes`."""
        return Changes(self)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(revision)`` synchronously after every future apply; return unsubscribe.

        Subscribers run in subscription order, after the new version is visible. An exception
        from one is logged (logger ``registry``) and swallowed: it never undoes the apply or
        stops other subscribers. If a subscriber applies a changeset itself, that revision is
        delivered after the current one has reached every subscriber, so each subscriber sees
        versions in order. Calling the returned function more than once is harmless.

        Args:
            callback (Callable[[Revision], object]): Called with each new :class:`Revision`;
                what it returns is ignored.

        Returns:
            Callable[[], None]: Ends the subscription.
        """
        token = self._next_token
        self._next_token += 1
        self._subscribers[token] = callback

        def unsubscribe() -> None:
            self._subscribers.pop(token, None)

        return unsubscribe

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._current

    def __len__(self) -> int:
        return len(self._current)

    def __repr__(self) -> str:
        return f"<Registry version={self.version} entries={len(self)}>"

    def _apply(self, ops: list[tuple[Op, Entry | str]]) -> int:
        entries = dict(self._current._entries)
        changes: list[Change] = []
        problems: list[str] = []
        for index, (op, item) in enumerate(ops):
            entry_id = item if isinstance(item, str) else item.id
            previous = entries.get(entry_id)
            where = f"change {index + 1} ({op} {entry_id})"
            if op == "create" and previous is not None:
                problems.append(f"{where}: an entry with this id already exists")
            elif op != "create" and previous is None:
                problems.append(f"{where}: no entry with this id exists")
            elif isinstance(item, Entry):
                entries[entry_id] = item
                changes.append(Change(op, entry_id, item, previous))
            else:
                del entries[entry_id]
                changes.append(Change(op, entry_id, None, previous))
        if problems:
            raise ChangesetError(problems)
        version = self.version + 1
        self._current = Snapshot(version, entries=entries)
        revision = Revision(version, tuple(changes))
        self._history.append(revision)
        self._notify(revision)
        return version

    def _notify(self, revision: Revision) -> None:
        self._pending.append(revision)
        if self._notifying:
            return  # a subscriber applied a changeset; the outer loop delivers it in order
        self._notifying = True
        try:
            while self._pending:
                current = self._pending.popleft()
                for callback in list(self._subscribers.values()):
                    try:
                        callback(current)
                    except Exception:
                        logger.exception(
                            "registry subscriber %r failed on version %d", callback, current.version
                        )
        finally:
            self._notifying = False
