"""Process groups that span the nodes of a node group (Erlang's ``pg``, one scope per group).

Each node owns the memberships of its own processes, kept in a ``GroupTable`` of its own
(the table of ``actors.groups``, in a separate scope) that gossips every join and leave to
the peers (``GroupJoin``, ``GroupLeave``). A node keeps the memberships it heard of, per
peer; when a peer comes up the two send each other all their memberships (``Sync``
batches, ``_sync.py``), when it goes down every membership of its processes is dropped.
Watchers of a group get a ``GroupEvent`` for every join and leave, local or remote.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, final

from .._core._pid import PID
from .._patterns._groups import GroupTable, ProcessGroupStatistics, check_group, check_topic
from .._patterns._state import node_of, process_of
from . import _wire

if TYPE_CHECKING:
    from .._core._node import Node
    from .._core._process import Process
    from ._group import NodeGroup

__all__ = ["GroupScope", "SpanningGroups", "spanning_groups"]

logger = logging.getLogger("actors.cluster")

MAX_MEMBERSHIPS_PER_NODE = 1_000_000
"""The most (group, member) pairs kept for one peer (its joins beyond it are dropped)."""


class _SpanTable(GroupTable):
    """The local memberships, told to the peers as they change."""

    __slots__ = ("_scope",)

    def __init__(self, scope: GroupScope) -> None:
        super().__init__(scope._group.node)
        self._scope = scope

    def join(self, group: str, proc: Process) -> bool:
        joined = super().join(group, proc)
        if joined:
            self._scope._group._broadcast(_wire.GroupJoin(group, [proc.pid]))
        return joined

    def _drop_member(self, group: str, proc: Process) -> None:
        super()._drop_member(group, proc)
        self._scope._group._broadcast(_wire.GroupLeave(group, [proc.pid]))


class GroupScope:
    """The spanning groups of one node group: local table plus the peers' memberships."""

    def __init__(self, group: NodeGroup) -> None:
        self._group = group
        self.table = _SpanTable(self)
        # group -> peer -> its members in join order
        self.remote: dict[str, dict[str, dict[PID, None]]] = {}
        self._counts: dict[str, int] = {}
        self.dropped_frames = 0

    def _notify(self, group: str, kind: Literal["join", "leave"], pids: Iterable[PID]) -> None:
        pids = tuple(pids)
        if pids and group in self.table._watchers:
            self.table._notify(group, kind, pids)

    def on_join(self, peer: str, frame: _wire.GroupJoin) -> None:
        """Processes of ``peer`` joined ``frame.group`` (bounded, checked)."""
        if not self._valid(peer, frame):
            return
        members = self.remote.setdefault(frame.group, {}).setdefault(peer, {})
        added = []
        for pid in frame.pids:
            if pid not in members:
                if self._counts.get(peer, 0) >= MAX_MEMBERSHIPS_PER_NODE:
                    self._refuse(peer, frame, f"over {MAX_MEMBERSHIPS_PER_NODE} memberships")
                    break
                members[pid] = None
                self._counts[peer] = self._counts.get(peer, 0) + 1
                added.append(pid)
        if not members:
            self._forget(frame.group, peer)
        self._notify(frame.group, "join", added)

    def on_leave(self, peer: str, frame: _wire.GroupLeave) -> None:
        """Processes of ``peer`` left ``frame.group``."""
        members = self.remote.get(frame.group, {}).get(peer)
        if members is None:
            return
        removed = [pid for pid in frame.pids if members.pop(pid, 0) is None]
        self._counts[peer] -= len(removed)
        if not members:
            self._forget(frame.group, peer)
        self._notify(frame.group, "leave", removed)

    def _valid(self, peer: str, frame: _wire.GroupJoin) -> bool:
        try:
            check_group(frame.group)
        except ValueError as error:
            self._refuse(peer, frame, str(error))
            return False
        for pid in frame.pids:
            if pid.node != peer:
                self._refuse(peer, frame, f"{pid} is not a process of {peer!r}")
                return False
        return True

    def _refuse(self, peer: str, frame: _wire.GroupJoin, why: str) -> None:
        self.dropped_frames += 1
        logger.warning(
            "group join dropped peer=%s group=%.60r why=%s", peer, frame.group, why[:200]
        )

    def _forget(self, group: str, peer: str) -> None:
        nodes = self.remote.get(group)
        if nodes is not None:
            nodes.pop(peer, None)
            if not nodes:
                del self.remote[group]

    def peer_down(self, peer: str) -> None:
        """Drop every membership of ``peer``'s processes; watchers get ``leave`` events."""
        self._counts.pop(peer, None)
        for name in [name for name, nodes in self.remote.items() if peer in nodes]:
            pids = self.remote[name].pop(peer)
            if not self.remote[name]:
                del self.remote[name]
            self._notify(name, "leave", pids)

    def members(self, group: str) -> tuple[PID, ...]:
        here = self._group.name
        nodes = self.remote.get(group, {})
        out: list[PID] = []
        for node in sorted({here, *nodes}):
            if node == here:
                out.extend(proc.pid for proc in self.table.members(group))
            else:
                out.extend(nodes[node])
        return tuple(out)

    def member_count(self, group: str) -> int:
        nodes = self.remote.get(group)
        remote = 0 if nodes is None else sum(len(pids) for pids in nodes.values())
        return self.table.member_count(group) + remote

    def statistics(self) -> ProcessGroupStatistics:
        local = self.table.statistics()
        names = self.table._members.keys() | self.table._watchers.keys() | self.remote.keys()
        return ProcessGroupStatistics(
            groups=len(names),
            memberships=local.memberships + sum(self._counts.values()),
            watches=local.watches,
            events_dropped=local.events_dropped,
        )


@final
class SpanningGroups:
    """Process groups spanning the node group, seen from a process or from the node.

    Get it with :func:`spanning_groups` (``spanning_groups(proc)`` acts for ``proc``).
    The API is that of :class:`actors.ProcessGroups`; ``members`` lists the PIDs of every
    node (sorted by node name, each node's in join order) as this node knows them. Only
    local processes join, leave and watch; a member of a node that goes down leaves (its
    watchers get a ``leave`` event), and rejoins when the node comes back (``join``).

    Args:
        scope (GroupScope): The node group's table of spanning groups.
        me (Process | None): The process it acts for when a ``pid`` is omitted (None: the
            node; then every call needs a ``pid``).
    """

    __slots__ = ("_me", "_scope")

    def __init__(self, scope: GroupScope, me: Process | None) -> None:
        self._scope = scope
        self._me = me

    def __repr__(self) -> str:
        return f"<SpanningGroups of {self._scope._group.name}>"

    def _proc(self, pid: PID | str | None) -> Process:
        if pid is None:
            if self._me is None:
                raise TypeError("a pid is needed: these groups were taken from the node group")
            return self._me
        proc = self._scope._group.node._resolve(pid)
        if proc._is_remote:
            raise ValueError(f"only a local process joins, leaves or watches: {pid} is remote")
        return proc

    def join(self, group: str, pid: PID | str | None = None) -> bool:
        """Add ``pid`` (default: this process) to ``group`` and tell the peers.

        Args:
            group (str): A group name (at most 255 characters).
            pid (PID | str | None): A local process (default: this process).

        Returns:
            False if it was a member already.

        Raises:
            ProcessNotFound: If ``pid`` is not a live process.
            ValueError: If ``group`` is invalid or ``pid`` is on another node.
        """
        return self._scope.table.join(check_group(group), self._proc(pid))

    def leave(self, group: str, pid: PID | str | None = None) -> bool:
        """Remove ``pid`` (default: this process) from ``group`` and tell the peers.

        Args:
            group (str): A group name.
            pid (PID | str | None): A local process (default: this process).

        Returns:
            False if it was not a member.

        Raises:
            ProcessNotFound: If ``pid`` is not a live process.
            ValueError: If ``group`` is invalid or ``pid`` is on another node.
        """
        return self._scope.table.leave(check_group(group), self._proc(pid))

    def members(self, group: str) -> tuple[PID, ...]:
        """The PIDs in ``group`` on every node (empty for an unknown group).

        Args:
            group (str): A group name.

        Raises:
            ValueError: If ``group`` is invalid.
        """
        return self._scope.members(check_group(group))

    def member_count(self, group: str) -> int:
        """How many processes of every node are in ``group``.

        Args:
            group (str): A group name.

        Raises:
            ValueError: If ``group`` is invalid.
        """
        return self._scope.member_count(check_group(group))

    def which_groups(self) -> tuple[str, ...]:
        """The groups with members on any node, sorted."""
        return tuple(sorted(self._scope.table._members.keys() | self._scope.remote.keys()))

    def groups_of(self, pid: PID | str | None = None) -> tuple[str, ...]:
        """The groups ``pid`` (default: this process; a remote PID is looked up) is in.

        Args:
            pid (PID | str | None): A process of any node (default: this process).

        Raises:
            ProcessNotFound: If ``pid`` is a local name or PID that is not alive.
        """
        if type(pid) is PID and pid.node not in (None, self._scope._group.name):
            node = pid.node
            return tuple(
                name for name, nodes in self._scope.remote.items() if pid in nodes.get(node, {})
            )
        return self._scope.table.groups_of(self._proc(pid))

    def monitor(
        self, group: str, *, topic: str = "group", pid: PID | str | None = None
    ) -> tuple[PID, ...]:
        """Watch ``group`` on every node: ``pid`` gets a ``GroupEvent`` on ``topic`` per change.

        A node going down makes its members leave (a ``leave`` event), its coming
        back makes them join. Watching again changes the topic.

        Args:
            group (str): A group name.
            topic (str): The topic of the ``GroupEvent`` messages.
            pid (PID | str | None): The local watcher (default: this process).

        Returns:
            The current members (no event for them).

        Raises:
            ValueError: If ``group`` or ``topic`` is invalid, or ``pid`` is remote.
            ProcessNotFound: If ``pid`` is not a live process.
        """
        check_topic(topic)
        name = check_group(group)
        self._scope.table.watch(name, self._proc(pid), topic)
        return self._scope.members(name)

    def demonitor(self, group: str, pid: PID | str | None = None) -> bool:
        """Stop watching ``group``; False if ``pid`` (default: this process) was not watching.

        Args:
            group (str): A group name.
            pid (PID | str | None): The local watcher (default: this process).

        Raises:
            ValueError: If ``group`` is invalid.
        """
        return self._scope.table.unwatch(check_group(group), self._proc(pid))

    def statistics(self) -> ProcessGroupStatistics:
        """Counts of groups, memberships (of every node) and local watches."""
        return self._scope.statistics()


def spanning_groups(where: Process | Node | None = None) -> SpanningGroups:
    """The process groups spanning the node group of a node: ``spanning_groups(proc)`` acts
    for ``proc`` by default (as :func:`actors.groups` does on one node).

    Args:
        where (Process | Node | None): A process handle (its node, with ``pid`` defaulting
            to it), a node, or None for the current node.

    Raises:
        RuntimeError: If the node is not in a node group.
    """
    node = node_of(where)
    group = node._remote
    if group is None:
        raise RuntimeError("this node is not in a node group; use actors.cluster.open_node_group()")
    return SpanningGroups(group._scope, process_of(where))
