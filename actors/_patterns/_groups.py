"""Process groups (Erlang's ``pg``): named sets of processes, watched by join and leave events.

A node keeps one table: group name -> members in join order, process -> the groups it is in and
the groups it watches. Joining and leaving are dict operations (O(1)); a process is hooked into
the kernel's exit path (``on_exit``) once, at its first join or watch, and leaves only its own
groups when it ends (no scan of other members). Watchers get ``GroupEvent`` messages.

Group names are strings and events carry PIDs, so the same API can span nodes later
(actors.cluster), as ``pg`` scopes do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, final

import attrs
import trio

from .._core._exceptions import MailboxFull
from .._core._messages import Message
from ._state import node_of, process_of, state_of

if TYPE_CHECKING:
    from .._core._node import Node
    from .._core._pid import PID
    from .._core._process import Process

MAX_GROUP_NAME = 255
"""The longest group name accepted (characters)."""


@attrs.frozen
class GroupEvent:
    """What a group's watchers receive when processes join or leave it (the message payload)."""

    group: str
    """The group that changed."""
    kind: Literal["join", "leave"]
    """``"join"`` or ``"leave"`` (a member that exits leaves)."""
    pids: tuple[PID, ...]
    """The processes that joined or left."""
    at: float = 0.0
    """``trio.current_time()`` of the change."""


@attrs.frozen
class ProcessGroupStatistics:
    """What ``groups(...).statistics()`` reports about a node's group table."""

    groups: int
    """Groups with at least one member or watcher."""
    memberships: int
    """(group, member) pairs."""
    watches: int
    """(group, watcher) pairs."""
    events_dropped: int
    """``GroupEvent`` messages a full (``overflow="raise"``) watcher mailbox refused."""


class _Record:
    """One process's groups and watches; called at its exit (it is the exit hook itself)."""

    __slots__ = ("groups", "proc", "table", "watching")

    def __init__(self, table: GroupTable, proc: Process) -> None:
        self.table = table
        self.proc = proc
        self.groups: dict[str, None] = {}
        self.watching: dict[str, str] | None = None

    def __call__(self) -> None:
        self.table._exited(self.proc)


class GroupTable:
    """A node's groups: members in join order, watchers, and each process's record."""

    __slots__ = ("_members", "_node", "_records", "_watchers", "dropped")

    def __init__(self, node: Node) -> None:
        self._node = node
        self._members: dict[str, dict[Process, None]] = {}
        self._watchers: dict[str, dict[Process, str]] = {}
        self._records: dict[Process, _Record] = {}
        self.dropped = 0

    def _record(self, proc: Process) -> _Record:
        record = self._records.get(proc)
        if record is None:
            record = self._records[proc] = _Record(self, proc)
            proc.on_exit(record)
        return record

    def join(self, group: str, proc: Process) -> bool:
        """Add ``proc`` to ``group``; False if it was a member already."""
        record = self._record(proc)
        if group in record.groups:
            return False
        record.groups[group] = None
        members = self._members.get(group)
        if members is None:
            members = self._members[group] = {}
        members[proc] = None
        if group in self._watchers:
            self._notify(group, "join", (proc.pid,))
        return True

    def leave(self, group: str, proc: Process) -> bool:
        """Remove ``proc`` from ``group``; False if it was not a member."""
        record = self._records.get(proc)
        if record is None or group not in record.groups:
            return False
        del record.groups[group]
        self._drop_member(group, proc)
        return True

    def _drop_member(self, group: str, proc: Process) -> None:
        members = self._members[group]
        del members[proc]
        if not members:
            del self._members[group]
        if group in self._watchers:
            self._notify(group, "leave", (proc.pid,))

    def watch(self, group: str, proc: Process, topic: str) -> None:
        """Send ``GroupEvent`` messages on ``topic`` to ``proc`` when ``group`` changes."""
        record = self._record(proc)
        if record.watching is None:
            record.watching = {}
        record.watching[group] = topic
        watchers = self._watchers.get(group)
        if watchers is None:
            watchers = self._watchers[group] = {}
        watchers[proc] = topic

    def unwatch(self, group: str, proc: Process) -> bool:
        """Stop watching ``group``; False if ``proc`` was not watching it."""
        record = self._records.get(proc)
        if record is None or not record.watching or record.watching.pop(group, None) is None:
            return False
        self._drop_watcher(group, proc)
        return True

    def _drop_watcher(self, group: str, proc: Process) -> None:
        watchers = self._watchers[group]
        del watchers[proc]
        if not watchers:
            del self._watchers[group]

    def _exited(self, proc: Process) -> None:
        """The kernel's exit hook: ``proc`` leaves its groups and stops watching."""
        record = self._records.pop(proc, None)
        if record is None:
            return
        for group in record.watching or ():
            self._drop_watcher(group, proc)
        for group in record.groups:
            self._drop_member(group, proc)

    def _notify(self, group: str, kind: Literal["join", "leave"], pids: tuple[PID, ...]) -> None:
        event = GroupEvent(group, kind, pids, trio.current_time())
        for watcher, topic in tuple(self._watchers[group].items()):
            try:
                watcher._deliver(Message(topic, event, None))
            except MailboxFull:
                self.dropped += 1

    def members(self, group: str) -> tuple[Process, ...]:
        """The live members of ``group``, in join order."""
        members = self._members.get(group)
        return () if members is None else tuple(members)

    def member_count(self, group: str) -> int:
        """How many processes are in ``group``."""
        members = self._members.get(group)
        return 0 if members is None else len(members)

    def groups_of(self, proc: Process) -> tuple[str, ...]:
        """The groups ``proc`` is in, in the order it joined them."""
        record = self._records.get(proc)
        return () if record is None else tuple(record.groups)

    def statistics(self) -> ProcessGroupStatistics:
        """Counts over the whole table."""
        return ProcessGroupStatistics(
            groups=len(self._members.keys() | self._watchers.keys()),
            memberships=sum(len(m) for m in self._members.values()),
            watches=sum(len(w) for w in self._watchers.values()),
            events_dropped=self.dropped,
        )


def table_of(node: Node) -> GroupTable:
    """The node's group table (created on first use)."""
    state = state_of(node)
    table: GroupTable | None = state.groups
    if table is None:
        table = state.groups = GroupTable(node)
    return table


def check_group(group: object) -> str:
    """Return ``group`` if it is a valid group name, else raise ``ValueError`` naming it."""
    if type(group) is not str or not group or len(group) > MAX_GROUP_NAME:
        shown = repr(group) if len(repr(group)) <= 60 else repr(group)[:60] + "..."
        raise ValueError(
            f"group name must be a non-empty string of at most {MAX_GROUP_NAME} characters,"
            f" got {shown}"
        )
    return group


def check_topic(topic: object) -> str:
    """Return ``topic`` if it may name messages sent by the runtime (a group watcher's events,
    a pool's send), else raise ``ValueError`` naming it."""
    if type(topic) is not str or not topic or topic[0] == "@":
        raise ValueError(f"topic must be a non-empty string not starting with '@': {topic!r}")
    return topic


@final
class ProcessGroups:
    """A node's process groups, seen from a process (``pid`` defaults to it) or from a node.

    Get it with :func:`actors.groups`. A process may be in any number of groups; joining twice
    is joining once. A member leaves every group when it exits, before its monitors get its
    ``Exit``. Watchers (``monitor``) receive a ``GroupEvent`` message for every join and leave.

    Args:
        node (Node): The node whose groups these are.
        me (Process | None): The process ``pid`` defaults to; None when taken from a node.
    """

    __slots__ = ("_me", "_node", "_table")

    def __init__(self, node: Node, me: Process | None) -> None:
        self._node = node
        self._table = table_of(node)
        self._me = me

    def __repr__(self) -> str:
        return f"<ProcessGroups of {self._node!r}>"

    def _proc(self, pid: PID | str | None) -> Process:
        if pid is None:
            if self._me is None:
                raise TypeError("a pid is needed: these groups were taken from a node")
            return self._me
        proc = self._node._resolve(pid)
        if proc._is_remote:
            raise ValueError(f"process groups are local to a node: {pid} is on another node")
        return proc

    def join(self, group: str, pid: PID | str | None = None) -> bool:
        """Add ``pid`` (default: this process) to ``group``; False if it was in it already.

        Args:
            group (str): The group name.
            pid (PID | str | None): A PID or registered name on this node; None for the
                process these groups were taken from.

        Returns:
            bool: True if it joined, False if it was a member already.

        Raises:
            ValueError: If ``group`` is not a valid group name (a non-empty string of at most
                255 characters), or ``pid`` is on another node.
            TypeError: If ``pid`` is None and these groups were taken from a node.
            ProcessNotFound: If ``pid`` names no live process.
        """
        return self._table.join(check_group(group), self._proc(pid))

    def leave(self, group: str, pid: PID | str | None = None) -> bool:
        """Remove ``pid`` (default: this process) from ``group``; False if it was not in it.

        Args:
            group (str): The group name.
            pid (PID | str | None): A PID or registered name on this node; None for the
                process these groups were taken from.

        Raises:
            ValueError: If ``group`` is not a valid group name (a non-empty string of at most
                255 characters), or ``pid`` is on another node.
            TypeError: If ``pid`` is None and these groups were taken from a node.
            ProcessNotFound: If ``pid`` names no live process.
        """
        return self._table.leave(check_group(group), self._proc(pid))

    def members(self, group: str) -> tuple[PID, ...]:
        """The PIDs in ``group``, in join order (empty for an unknown group).

        Args:
            group (str): The group name.

        Raises:
            ValueError: If ``group`` is not a valid group name.
        """
        return tuple(proc.pid for proc in self._table.members(check_group(group)))

    def member_count(self, group: str) -> int:
        """How many processes are in ``group`` (O(1)).

        Args:
            group (str): The group name.

        Raises:
            ValueError: If ``group`` is not a valid group name.
        """
        return self._table.member_count(check_group(group))

    def which_groups(self) -> tuple[str, ...]:
        """The groups that have members."""
        return tuple(self._table._members)

    def groups_of(self, pid: PID | str | None = None) -> tuple[str, ...]:
        """The groups ``pid`` (default: this process) is in, in the order it joined them.

        Args:
            pid (PID | str | None): A PID or registered name on this node; None for the
                process these groups were taken from.

        Raises:
            ValueError: If ``pid`` is on another node.
            TypeError: If ``pid`` is None and these groups were taken from a node.
            ProcessNotFound: If ``pid`` names no live process.
        """
        return self._table.groups_of(self._proc(pid))

    def monitor(
        self, group: str, *, topic: str = "group", pid: PID | str | None = None
    ) -> tuple[PID, ...]:
        """Watch ``group``: ``pid`` (default: this process) gets a ``GroupEvent`` on ``topic``
        for each join and leave from now on. Return the current members (no event for them).

        Watching again changes the topic. A watch ends with ``demonitor`` or when the watcher
        exits. Events go through the watcher's mailbox policy: a full ``overflow="raise"``
        mailbox drops them (counted in ``statistics().events_dropped``).

        Args:
            group (str): The group name.
            topic (str): The topic of the ``GroupEvent`` messages (not starting with ``@``).
            pid (PID | str | None): A PID or registered name on this node; None for the
                process these groups were taken from (the watcher).

        Returns:
            tuple[PID, ...]: The members now, in join order.

        Raises:
            ValueError: If ``topic`` is empty, not a string or starts with ``@``, ``group``
                is not a valid group name, or ``pid`` is on another node.
            TypeError: If ``pid`` is None and these groups were taken from a node.
            ProcessNotFound: If ``pid`` names no live process.
        """
        check_topic(topic)
        name = check_group(group)
        self._table.watch(name, self._proc(pid), topic)
        return self.members(name)

    def demonitor(self, group: str, pid: PID | str | None = None) -> bool:
        """Stop watching ``group``; False if ``pid`` (default: this process) was not watching.

        Args:
            group (str): The group name.
            pid (PID | str | None): A PID or registered name on this node; None for the
                process these groups were taken from.

        Raises:
            ValueError: If ``group`` is not a valid group name (a non-empty string of at most
                255 characters), or ``pid`` is on another node.
            TypeError: If ``pid`` is None and these groups were taken from a node.
            ProcessNotFound: If ``pid`` names no live process.
        """
        return self._table.unwatch(check_group(group), self._proc(pid))

    def statistics(self) -> ProcessGroupStatistics:
        """Counts of groups, memberships and watches on this node."""
        return self._table.statistics()


def groups(where: Process | Node | None = None) -> ProcessGroups:
    """The process groups of a node: ``groups(proc)`` acts for ``proc`` by default.

    Args:
        where (Process | Node | None): A process handle (its node, with ``pid``
            defaulting to it), a node, or None for the current node.

    Raises:
        TypeError: If ``where`` is not a process handle, a node or None.
        RuntimeError: If ``where`` is None outside a running node.
    """
    node = node_of(where)
    return ProcessGroups(node, process_of(where))
