"""``MemoryNetwork``: the in-process transport that virtual-time tests of node groups use."""

from __future__ import annotations

import pytest
import trio
import trio.lowlevel

import actors
from actors.cluster import MemoryNetwork, NoConnection, NodeDown, NodeUp, open_node_group


async def test_duplicate_names_bad_names_and_big_frames_are_refused() -> None:
    network = MemoryNetwork(max_frame=1000)
    with pytest.raises(ValueError, match="without '@'"):
        network.transport("a@b")
    async with actors.open_node(name="a") as a, open_node_group(a, network.transport("a")):
        async with actors.open_node(name="a") as twin:
            with pytest.raises(ValueError, match="already on this network"):
                async with open_node_group(twin, network.transport("a")):
                    pass  # pragma: no cover
        async with actors.open_node(name="b") as b, open_node_group(b, network.transport("b")):
            with pytest.raises(ValueError, match="exceeds max_frame=1000"):
                b.send("x@a", "big", "x" * 2000)
            with pytest.raises(NoConnection):
                b.send("x@c", "t", 1)
    assert network.transports == {}
    with pytest.raises(KeyError):
        network.cut("a")


async def test_nodes_come_and_go_in_order() -> None:
    network = MemoryNetwork()
    seen: list[object] = []
    async with (
        actors.open_node(name="a") as a,
        open_node_group(a, network.transport("a")) as ga,
    ):

        async def watcher(proc: actors.Process) -> None:
            ga.monitor_nodes(proc)
            while len(seen) < 4:
                event = await proc.events.receive()
                seen.append((type(event).__name__, event.node))

        a.spawn(watcher)
        await trio.lowlevel.checkpoint()
        for _ in range(2):
            async with actors.open_node(name="b") as b, open_node_group(b, network.transport("b")):
                assert ga.nodes() == ["b"]
                await trio.sleep(1)
            await trio.sleep(1)
        assert ga.nodes() == []
    assert seen == [(NodeUp.__name__, "b"), (NodeDown.__name__, "b")] * 2


async def test_a_cut_node_heals_and_frames_in_flight_are_lost() -> None:
    network = MemoryNetwork()
    seen: list[object] = []
    async with (
        actors.open_node(name="a") as a,
        open_node_group(a, network.transport("a")) as ga,
        actors.open_node(name="b") as b,
        open_node_group(b, network.transport("b")) as gb,
    ):

        async def watcher(proc: actors.Process) -> None:
            ga.monitor_nodes(proc)
            while True:
                event = await proc.events.receive()
                if isinstance(event, actors.Cancel):
                    return
                seen.append((type(event).__name__, event.node))

        async def collect(proc: actors.Process) -> None:
            while True:
                seen.append((await proc.inbox.receive()).payload)

        a.spawn(watcher)
        target = a.spawn(collect, name="target")
        await trio.sleep(1)
        b.send("target@a", "t", "before")  # queued, not delivered: lost with the cut
        network.cut("b")
        await trio.sleep(1)
        network.heal("b")
        assert ga.nodes() == ["b"]
        assert gb.nodes() == ["a"]
        b.send(target, "t", "after")
        await trio.sleep(1)
        with pytest.raises(ValueError, match="heal only a node that was cut"):
            network.heal("b")
        with pytest.raises(KeyError):
            network.heal("c")
    assert seen[:3] == [("NodeDown", "b"), ("NodeUp", "b"), "after"]
