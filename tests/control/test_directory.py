"""``actors info``'s memberships, ``names``, ``groups`` and ``pools``, read straight from nodes
of an in-memory node group under virtual time (the replies and their text)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import trio

import actors
from actors._control import _listing, _snapshot
from actors._control._directory import (
    GroupRow,
    GroupsReply,
    GroupsRequest,
    NameRow,
    NamesReply,
    NamesRequest,
    PoolsRequest,
    format_groups,
    format_names,
    format_pools,
)
from actors._control._format import format_info, format_ps_nodes
from actors._control._protocol import (
    ErrorReply,
    InfoReply,
    InfoRequest,
    PsRequest,
    StateRequest,
)
from actors._control._runtime import NodeEntry
from actors._control._server import ControlServer
from actors.cluster import MemoryNetwork, open_node_group, spanning_groups
from actors.testing import TestNode


async def idle(proc: actors.Process) -> None:
    """Wait for a Cancel; never read the inbox (messages stay queued)."""
    await proc.events.receive()


@asynccontextmanager
async def nodes(*names: str) -> AsyncIterator[dict[str, Any]]:
    """Named nodes joined in one in-memory node group: their ``NodeGroup`` by name."""
    network = MemoryNetwork()
    async with AsyncExitStack() as stack:
        found: dict[str, Any] = {}
        for name in names:
            node = await stack.enter_async_context(actors.open_node(name=name, shutdown_grace=1))
            found[name] = await stack.enter_async_context(
                open_node_group(node, network.transport(name))
            )
        await trio.sleep(1)
        yield found


def entry(label: str) -> NodeEntry:
    return NodeEntry(socket=f"/x/{label}.sock", node=label, app="", pid=1, started=0.0)


async def test_info_lists_what_the_process_belongs_to() -> None:
    async with nodes("a", "b") as g:
        a = g["a"].node
        proc = a.spawn(idle, name="keeper")
        watcher = a.spawn(idle)
        g["a"].names.register("db", proc)
        g["a"].names.register("cache", proc)
        for group in ("workers", "readers"):
            actors.groups(a).join(group, proc)
        actors.groups(a).monitor("workers", pid=watcher)
        spanning_groups(a).monitor("jobs", pid=watcher)
        spanning_groups(a).join("jobs", proc)
        actors.bus(a).subscribe("users", "created", "/u/*", topic="new", pid=proc)
        await trio.sleep(1)
        info = _snapshot.info(a, InfoRequest("keeper"), None)
        assert info.names == ["keeper"]
        assert info.global_names == ["cache", "db"]
        assert info.groups == ["workers", "readers"]  # join order; the bus group left out
        assert info.spanning_groups == ["jobs"]
        assert info.subscriptions == ["users created /u/* -> new"]
        assert info.watching == [] and info.cut == {}
        seen = _snapshot.info(a, InfoRequest(str(watcher)), None)
        assert seen.watching == ["workers", "jobs (spanning)"] and seen.groups == []
        text = format_info(info)
        assert "global     cache@*, db@*\n" in text
        assert "groups     workers, readers\n" in text
        assert "spanning   jobs\n" in text
        assert "bus        users created /u/* -> new\n" in text
        g["a"].names.unregister("cache")
        cut = _snapshot.info(a, InfoRequest("keeper", limit=1), None)
        assert cut.global_names == ["db"] and cut.groups == ["workers"]
        assert cut.cut == {"groups": 2}
        assert "groups     2 (first 1: workers, ...)" in format_info(cut)


async def test_info_reads_only_the_process_own_memberships() -> None:
    """A process's groups come from its own record, not from a scan of every group."""

    class Unlistable(dict):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            raise AssertionError("scanned every group")

        keys = values = items = __iter__

    async with nodes("a") as g:
        a = g["a"].node
        proc = a.spawn(idle)
        actors.groups(a).join("one", proc)
        spanning_groups(a).join("two", proc)
        await trio.sleep(1)
        local = a._patterns.groups
        span = g["a"]._scope
        local._members = Unlistable(local._members)
        span.table._members = Unlistable(span.table._members)
        span.remote = Unlistable(span.remote)
        g["a"].names._table = Unlistable(g["a"].names._table)
        g["a"].names.register("n", proc)
        info = _snapshot.info(a, InfoRequest(str(proc)), None)
        assert (info.groups, info.spanning_groups, info.global_names) == (["one"], ["two"], ["n"])


async def test_info_outside_a_node_group(actors_node: TestNode) -> None:
    tn = actors_node
    pid = tn.spawn(idle)
    actors.groups(tn.node).join("solo", pid)
    info = _snapshot.info(tn.node, InfoRequest(str(pid)), None)
    assert (info.groups, info.global_names, info.spanning_groups) == (["solo"], [], [])
    reply = _listing.names(tn.node, NamesRequest())
    assert not reply.in_group and reply.group_total == 0
    listed = _listing.groups(tn.node, GroupsRequest())
    assert [(r.group, r.scope, r.members) for r in listed.rows] == [("solo", "local", 1)]


async def test_ps_shows_a_group_wide_name_once_across_the_nodes() -> None:
    """Only the holder's node reports it (in its own row), so ``ps --all`` lists it once."""
    async with nodes("a", "b") as g:
        holder = g["a"].node.spawn(idle)
        named = g["a"].node.spawn(idle, name="local-name")
        g["a"].names.register("db", holder)
        g["a"].names.register("zz", named)  # a local name goes first
        await trio.sleep(1)
        replies = [
            (entry(name), _snapshot.ps(g[name].node, PsRequest(limit=100), None, 0.0))
            for name in ("a", "b")
        ]
        rows = {row.pid: row.name for row in replies[0][1].rows}
        assert rows[str(holder)] == "db@*" and rows[str(named)] == "local-name"
        assert all(row.name == "" for row in replies[1][1].rows)
        assert format_ps_nodes(replies).count("db@*") == 1


async def test_names_local_and_group_wide() -> None:
    async with nodes("a", "b") as g:
        a, b = g["a"].node, g["b"].node
        on_a = a.spawn(idle, name="alpha")
        a.register("beta", on_a)
        on_b = b.spawn(idle)
        g["a"].names.register("db", on_a)
        g["b"].names.register("cache", on_b)
        await trio.sleep(1)
        reply = _listing.names(a, NamesRequest())
        assert reply.in_group and (reply.local_total, reply.group_total) == (2, 2)
        fn = f"{__name__}.idle"
        assert reply.rows == [
            NameRow("alpha", "local", str(on_a), "a", fn),
            NameRow("beta", "local", str(on_a), "a", fn),
            NameRow("cache", "group", str(on_b), "b", ""),  # held on b: a knows no more
            NameRow("db", "group", str(on_a), "a", fn),
        ]
        cut = _listing.names(a, NamesRequest(limit=1))
        assert [r.name for r in cut.rows] == ["alpha", "cache"]
        assert "(1 of 2 local names shown; --limit N for more)" in format_names([(None, cut)])
        both = [(entry("a"), reply), (entry("b"), _listing.names(b, NamesRequest()))]
        text = format_names(both)
        lines = text.splitlines()
        assert lines[0].split() == ["NAME", "SCOPE", "NODE", "PID", "FUNCTION"]
        assert [line.split()[0] for line in lines[1:]] == ["alpha", "beta", "cache", "db"]
        assert lines[3].split() == ["cache", "group", "b", str(on_b), fn]  # b's own view


def test_names_two_replicas_that_disagree_show_both_holders() -> None:
    one = NamesReply("a", [NameRow("db", "group", "{a|0x1}", "a")], 0, 1, True)
    two = NamesReply("b", [NameRow("db", "group", "{b|0x1}", "b")], 0, 1, True)
    same = NamesReply("c", [NameRow("db", "group", "{a|0x1}", "a")], 0, 1, True)
    text = format_names([(entry("a"), one), (entry("b"), two), (entry("c"), same)])
    assert text.count("db ") == 2
    assert format_names([]) == "(no registered names)\n"


async def test_groups_listing_and_members() -> None:
    async with nodes("a", "b") as g:
        a, b = g["a"].node, g["b"].node
        workers = [a.spawn(idle) for _ in range(3)]
        for pid in workers:
            actors.groups(a).join("workers", pid)
        actors.groups(a).monitor("watched-only", pid=workers[0])
        actors.bus(a).subscribe(pid=workers[0])  # a bus group: not listed
        actors.start_pool(a, idle, size=2, name="crunch")
        spanning_groups(a).join("jobs", workers[0])
        remote = b.spawn(idle, name="far")
        spanning_groups(b).join("jobs", remote)
        spanning_groups(b).monitor("jobs", pid=remote)
        await trio.sleep(1)
        reply = _listing.groups(a, GroupsRequest())
        assert [(r.group, r.scope, r.members, r.here, r.watchers) for r in reply.rows] == [
            ("jobs", "spanning", 2, 1, 0),
            ("pool:crunch", "local", 2, 2, 0),
            ("watched-only", "local", 0, 0, 1),
            ("workers", "local", 3, 3, 0),
        ]
        assert reply.total == 4
        cut = _listing.groups(a, GroupsRequest(limit=2))
        assert len(cut.rows) == 2 and cut.total == 4
        assert "(2 of 4 groups shown" in format_groups([(None, cut)])
        jobs = _listing.groups(a, GroupsRequest("jobs"))
        assert [(m.scope, m.pid, m.node, m.name) for m in jobs.members] == [
            ("spanning", str(workers[0]), "a", ""),
            ("spanning", str(remote), "b", ""),  # on b: a does not know its name
        ]
        from_b = _listing.groups(b, GroupsRequest("jobs"))
        text = format_groups([(entry("a"), jobs), (entry("b"), from_b)])
        assert text.splitlines()[0] == "group jobs"
        assert [line.split()[:4] for line in text.splitlines()[2:]] == [
            ["spanning", "a", str(workers[0]), "-"],
            ["spanning", "b", str(remote), "far"],  # b filled in its own member
        ]
        members = _listing.groups(a, GroupsRequest("workers", limit=2))
        assert [m.pid for m in members.members] == [str(w) for w in workers[:2]]
        assert "(a: 2 of 3 local members shown" in format_groups([(entry("a"), members)])
        bus_group = next(iter(a._patterns.bus._patterns))
        assert _listing.groups(a, GroupsRequest(bus_group)).rows == []
        missing = _listing.groups(a, GroupsRequest("nope"))
        assert format_groups([(None, missing)]) == "no process group nope\n"


def test_groups_of_several_nodes_list_a_spanning_group_once() -> None:
    def reply(node: str, members: int, here: int) -> GroupsReply:
        rows = [GroupRow("jobs", "spanning", members, here, 0), GroupRow("w", "local", 1, 1, 0)]
        return GroupsReply(node, "", rows, 2, [], True)

    text = format_groups([(entry("a"), reply("a", 5, 2)), (entry("b"), reply("b", 6, 4))])
    lines = [line.split() for line in text.splitlines()]
    assert lines[1:] == [
        ["w", "local", "a", "1", "0"],
        ["w", "local", "b", "1", "0"],
        ["jobs", "spanning", "*", "5-6", "0"],  # the replicas disagree (a join in flight)
    ]
    odd = GroupsReply("a", "", [GroupRow("\x1b[2J", "local", 1, 1, 0)], 1, [], False)
    assert "\x1b" not in format_groups([(None, odd)])  # escaped, not sent to the terminal


async def test_pools(actors_node: TestNode) -> None:
    tn = actors_node
    named = actors.start_pool(tn.node, idle, size=3, name="crunch")
    actors.start_pool(tn.node, idle, size=2, routing="smallest_mailbox")
    await tn.settle()
    for i in range(5):
        named.send("job", i)  # round robin over 3 workers that never read: 2, 2, 1
    reply = _listing.pools(tn.node, PoolsRequest())
    assert reply.total == 2
    first, second = reply.rows
    assert (first.name, first.routing, first.size, first.live) == ("crunch", "round_robin", 3, 3)
    assert (first.queued, first.longest, first.routed, first.unrouted) == (5, 2, 5, 0)
    assert (second.name, second.routing, second.size) == ("", "smallest_mailbox", 2)
    assert first.supervisor == str(named.pid)
    lines = format_pools([(None, reply)]).splitlines()
    cells = ["crunch", "-", str(named.pid), "round_robin", "3/3", "5", "2", "5", "0"]
    assert lines[1].split() == cells
    assert _listing.pools(tn.node, PoolsRequest(limit=1)).rows == [first]
    rows = _snapshot.ps(tn.node, PsRequest(limit=100), None, 0.0).rows
    assert sum(row.function == f"{__name__}.idle" for row in rows) == 5  # not _pool_worker
    named.stop()
    await tn.settle()
    assert [p.name for p in _listing.pools(tn.node, PoolsRequest()).rows] == [""]


async def test_reading_another_nodes_process_says_which_node_to_ask() -> None:
    """``info`` and ``state`` of ``db@*``, ``far@b`` or a PID of node b, asked of node a:
    an error naming node b (not a crash of the request); a local ``db@*`` is read."""
    async with nodes("a", "b") as g:
        far = g["b"].node.spawn(idle, name="far")
        near = g["a"].node.spawn(idle)
        g["b"].names.register("db", far)
        g["a"].names.register("here", near)
        await trio.sleep(1)
        server = ControlServer(g["a"].node, Path("unused.sock"))
        for text in ("db@*", "far@b", str(far)):
            for request in (InfoRequest(text), StateRequest(text)):
                reply = await server.answer(request)
                assert reply == ErrorReply(
                    f"{text!r} names a process of node 'b': ask that node (--node b)"
                )
        reply = await server.answer(InfoRequest("here@*"))
        assert isinstance(reply, InfoReply) and reply.row.pid == str(near)
        assert reply.row.name == "here@*"
