"""Membership: the live member list, node monitors and the reason a node went down."""

from __future__ import annotations

from typing import Any

import trio
from conftest import EXPORTS, MemoryNetwork, Pair, until

import actors
from actors.cluster import NodeDown, NodeDownReason, NodeUp, open_node_group


async def test_members_and_the_reasons_nodes_go_down(network: MemoryNetwork) -> None:
    seen: list[Any] = []
    async with (
        actors.open_node(name="a") as a,
        open_node_group(a, network.transport("a"), exports=EXPORTS) as ga,
    ):
        assert ga.members() == ["a"]

        async def watcher(proc: actors.Process) -> None:
            ga.monitor_nodes(proc)
            while not isinstance(event := await proc.events.receive(), actors.Cancel):
                seen.append(event)

        a.spawn(watcher)
        await trio.testing.wait_all_tasks_blocked()
        async with (
            actors.open_node(name="b") as b,
            open_node_group(b, network.transport("b")),
            actors.open_node(name="c") as c,
            open_node_group(c, network.transport("c")),
        ):
            await until(lambda: ga.members() == ["a", "b", "c"])
            network.cut("c", "test cut")  # a lost connection
            await until(lambda: ga.members() == ["a", "b"])
        await until(lambda: ga.members() == ["a"])  # b closed its group: it left
    assert [(type(e), e.node) for e in seen] == [
        (NodeUp, "b"),
        (NodeUp, "c"),
        (NodeDown, "c"),
        (NodeDown, "b"),
    ]
    assert seen[2].reason is NodeDownReason.CONNECTION_LOST and seen[2].why == "test cut"
    assert seen[3].reason is NodeDownReason.LEFT


async def test_monitor_node_posts_one_down(pair: Pair, network: MemoryNetwork) -> None:
    seen: list[Any] = []

    async def watcher(proc: actors.Process) -> None:
        pair.ga.monitor_node(proc, "b")
        pair.ga.monitor_node(proc, "b")  # once per node, however often asked
        pair.ga.monitor_node(proc, "zz")  # not connected: at once
        pair.ga.monitor_node(proc, "a")  # itself: never
        while not isinstance(event := await proc.events.receive(), actors.Cancel):
            seen.append(event)

    async def dropped(proc: actors.Process) -> None:
        pair.ga.monitor_node(proc, "b")
        pair.ga.demonitor_node(proc, "b")
        while not isinstance(event := await proc.events.receive(), actors.Cancel):
            seen.append(event)

    pair.a.spawn(watcher)
    pair.a.spawn(dropped)
    await trio.testing.wait_all_tasks_blocked()
    assert seen == [NodeDown("zz", "not connected", seen[0].at, NodeDownReason.CONNECTION_LOST)]
    assert len(pair.ga._node_watchers) == 1
    network.cut("b")
    await trio.testing.wait_all_tasks_blocked()
    assert [e.node for e in seen] == ["zz", "b"]
    assert len(pair.ga._node_watchers) == 0


async def test_subscriptions_end_with_their_process(pair: Pair) -> None:
    async def short(proc: actors.Process) -> None:
        pair.ga.monitor_nodes(proc)
        pair.ga.monitor_node(proc, "b")

    await pair.a.wait_exit(pair.a.spawn(short))
    assert len(pair.ga._node_watchers) == 0

    async def undo(proc: actors.Process) -> None:
        pair.ga.monitor_nodes(proc)
        pair.ga.demonitor_nodes(proc)
        assert len(pair.ga._node_watchers) == 0

    await pair.a.wait_exit(pair.a.spawn(undo))
