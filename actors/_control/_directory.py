"""``actors names``, ``groups`` and ``pools``: their requests, replies and plain-text output.

The reading counterparts of Erlang's ``registered()``/``global:registered_names()``,
``pg:which_groups()``/``pg:get_members()`` and a pool's statistics. Requests and replies are
msgspec structs (the client imports no trio); ``_listing.py`` fills the replies on the node.
Names and group names are the user's strings: the text output escapes what is not printable,
so a name cannot move the cursor or change the terminal's colours.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ._runtime import NodeEntry

MAX_LISTED = 10_000
"""The most rows of each kind one reply carries (``--limit``; the totals are always given)."""
GROUP_NAME = 255
"""The longest group name a request may carry (as ``actors.groups`` accepts)."""

Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LISTED)]


class NamesRequest(msgspec.Struct, tag="names", forbid_unknown_fields=True):
    """The node's registered names and the group-wide names of its replica, sorted."""

    limit: Limit = 1000
    """At most this many local names, and this many group-wide names."""


class NameRow(msgspec.Struct):
    """One registered name and the process holding it."""

    name: str
    scope: str
    """``local`` (``node.register``, a service's name) or ``group`` (``group.names``)."""
    pid: str
    node: str
    """The node the holder runs on (``""``: this node, unnamed)."""
    function: str = ""
    """The holder's declared function when it runs on the answering node, else ``""``."""


class NamesReply(msgspec.Struct, tag="names"):
    """What ``NamesRequest`` gets."""

    node: str
    rows: list[NameRow]
    local_total: int
    group_total: int
    """Group-wide names in this node's replica (every node's); 0 outside a node group."""
    in_group: bool
    """Whether the node is in a node group (``group.names`` exists)."""


GroupName = Annotated[str, msgspec.Meta(min_length=1, max_length=GROUP_NAME)]


class GroupsRequest(msgspec.Struct, tag="groups", forbid_unknown_fields=True):
    """The process groups (``group`` empty), or one group's members in both scopes."""

    group: GroupName | None = None
    limit: Limit = 1000
    """At most this many groups, or members of each scope."""


class GroupRow(msgspec.Struct):
    """One group in one scope."""

    group: str
    scope: str
    """``local`` (``actors.groups``) or ``spanning`` (``actors.cluster.spanning_groups``)."""
    members: int
    """Members on every node, as this node knows them (``local``: its own)."""
    here: int
    """Members on this node."""
    watchers: int
    """Processes of this node watching it (``monitor``)."""


class MemberRow(msgspec.Struct):
    """One member of the requested group."""

    scope: str
    pid: str
    node: str
    name: str = ""
    """Its first registered name, when it runs on the answering node."""
    function: str = ""
    """Its declared function, when it runs on the answering node."""


class GroupsReply(msgspec.Struct, tag="groups"):
    """What ``GroupsRequest`` gets: ``rows`` of every group, or of ``group`` and its members."""

    node: str
    group: str
    rows: list[GroupRow]
    total: int
    """Groups in all (a listing), or the scopes ``group`` exists in."""
    members: list[MemberRow] = []
    in_group: bool = False


class PoolsRequest(msgspec.Struct, tag="pools", forbid_unknown_fields=True):
    """The node's running pools (``actors.start_pool``), named or not."""

    limit: Limit = 1000


class PoolRow(msgspec.Struct):
    """One pool: its supervisor, routing, slots and the queues of its live workers."""

    name: str
    supervisor: str
    routing: str
    size: int
    live: int
    routed: int
    unrouted: int
    queued: int
    """Messages waiting in the live workers' inboxes."""
    longest: int
    """The longest of those inboxes."""


class PoolsReply(msgspec.Struct, tag="pools"):
    """What ``PoolsRequest`` gets."""

    node: str
    rows: list[PoolRow]
    total: int


def shown(text: str) -> str:
    """``text`` as is when printable, else its ``repr`` (escapes instead of control bytes)."""
    return text if text.isprintable() else repr(text)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    table = [header, *rows]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        for cells in table
    ]


def _more(shown_rows: int, total: int, what: str, where: str = "") -> list[str]:
    if total <= shown_rows:
        return []
    return [f"({where}{shown_rows:,} of {total:,} {what} shown; --limit N for more)"]


def format_names(replies: list[tuple[NodeEntry | None, NamesReply]]) -> str:
    """The ``names`` table: ``NAME SCOPE NODE PID FUNCTION``; a group-wide name once, however
    many nodes' replicas hold it (a name two replicas give two holders shows twice)."""
    rows: list[tuple[str, ...]] = []
    wide: dict[tuple[str, str], tuple[str, ...]] = {}
    notes: list[str] = []
    for entry, reply in replies:
        here = entry.label if entry is not None else (reply.node or "-")
        where = f"{here}: " if len(replies) > 1 else ""
        local = [r for r in reply.rows if r.scope == "local"]
        held = [r for r in reply.rows if r.scope == "group"]
        rows.extend((shown(r.name), "local", here, r.pid, r.function or "-") for r in local)
        for row in held:  # the holder's node knows its function: its row wins
            if (row.name, row.pid) not in wide or row.function:
                cells = (shown(row.name), "group", row.node, row.pid, row.function or "-")
                wide[row.name, row.pid] = cells
        notes += _more(len(local), reply.local_total, "local names", where)
        notes += _more(len(held), reply.group_total, "group-wide names", where)
    rows.extend(wide.values())
    rows.sort(key=lambda cells: (cells[1] != "local", cells[0], cells[2]))
    header = ("NAME", "SCOPE", "NODE", "PID", "FUNCTION")
    lines = _table(header, rows) if rows else ["(no registered names)"]
    return "\n".join([*lines, *notes]) + "\n"


def format_groups(replies: list[tuple[NodeEntry | None, GroupsReply]]) -> str:
    """The ``groups`` table, or with a group its members. A spanning group is listed once
    (members as the nodes' replicas count them: ``5-6`` when they disagree)."""
    if replies and replies[0][1].group:
        return _format_members(replies)
    local: list[tuple[str, ...]] = []
    spanning: dict[str, list[GroupRow]] = {}
    notes: list[str] = []
    for entry, reply in replies:
        here = entry.label if entry is not None else (reply.node or "-")
        for row in reply.rows:
            if row.scope == "local":
                cells = (shown(row.group), "local", here, str(row.members), str(row.watchers))
                local.append(cells)
            else:
                spanning.setdefault(row.group, []).append(row)
        where = f"{here}: " if len(replies) > 1 else ""
        notes += _more(len(reply.rows), reply.total, "groups", where)
    rows = sorted(local)
    for group, views in sorted(spanning.items()):
        counts = sorted({view.members for view in views})
        members = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        watchers = sum(view.watchers for view in views)
        rows.append((shown(group), "spanning", "*", members, str(watchers)))
    header = ("GROUP", "SCOPE", "NODE", "MEMBERS", "WATCHERS")
    lines = _table(header, rows) if rows else ["(no process groups)"]
    return "\n".join([*lines, *notes]) + "\n"


def _format_members(replies: list[tuple[NodeEntry | None, GroupsReply]]) -> str:
    group = replies[0][1].group
    found: dict[tuple[str, str, str], tuple[str, ...]] = {}
    notes: list[str] = []
    scopes: dict[str, list[int]] = {}
    for entry, reply in replies:
        here = entry.label if entry is not None else (reply.node or "-")
        for member in reply.members:
            node = here if member.scope == "local" else member.node
            key = (member.scope, node, member.pid)
            known = found.get(key)
            if known is None or (known[4] == "-" and member.function):
                name, function = shown(member.name) or "-", member.function or "-"
                found[key] = (member.scope, node, member.pid, name, function)
        for row in reply.rows:
            scopes.setdefault(row.scope, []).append(row.members)
            listed = sum(1 for m in reply.members if m.scope == row.scope)
            notes += _more(listed, row.members, f"{row.scope} members", f"{here}: ")
    if not scopes:
        return f"no process group {shown(group)}\n"
    header = ("SCOPE", "NODE", "PID", "NAME", "FUNCTION")
    lines = [f"group {shown(group)}", *_table(header, sorted(found.values()))]
    return "\n".join([*lines, *notes]) + "\n"


def _pool_cells(p: PoolRow, here: str) -> tuple[str, ...]:
    counts = (f"{p.live}/{p.size}", str(p.queued), str(p.longest), str(p.routed), str(p.unrouted))
    return (shown(p.name) or "-", here, p.supervisor, p.routing, *counts)


def format_pools(replies: list[tuple[NodeEntry | None, PoolsReply]]) -> str:
    """The ``pools`` table: one row per pool of each node."""
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for entry, reply in replies:
        here = entry.label if entry is not None else (reply.node or "-")
        rows.extend(_pool_cells(p, here) for p in reply.rows)
        where = f"{here}: " if len(replies) > 1 else ""
        notes += _more(len(reply.rows), reply.total, "pools", where)
    header = ("POOL", "NODE", "SUPERVISOR", "ROUTING", "LIVE", "MQ", "MAXMQ", "ROUTED", "UNROUTED")
    lines = _table(header, rows) if rows else ["(no pools)"]
    return "\n".join([*lines, *notes]) + "\n"
