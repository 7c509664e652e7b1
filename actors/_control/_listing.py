"""Fill the ``names``, ``groups`` and ``pools`` replies from a node's tables (one sync step).

Sorted listings take the first ``limit`` with ``heapq.nsmallest`` (no sort of a 100,000-name
table for 20 rows); totals are always given. Group-wide names and spanning groups are read
from this node's replica (``node._remote``): what it knows, which is what a send resolves.
Bus subscription groups (an implementation detail of ``actors.bus``) are not listed as
groups; ``actors info`` shows them as subscriptions.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from typing import Any

from .._core._node import Node
from .._core._pid import PID
from .._patterns._pool import PoolState, _pool_worker
from .._supervision._supervisor import _Supervisor
from ._directory import (
    GroupRow,
    GroupsReply,
    GroupsRequest,
    MemberRow,
    NameRow,
    NamesReply,
    NamesRequest,
    PoolRow,
    PoolsReply,
    PoolsRequest,
)
from ._memberships import is_bus_group, local_table, node_group
from ._tree import Describe, _no_names, label, owners


def names(node: Node, request: NamesRequest, declared: Describe = _no_names) -> NamesReply:
    """The first ``limit`` local names and group-wide names, each sorted by name."""
    here = node.name or ""
    rows = [
        NameRow(name, "local", str(proc.pid), here, label(proc, declared))
        for name, proc in _first(node._names.items(), request.limit)
    ]
    group = node_group(node)
    table: dict[str, Any] = {} if group is None else group.names._table
    for name, claim in _first(table.items(), request.limit):
        pid: PID = claim.pid
        function = ""
        if pid.node == here:
            proc = node._procs.get(pid.seq)
            function = "" if proc is None else label(proc, declared)
        rows.append(NameRow(name, "group", str(pid), pid.node or "", function))
    return NamesReply(here, rows, len(node._names), len(table), group is not None)


def _first(items: Iterable[tuple[str, Any]], limit: int) -> list[tuple[str, Any]]:
    return heapq.nsmallest(limit, items, key=lambda item: item[0])


def groups(node: Node, request: GroupsRequest, declared: Describe = _no_names) -> GroupsReply:
    """Every group (both scopes, sorted by name), or ``request.group`` and its members."""
    local = local_table(node)
    group = node_group(node)
    scope = None if group is None else group._scope
    if request.group is not None:
        return _members(node, request.group, request.limit, declared)
    rows: list[GroupRow] = []
    total = 0
    if local is not None:
        every = local._members.keys() | local._watchers.keys()
        names = [g for g in every if not is_bus_group(node, g)]
        total += len(names)
        for name in heapq.nsmallest(request.limit, names):
            here = local.member_count(name)
            rows.append(GroupRow(name, "local", here, here, len(local._watchers.get(name, ()))))
    if scope is not None:
        span = scope.table
        spans = span._members.keys() | span._watchers.keys() | scope.remote.keys()
        total += len(spans)
        rows.extend(
            GroupRow(
                name,
                "spanning",
                scope.member_count(name),
                span.member_count(name),
                len(span._watchers.get(name, ())),
            )
            for name in heapq.nsmallest(request.limit, spans)
        )
    rows.sort(key=lambda row: (row.group, row.scope))
    return GroupsReply(node.name or "", "", rows[: request.limit], total, [], group is not None)


def _members(node: Node, name: str, limit: int, declared: Describe) -> GroupsReply:
    """``name`` in each scope it exists in, and the first ``limit`` members of each."""
    here = node.name or ""
    rows: list[GroupRow] = []
    members: list[MemberRow] = []
    local = local_table(node)
    known = local is not None and (name in local._members or name in local._watchers)
    if local is not None and known and not is_bus_group(node, name):
        count = local.member_count(name)
        rows.append(GroupRow(name, "local", count, count, len(local._watchers.get(name, ()))))
        chosen = itertools.islice(local._members.get(name, ()), limit)
        members.extend(_member(node, "local", proc.pid, declared) for proc in chosen)
    group = node_group(node)
    if group is not None:
        scope = group._scope
        span = scope.table
        if name in span._members or name in span._watchers or name in scope.remote:
            watchers = len(span._watchers.get(name, ()))
            count = scope.member_count(name)
            rows.append(GroupRow(name, "spanning", count, span.member_count(name), watchers))
            chosen_pids = itertools.islice(_spanning_members(scope, name, here), limit)
            members.extend(_member(node, "spanning", pid, declared) for pid in chosen_pids)
    return GroupsReply(here, name, rows, len(rows), members, group is not None)


def _spanning_members(scope: Any, name: str, here: str) -> Iterable[PID]:
    """The members of spanning group ``name``: by node name, each node's in join order."""
    nodes: dict[str, dict[PID, None]] = scope.remote.get(name, {})
    for node in sorted({here, *nodes}):
        if node == here:
            yield from (proc.pid for proc in scope.table._members.get(name, ()))
        else:
            yield from nodes[node]


def _member(node: Node, scope: str, pid: PID, declared: Describe) -> MemberRow:
    row = MemberRow(scope, str(pid), pid.node or node.name or "")
    proc = node._procs.get(pid.seq) if pid.node == node.name else None
    if proc is not None and proc.pid == pid:
        row.name = proc._names[0] if proc._names else ""
        row.function = label(proc, declared)
    return row


def pools(node: Node, request: PoolsRequest) -> PoolsReply:
    """The node's running pools, named ones first (by name), then by supervisor PID."""
    found: list[tuple[PID, PoolState]] = []
    for pid, state in owners(node).items():
        if isinstance(state, _Supervisor) and state.children:
            spec = state.children[0].spec
            if spec.fn is _pool_worker and spec.args and isinstance(spec.args[0], PoolState):
                found.append((pid, spec.args[0]))
    found.sort(key=lambda item: (item[1].name is None, item[1].name or "", item[0].seq))
    rows = []
    for pid, pool in found[: request.limit]:
        queues = [len(proc._inbox or ()) for proc in pool.live.values()]
        rows.append(
            PoolRow(
                name=pool.name or "",
                supervisor=str(pid),
                routing=pool.routing,
                size=pool.size,
                live=len(pool.live),
                routed=pool.routed,
                unrouted=pool.unrouted,
                queued=sum(queues),
                longest=max(queues, default=0),
            )
        )
    return PoolsReply(node.name or "", rows, len(found))
