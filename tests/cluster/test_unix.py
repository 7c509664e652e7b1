"""The Unix socket transport on real sockets (two nodes in one trio run, real time)."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import until
from distapp import EXPORTS, echo

import actors
from actors.cluster import (
    NodeDown,
    NodeDownReason,
    NodeGroup,
    UnixTransport,
    open_node_group,
    spanning_groups,
)

pytestmark = [pytest.mark.real_time, pytest.mark.slow]


@asynccontextmanager
async def _node(directory: Path, name: str, **options: Any) -> AsyncIterator[NodeGroup]:
    transport = UnixTransport(directory, name, heartbeat=0.1, timeout=0.5, **options)
    async with (
        actors.open_node(name=name, shutdown_grace=0.1) as node,
        open_node_group(node, transport, exports=EXPORTS) as group,
    ):
        yield group


async def _connected(group: NodeGroup, *peers: str) -> None:
    await until(lambda: set(peers) <= set(group.nodes()))


async def test_two_nodes_talk_over_private_sockets(tmp_path: Path) -> None:
    directory = tmp_path / "sockets"
    async with _node(directory, "n1") as g1, _node(directory, "n2") as g2:
        await _connected(g1, "n2")
        await _connected(g2, "n1")
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(directory / "n1.sock").st_mode) == 0o600
        pid = g2.node.spawn(echo, name="svc")
        assert await g1.node.call(pid, "q", [1, pid]) == [1, pid]
        assert await g1.node.call("svc@n2", "q", "x") == "x"
        spawned = await g1.spawn("n2", "distapp:returns", 42)
        assert spawned.node == "n2"
        big = b"x" * 100_000
        assert await g1.node.call(pid, "q", big) == big
    assert not (directory / "n1.sock").exists()


async def test_a_closed_node_is_down_at_once(
    tmp_path: Path,
) -> None:
    events: list[Any] = []
    async with _node(tmp_path, "n1") as g1:
        async with _node(tmp_path, "n2") as g2:
            await _connected(g1, "n2")
            target = g2.node.spawn(echo)

            async def watcher(proc: actors.Process) -> None:
                proc.monitor(target)
                events.append(await proc.events.receive())

            g1.node.spawn(watcher)
            await trio.sleep(0.1)
            started = trio.current_time()
        await until(lambda: events, timeout=2)
        assert events[0].at - started < 0.2  # EOF: at once, not after the timeout
        assert events[0].reason is actors.ExitReason.NOCONNECTION
        assert g1.nodes() == []


async def test_a_peer_sending_garbage_harms_nothing(tmp_path: Path) -> None:
    async with _node(tmp_path, "n1", max_frame=4096) as g1:
        target = g1.node.spawn(echo)

        async def peer(*frames: bytes) -> bytes:
            stream = await trio.open_unix_socket(os.fspath(tmp_path / "n1.sock"))
            async with stream:
                hello = b"\x02garbage-peer"
                await stream.send_all(len(hello).to_bytes(4, "big") + hello)
                for frame in frames:
                    await stream.send_all(frame)
                received = b""
                with trio.move_on_after(1):
                    while data := await stream.receive_some():
                        received += data
                return received

        junk = b"\x00\xc1\xff\x00garbage"
        await peer(len(junk).to_bytes(4, "big") + junk)  # undecodable: logged, dropped
        await peer((10**6).to_bytes(4, "big"))  # too large: the connection ends
        await peer(b"\x00\x00\x00\x05\x09abcd")  # an unknown kind: dropped
        assert g1.statistics().frames_dropped == 1
        async with _node(tmp_path, "n2") as g2:
            await _connected(g2, "n1")
            assert await g2.node.call(target, "q", "ok") == "ok"


async def test_a_second_node_of_the_same_name_is_refused(tmp_path: Path) -> None:
    async with _node(tmp_path, "n1"):
        with pytest.raises(RuntimeError, match="already running"):
            async with _node(tmp_path, "n1"):
                pass


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="node name"):
        UnixTransport("/tmp", "a/b")
    with pytest.raises(ValueError, match="heartbeat"):
        UnixTransport("/tmp", "a", heartbeat=5, timeout=1)
    with pytest.raises(ValueError, match="max_frame"):
        UnixTransport("/tmp", "a", max_frame=1)
    with pytest.raises(ValueError, match="too long"):
        UnixTransport("/tmp/" + "x" * 120, "a")


async def test_a_silent_peer_is_lost_after_the_heartbeat_timeout(tmp_path: Path) -> None:
    async with _node(tmp_path, "n1") as g1:
        seen: list[Any] = []

        async def watcher(proc: actors.Process) -> None:
            g1.monitor_nodes(proc)
            while len(seen) < 2:
                seen.append(await proc.events.receive())

        g1.node.spawn(watcher)
        stream = await trio.open_unix_socket(os.fspath(tmp_path / "n1.sock"))
        async with stream:
            hello = b"\x02zz"
            await stream.send_all(len(hello).to_bytes(4, "big") + hello)
            await _connected(g1, "zz")
            opened = trio.current_time()
            await until(lambda: len(seen) >= 2, timeout=3)
        assert [type(e).__name__ for e in seen] == ["NodeUp", "NodeDown"]
        assert "heartbeat" in seen[1].why
        assert seen[1].reason is NodeDownReason.LEASE_EXPIRED
        assert 0.3 < seen[1].at - opened < 1.5


async def test_down_reasons_left_and_connection_lost(tmp_path: Path) -> None:
    """A node that closes its group says goodbye (``left``); a dropped connection is lost."""
    async with _node(tmp_path, "n1") as g1:
        seen: list[Any] = []

        async def watcher(proc: actors.Process) -> None:
            g1.monitor_nodes(proc)
            while not isinstance(event := await proc.events.receive(), actors.Cancel):
                seen.append(event)

        g1.node.spawn(watcher)
        async with _node(tmp_path, "n2") as g2:
            await _connected(g1, "n2")
            await _connected(g2, "n1")  # each side sees the other in its own time
            assert g1.members() == ["n1", "n2"] and g2.members() == ["n1", "n2"]
        await until(lambda: len(seen) >= 2, timeout=3)
        assert seen[1] == NodeDown("n2", "left the group", seen[1].at, NodeDownReason.LEFT)
        stream = await trio.open_unix_socket(os.fspath(tmp_path / "n1.sock"))
        hello = b"\x02zz"
        await stream.send_all(len(hello).to_bytes(4, "big") + hello)
        await _connected(g1, "zz")
        await stream.aclose()  # no goodbye: a killed process
        await until(lambda: len(seen) >= 4, timeout=3)
        assert seen[3].node == "zz" and seen[3].reason is NodeDownReason.CONNECTION_LOST
        assert g1.members() == ["n1"]


async def test_group_wide_names_and_spanning_groups_over_sockets(tmp_path: Path) -> None:
    async with _node(tmp_path, "n1") as g1:
        async with _node(tmp_path, "n2") as g2:
            await _connected(g1, "n2")
            await _connected(g2, "n1")
            pid = g2.node.spawn(echo)
            g2.names.register("svc", pid)
            spanning_groups(g2.node).join("pool", pid)
            await until(lambda: g1.names.whereis("svc") == pid)
            assert await g1.node.call("svc@*", "q", "by name") == "by name"
            await until(lambda: spanning_groups(g1.node).members("pool") == (pid,))
        # n2 left: its names and memberships are gone from n1
        assert g1.names.registered() == {}
        assert spanning_groups(g1.node).members("pool") == ()


async def test_reset_drops_the_link_on_both_sides_then_it_comes_back(tmp_path: Path) -> None:
    """``reset`` (the node group's answer to a refused frame a peer waits for) closes the
    connection: both nodes report each other down, and the scan connects them again."""
    downs: dict[str, list[NodeDown]] = {"n1": [], "n2": []}
    async with _node(tmp_path, "n1") as g1, _node(tmp_path, "n2") as g2:
        await _connected(g1, "n2")
        await _connected(g2, "n1")
        for group in (g1, g2):

            async def watch(proc: actors.Process, group: NodeGroup = group) -> None:
                group.monitor_nodes(proc)
                while True:
                    event = await proc.events.receive()
                    if isinstance(event, NodeDown):
                        downs[group.name].append(event)

            group.node.spawn(watch)
        await trio.sleep(0.05)
        g1.transport.reset("n2", "refused here")  # type: ignore[attr-defined]
        await until(lambda: downs["n1"] and downs["n2"])
        assert downs["n1"][0].why == "refused here"
        assert downs["n2"][0].reason is NodeDownReason.CONNECTION_LOST
        await _connected(g1, "n2")
        await _connected(g2, "n1")
        pid = g2.node.spawn(echo)
        assert await g1.node.call(pid, "q", "again") == "again"
