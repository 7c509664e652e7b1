"""What a process belongs to: group-wide names, process groups, watches, bus subscriptions.

Each answer costs O(the process's own memberships): the group tables keep a record per
process (``GroupTable._records``) and the group-wide names an owner index
(``GlobalNames._owners``), so nothing scans every group or name. The node group is read
through ``node._remote`` (``actors.cluster`` is a higher layer; this module does not import
it); a node outside a group has no group-wide names and no spanning groups. Nothing here
creates state: a node whose groups or bus were never used answers with empty lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from .._core._node import Node
    from .._core._process import Process
    from .._patterns._groups import GroupTable

BUS_PREFIX = "bus\x1f"
"""The event bus keeps each (pattern, topic) as a local group whose name starts so."""


def local_table(node: Node) -> GroupTable | None:
    """The node's table of ``actors.groups`` (None when no group was ever used)."""
    state = node._patterns
    return None if state is None else state.groups


def node_group(node: Node) -> Any:
    """The node's ``NodeGroup`` (``actors.cluster``), or None outside a node group."""
    return node._remote


def spanning_table(node: Node) -> GroupTable | None:
    """The table of the local members of spanning groups (None outside a node group)."""
    group = node_group(node)
    return None if group is None else group._scope.table


def global_holders(node: Node) -> Mapping[Process, Collection[str]]:
    """The processes of this node holding group-wide names, and their names (empty outside a
    node group): the index ``GlobalNames`` keeps by holder, kept in step with the table."""
    group = node_group(node)
    return {} if group is None else group.names._owners


def global_names_of(node: Node, proc: Process) -> list[str]:
    """The group-wide names ``proc`` holds, sorted (checked against the replica)."""
    group = node_group(node)
    if group is None:
        return []
    names = group.names
    owned = names._owners.get(proc, ())
    table = names._table
    return sorted(n for n in owned if n in table and table[n].pid == proc.pid)


def is_bus_group(node: Node, group: str) -> bool:
    """Whether ``group`` is one of the event bus's subscription groups."""
    if not group.startswith(BUS_PREFIX):
        return False
    state = node._patterns
    bus = None if state is None else state.bus
    return bus is not None and group in bus._patterns


def groups_of(node: Node, proc: Process) -> list[str]:
    """The local groups ``proc`` is in, in the order it joined them (bus groups left out)."""
    table = local_table(node)
    record = None if table is None else table._records.get(proc)
    if record is None:
        return []
    return [g for g in record.groups if not is_bus_group(node, g)]


def spanning_of(node: Node, proc: Process) -> list[str]:
    """The spanning groups ``proc`` is in, in the order it joined them."""
    table = spanning_table(node)
    record = None if table is None else table._records.get(proc)
    return [] if record is None else list(record.groups)


def watching_of(node: Node, proc: Process) -> list[str]:
    """The groups ``proc`` watches (``monitor``): ``name``, or ``name (spanning)``."""
    watched: list[str] = []
    for table, suffix in ((local_table(node), ""), (spanning_table(node), " (spanning)")):
        record = None if table is None else table._records.get(proc)
        if record is not None and record.watching:
            watched.extend(group + suffix for group in record.watching)
    return watched


def subscriptions_of(node: Node, proc: Process) -> list[str]:
    """The bus subscriptions of ``proc``: ``system kind path -> topic`` each."""
    table = local_table(node)
    record = None if table is None else table._records.get(proc)
    state = node._patterns
    bus = None if state is None else state.bus
    if record is None or bus is None:
        return []
    found = []
    for group in record.groups:
        pattern = bus._patterns.get(group) if group.startswith(BUS_PREFIX) else None
        if pattern is not None:
            system, kind, path = pattern.key
            found.append(f"{system} {kind} {path} -> {pattern.topic}")
    return found
