"""The node group over an in-memory transport: semantics across nodes, on virtual time."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from conftest import MemoryNetwork, Pair, until
from distapp import collector, echo

import actors
from actors import ExitReason
from actors.cluster import NoConnection, NodeDown, NodeUp, PayloadError, RemoteError


async def test_send_by_pid_keeps_order_and_pids(pair: Pair) -> None:
    target = pair.b.spawn(collector, 50)
    sender = pair.a.spawn(echo)
    for i in range(50):
        pair.a.send(target, "n", (i, sender, {"k": [i]}))
    exit = await pair.b.wait_exit(target)
    assert exit.result == [[i, sender, {"k": [i]}] for i in range(50)]
    assert type(exit.result[0][1]) is actors.PID


async def test_process_sender_is_the_remote_pid(pair: Pair) -> None:
    b_echo = pair.b.spawn(echo)
    got: list[actors.Message] = []

    async def asker(proc: actors.Process) -> None:
        proc.send(b_echo, "to", (proc.pid, "hi"))
        got.append(await proc.inbox.receive())

    await pair.a.exec(asker)
    assert got[0].topic == "echoed"
    assert got[0].payload == "hi"
    assert got[0].sender == b_echo


async def test_call_replies_and_names(pair: Pair) -> None:
    pid = pair.b.spawn(echo, name="svc")
    assert await pair.a.call(pid, "q", [1, "x"]) == [1, "x"]
    assert await pair.a.call("svc@b", "q", 7) == 7
    pair.a.send("svc@b", "to", (pid, 1))  # a name resolves on the other node
    assert await pair.ga.whereis("svc", "b") == pid
    assert await pair.ga.whereis("nobody", "b") is None
    assert pair.ga.statistics().pending_calls == 0


async def test_call_errors_match_local_ones(pair: Pair) -> None:
    pid = pair.b.spawn(echo)
    with pytest.raises(actors.CallFailed, match="KeyError") as info:
        await pair.a.call(pid, "fail", "k")
    assert isinstance(info.value.__cause__, RemoteError)
    with pytest.raises(actors.CallFailed, match="target exited"):
        await pair.a.call(pid, "die")
    with pytest.raises(actors.ProcessNotFound):
        await pair.a.call(pid, "q")  # it is dead now
    with pytest.raises(actors.ProcessNotFound):
        await pair.a.call("nobody@b", "q")
    slow = pair.b.spawn(collector, 2)
    with pytest.raises(actors.CallTimeout):
        await pair.a.call(slow, "q", timeout=0.5)
    assert pair.ga.statistics().pending_calls == 0


async def test_unencodable_payload_fails_at_send_naming_the_type(pair: Pair) -> None:
    pid = pair.b.spawn(collector, 1)
    before = pair.ga.statistics().frames_sent
    with pytest.raises(PayloadError, match="set"):
        pair.a.send(pid, "x", {"bad": {1, 2}})
    with pytest.raises(PayloadError, match="object"):
        await pair.a.call(pid, "x", [object()])
    assert pair.ga.statistics().frames_sent == before


async def test_unconnected_node_and_local_only_operations(pair: Pair) -> None:
    ghost = actors.PID("main", 1, "nowhere")
    with pytest.raises(NoConnection, match="nowhere"):
        pair.a.send(ghost, "x")
    with pytest.raises(actors.ProcessNotFound):
        pair.a.send(actors.PID("main", 99, "a"), "x")  # own node: a plain local miss
    pid = pair.b.spawn(echo)
    assert not pair.a.is_alive(pid)
    with pytest.raises(actors.ProcessNotFound):
        pair.a.info(pid)
    with pytest.raises(ValueError, match="local"):
        pair.a.register("x", pid)


async def test_monitor_gets_the_remote_exit(pair: Pair) -> None:
    events: list[Any] = []

    async def watcher(proc: actors.Process, target: actors.PID) -> None:
        proc.monitor(target)
        proc.monitor(target)  # twice is once
        proc.send(target, "stop")
        events.append(await proc.events.receive())
        dead = actors.PID("main", 4242, "b")
        proc.monitor(dead)
        events.append(await proc.events.receive())

    await pair.a.exec(watcher, pair.b.spawn(echo))
    first, second = events
    assert first.reason is ExitReason.NORMAL
    assert isinstance(second.error, actors.NoProc)
    assert pair.ga.statistics().watches == 0


async def test_a_watcher_that_exits_leaves_no_watch_behind(pair: Pair) -> None:
    target = pair.b.spawn(echo)

    async def watcher(proc: actors.Process) -> None:
        proc.monitor(target)

    await pair.a.exec(watcher)
    await trio.sleep(0.1)
    assert pair.ga.statistics().watches == 0
    assert pair.gb.statistics().served_watches == 0


async def test_wait_exit_on_a_remote_pid_gets_result_or_error(pair: Pair) -> None:
    pid = pair.b.spawn(collector, 1)
    pair.a.send(pid, "x", ("t", 1))
    exit = await pair.a.wait_exit(pid)  # may start after the exit: then NoProc
    assert exit.result == [["t", 1]] or isinstance(exit.error, actors.NoProc)
    pid = pair.b.spawn(collector, 1)
    async with trio.open_nursery() as nursery:
        box: list[actors.Exit] = []

        async def wait() -> None:
            box.append(await pair.a.wait_exit(pid))

        nursery.start_soon(wait)
        await trio.sleep(0.1)
        pair.a.send(pid, "x", [2])
    assert box[0].result == [[2]] and box[0].reason is ExitReason.NORMAL
    pid = pair.b.spawn(echo)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.sleep(0.1)
        pair.a.send(pid, "crash", "x")
    assert isinstance(box[1].error, RemoteError) and "asked to crash" in box[1].error.text


async def test_demonitor_stops_the_exit(pair: Pair) -> None:
    async def watcher(proc: actors.Process, target: actors.PID) -> int:
        proc.monitor(target)
        proc.demonitor(target)
        proc.send(target, "stop")
        await proc.sleep(1)
        return len(proc.events)

    assert await pair.a.exec(watcher, pair.b.spawn(echo)) == 0


async def test_links_cross_both_ways(pair: Pair) -> None:
    got: list[Any] = []

    async def trapper(proc: actors.Process, target: actors.PID) -> None:
        proc.trap_links = True
        proc.link(target)
        proc.send(target, "crash", 1)
        got.append(await proc.events.receive())
        proc.link(target)  # dead now: LinkDown(noproc)
        got.append(await proc.events.receive())

    await pair.a.exec(trapper, pair.b.spawn(echo))
    assert got[0].reason is ExitReason.ERROR
    assert isinstance(got[0].error, RemoteError)
    assert "asked to crash" in str(got[0].error)
    assert isinstance(got[1].error, actors.NoProc)

    partner = pair.b.spawn(echo)
    ab: list[Any] = []

    async def b_side(proc: actors.Process) -> None:
        proc.trap_links = True
        ab.append(await proc.events.receive())

    b_pid = pair.b.spawn(b_side)

    async def a_side(proc: actors.Process) -> None:
        proc.link(b_pid)
        await proc.sleep(0.1)
        raise ValueError("local failure")

    a_pid = pair.a.spawn(a_side)
    await pair.a.wait_exit(a_pid)
    await pair.b.wait_exit(b_pid)
    assert ab[0].pid == a_pid and "local failure" in str(ab[0].error)
    pair.b.send(partner, "stop")


async def test_untrapped_link_failure_cascades_and_unlink(pair: Pair) -> None:
    async def linked(proc: actors.Process, target: actors.PID) -> None:
        proc.link(target)
        await proc.sleep(10)

    target = pair.b.spawn(echo)
    pid = pair.a.spawn(linked, target)
    await trio.sleep(0.1)
    pair.a.send(target, "crash", 0)
    exit = await pair.a.wait_exit(pid)
    assert isinstance(exit.error, actors.LinkedProcessFailed)

    async def unlinked(proc: actors.Process, target: actors.PID) -> str:
        proc.link(target)
        proc.unlink(target)
        proc.send(target, "crash", 0)
        await proc.sleep(1)
        return "alive"

    assert await pair.a.exec(unlinked, pair.b.spawn(echo)) == "alive"
    assert pair.ga.statistics().remote_links == 0


async def test_monitor_of_a_node_not_connected_names_it_once(
    pair: Pair, network: MemoryNetwork
) -> None:
    """Monitoring or linking a PID of a node already lost: noconnection at once, and the
    error's message names the node once (it said "node 'b': node 'b': not connected")."""
    target = pair.b.spawn(echo)
    network.cut("b")
    seen: list[Any] = []

    async def watcher(proc: actors.Process) -> None:
        proc.trap_links = True
        proc.monitor(target)
        proc.link(target)
        seen.extend([await proc.events.receive(), await proc.events.receive()])

    await pair.a.wait_exit(pair.a.spawn(watcher))
    assert [type(e) for e in seen] == [actors.Exit, actors.LinkDown]
    for event in seen:
        assert event.reason is ExitReason.NOCONNECTION
        assert str(event.error) == "node 'b': not connected"
    network.heal("b")


async def test_lost_node_fires_noconnection_everywhere(pair: Pair, network: MemoryNetwork) -> None:
    seen: list[Any] = []
    target = pair.b.spawn(echo)
    other = pair.b.spawn(echo)

    async def watcher(proc: actors.Process) -> None:
        pair.ga.monitor_nodes(proc)
        proc.trap_links = True
        proc.monitor(target)
        proc.link(other)
        for _ in range(3):
            seen.append(await proc.events.receive())

    async def caller(proc: actors.Process) -> None:
        with pytest.raises(actors.CallFailed, match="noconnection") as info:
            await proc.call(pair.b.spawn(collector, 2), "q", timeout=60)
        seen.append(info.value)

    pair.a.spawn(watcher)
    pair.a.spawn(caller)
    await trio.sleep(0.5)
    network.cut("b", "test cut")
    await until(lambda: len(seen) == 4)
    kinds = {type(e): e for e in seen}
    assert kinds[actors.Exit].reason is ExitReason.NOCONNECTION
    assert isinstance(kinds[actors.Exit].error, NoConnection)
    assert kinds[actors.LinkDown].reason is ExitReason.NOCONNECTION
    assert kinds[NodeDown].node == "b"
    assert isinstance(kinds[actors.CallFailed].__cause__, NoConnection)
    assert pair.ga.statistics().watches == 0
    assert pair.ga.statistics().pending_calls == 0


async def test_node_up_is_posted(network: MemoryNetwork) -> None:
    from conftest import MemoryTransport

    from actors.cluster import open_node_group

    seen: list[Any] = []
    async with (
        actors.open_node(name="a") as a,
        open_node_group(a, MemoryTransport(network, "a")) as ga,
    ):

        async def watcher(proc: actors.Process) -> None:
            ga.monitor_nodes(proc)
            seen.append(await proc.events.receive())

        pid = a.spawn(watcher)
        await trio.sleep(0.1)
        async with (
            actors.open_node(name="c") as c,
            open_node_group(c, MemoryTransport(network, "c")),
        ):
            await until(lambda: seen)
            assert ga.nodes() == ["c"]
            assert not a.is_alive(pid)
    assert seen == [NodeUp("c", seen[0].at)]


async def test_spawn_on_a_named_node(pair: Pair) -> None:
    pid = await pair.ga.spawn("b", "distapp:echo", name="spawned")
    assert pid.node == "b"
    assert await pair.a.call("spawned@b", "q", 5) == 5
    # Only exports: nothing is imported on a peer's say-so, and the refusal names it.
    with pytest.raises(RemoteError, match="node 'b' does not export 'no_such_module:f'"):
        await pair.ga.spawn("b", "no_such_module:f")
    with pytest.raises(RemoteError, match=r"does not export 'distapp:Any'.*distapp:echo"):
        await pair.ga.spawn("b", "distapp:Any")
    with pytest.raises(RemoteError, match="does not export 'distapp:collector'"):
        await pair.ga.spawn("b", "distapp:collector", 1)  # importable, async, not exported
    pair.gb.exports.add("distapp:collector", name="collect")
    collector = await pair.ga.spawn("b", "collect", 1)
    pair.a.send(collector, "m", "x")
    assert (await pair.a.wait_exit(collector)).result == ["x"]
    assert pair.gb.exports.remove("collect")
    with pytest.raises(RemoteError, match="does not export 'collect'"):
        await pair.ga.spawn("b", "collect", 1)
    pair.gb.exports.add_resolver(lambda name: echo if name == "svc:echo" else None)
    assert (await pair.ga.spawn("b", "svc:echo")).node == "b"
    with pytest.raises(RemoteError, match=r"does not export 'svc:other'.*resolved names"):
        await pair.ga.spawn("b", "svc:other")
    # On its own name a node spawns any importable async function (its own code)
    assert (await pair.ga.spawn("a", "distapp:collector", 0)).node == "a"
    with pytest.raises(NoConnection):
        await pair.ga.spawn("zz", "distapp:echo")
    local = await pair.ga.spawn("a", "distapp:returns", 3)
    assert (await pair.a.wait_exit(local)).result == 3

    events: list[Any] = []

    async def parent(proc: actors.Process) -> None:
        proc.trap_links = True
        child = await pair.ga.spawn("b", "distapp:crashes", "boom", link=proc, monitor=proc)
        events.append(await proc.events.receive())
        events.append(await proc.events.receive())
        assert child.node == "b"

    await pair.a.exec(parent)
    assert {type(e) for e in events} == {actors.Exit, actors.LinkDown}
    assert all("boom" in str(e.error) for e in events)


async def test_cancel_and_terminate_remote(pair: Pair) -> None:
    async def polite(proc: actors.Process) -> str:
        event = await proc.events.receive()
        assert isinstance(event, actors.Cancel)
        return event.reason

    pid = pair.b.spawn(polite)
    pair.a.cancel(pid, "please")
    assert (await pair.b.wait_exit(pid)).result == "please"
    stubborn = pair.b.spawn(collector, 5)
    pair.a.terminate(stubborn)
    assert isinstance((await pair.b.wait_exit(stubborn)).error, actors.Terminated)


async def test_garbage_frames_are_dropped(pair: Pair) -> None:
    for junk in (b"", b"\x00", b"\xc1junk", b"\x93\xa1s\x01\x02", b'\x92\xa1d"'):
        pair.gb.frame_received("a", junk)
    pair.gb.frame_received("a", b"\x94\xa1w\x01\x93\xa1x\x01\xc0")  # watch of a bad PID
    assert pair.gb.statistics().frames_dropped >= 5
    pid = pair.b.spawn(echo)
    assert await pair.a.call(pid, "q", "still fine") == "still fine"


async def test_unreplyable_value_fails_the_caller_fast(pair: Pair) -> None:
    async def bad(proc: actors.Process) -> None:
        msg = await proc.inbox.receive()
        with pytest.raises(PayloadError):
            proc.reply(msg, {1, 2})

    pid = pair.b.spawn(bad)
    with pytest.raises(actors.CallFailed, match="not encodable"):
        await pair.a.call(pid, "q")


def test_names_must_match() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        from conftest import MemoryTransport

        from actors.cluster import open_node_group

        async with actors.open_node(name="a") as a:
            with pytest.raises(ValueError, match="must be the transport"):
                async with open_node_group(a, MemoryTransport(network, "x")):
                    pass
            with pytest.raises(ValueError, match="incarnation"):
                async with open_node_group(a, MemoryTransport(network, "a"), incarnation=-1):
                    pass

    trio.run(main)


async def test_a_linker_that_dies_during_a_remote_spawn_takes_the_child_along(pair: Pair) -> None:
    handles: list[actors.Process] = []
    events: list[Any] = []

    async def holder(proc: actors.Process) -> None:
        handles.append(proc)
        while True:
            events.append(await proc.events.receive())

    pair.a.spawn(holder)
    pair.a.spawn(holder)
    await trio.sleep(0.01)
    linker_proc, watcher_proc = handles
    async with trio.open_nursery() as nursery:

        async def spawn() -> None:
            await pair.ga.spawn("b", "distapp:echo", link=linker_proc, monitor=watcher_proc)

        nursery.start_soon(spawn)
        await trio.lowlevel.checkpoint()
        pair.a.terminate(linker_proc.pid)  # before the answer arrives
    await until(lambda: any(isinstance(e, actors.Exit) for e in events))
    exit = next(e for e in events if isinstance(e, actors.Exit))
    assert isinstance(exit.error, RemoteError)
    assert "linked process" in exit.error.text and "NoProc" in exit.error.text
