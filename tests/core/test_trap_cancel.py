"""``proc.trap_cancel``: by default a ``Cancel`` raises ``actors.Cancelled`` where the process
waits, unless it waits on (or first takes the Cancel from) ``proc.events``; trapping makes it an
event only."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

import actors
from actors import Cancel, Cancelled, ExitReason

if TYPE_CHECKING:
    import pytest


async def _ticking(proc: actors.Process, period: float = 3.0) -> tuple[str, int, Any, float]:
    proc.trap_cancel = False
    ticks = proc.ticker(period)
    n = 0
    try:
        while True:
            await ticks.receive()
            n += 1
    except Cancelled as cancelled:
        return ("stopped", n, cancelled.event, trio.current_time())


async def test_a_parked_process_is_interrupted_at_once_and_the_event_is_queued() -> None:
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> object:
            result = await _ticking(proc)
            return result, len(proc.events), proc.events.receive_nowait()

        pid = node.spawn(worker)
        await trio.sleep(7)  # two ticks, parked until the third at 9 s
        node.cancel(pid, "bye")
        exit = await node.wait_exit(pid)
    (tag, n, event, at), queued, again = exit.result
    assert (tag, n, at) == ("stopped", 2, 7.0)
    assert isinstance(event, Cancel) and event.reason == "bye"
    assert queued == 1 and again is event  # the same Cancel is on proc.events too
    assert exit.reason is ExitReason.SHUTDOWN and exit.error is None


async def test_trapping_makes_a_cancel_only_an_event() -> None:
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> str:
            assert proc.trap_cancel is False
            proc.trap_cancel = True
            await proc.ticker(3).receive()
            return "ticked" if proc.events else "no event"

        pid = node.spawn(worker)
        await trio.sleep(1)
        node.cancel(pid)
        exit = await node.wait_exit(pid)
        assert exit.result == "ticked" and exit.at == 3.0


async def test_uncaught_cancelled_ends_the_process_as_a_clean_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> None:
            proc.trap_cancel = False
            async with trio.open_nursery() as nursery:  # the main task waits in the nursery
                nursery.start_soon(trio.sleep_forever)

        pid = node.spawn(worker)
        await trio.sleep(1)
        with caplog.at_level(logging.INFO, logger="actors"):
            node.cancel(pid)
            exit = await node.wait_exit(pid)
    assert exit.reason is ExitReason.SHUTDOWN and exit.error is None and exit.result is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_running_process_gets_it_at_its_next_wait() -> None:
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> list[str]:
            proc.trap_cancel = False
            steps = ["running"]
            proc.cancel(proc.pid, "self")  # running now: nothing raised yet
            steps.append("still running")
            try:
                await trio.sleep(10)
            except Cancelled as cancelled:
                steps.append(f"interrupted {cancelled}")
            return steps

        exit = await node.wait_exit(node.spawn(worker))
    assert exit.result == ["running", "still running", "interrupted self"]
    assert exit.at < 1


async def test_turning_trapping_off_after_a_cancel_raises_at_the_next_wait() -> None:
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> str:
            proc.trap_cancel = True
            await trio.sleep(5)  # the Cancel arrives meanwhile, as an event
            proc.trap_cancel = False
            try:
                await proc.inbox.receive()
            except Cancelled as cancelled:
                event = cancelled.event
            else:  # pragma: no cover
                return "not interrupted"
            assert isinstance(event, Cancel)
            return event.reason

        pid = node.spawn(worker)
        await trio.sleep(1)
        node.cancel(pid, "early")
        exit = await node.wait_exit(pid)
    assert exit.result == "early" and exit.at == 5.0


async def test_each_cancel_interrupts_once() -> None:
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> int:
            proc.trap_cancel = False
            caught = 0
            while caught < 3:
                try:
                    await proc.inbox.receive()
                except Cancelled:
                    caught += 1
            return caught

        pid = node.spawn(worker)
        for _ in range(3):
            await trio.sleep(1)
            node.cancel(pid)
        exit = await node.wait_exit(pid)
    assert exit.result == 3 and exit.at == 3.0


async def test_a_kill_wins_over_a_pending_interrupt() -> None:
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> None:
            proc.trap_cancel = False
            proc.cancel(proc.pid)
            proc._node.terminate(proc.pid)
            await trio.sleep(1)

        exit = await node.wait_exit(node.spawn(worker))
    assert exit.reason is ExitReason.ERROR
    assert isinstance(exit.error, actors.Terminated)


async def test_node_shutdown_stops_single_source_waiters_without_terminating() -> None:
    """Workers parked on 3 s tickers all stop at the node's Cancel, none needs the grace."""
    exits: list[actors.Exit] = []
    async with actors.open_node(shutdown_grace=10) as node:
        node.watch_exits(exits.append)
        for _ in range(2000):
            node.spawn(_ticking)
        await trio.sleep(5)
        stopping = trio.current_time()
    assert len(exits) == 2000
    assert all(e.reason is ExitReason.SHUTDOWN and e.error is None for e in exits)
    assert all(e.at == stopping for e in exits)  # at once, not at each worker's next tick


async def test_a_cancel_from_another_node_interrupts_too() -> None:
    from actors.cluster import MemoryNetwork, open_node_group

    network = MemoryNetwork()
    async with (
        actors.open_node(name="a") as a,
        open_node_group(a, network.transport("a")),
        actors.open_node(name="b") as b,
        open_node_group(b, network.transport("b")),
    ):
        pid = b.spawn(_ticking)
        await trio.sleep(4)
        a.cancel(pid, "from a")
        exit = await b.wait_exit(pid)
    tag, n, event, at = exit.result
    assert (tag, n, at) == ("stopped", 1, 4.0)
    assert event.reason == "from a" and event.sender is None


# -- the default: not trapping ---------------------------------------------------------


async def test_by_default_an_inbox_loop_ends_on_cancel() -> None:
    """The README's ``async for msg in proc.inbox`` loop stops at once on a node shutdown."""
    exits: list[actors.Exit] = []
    async with actors.open_node(shutdown_grace=10) as node:
        node.watch_exits(exits.append)

        async def echo(proc: actors.Process) -> None:
            async for msg in proc.inbox:
                proc.reply(msg, msg.payload)

        async def receiver(proc: actors.Process) -> None:
            while True:
                await proc.inbox.receive()

        async def sleeper(proc: actors.Process) -> None:
            await actors.sleep(3600)

        pids = [node.spawn(echo), node.spawn(receiver), node.spawn(sleeper)]
        assert await node.call(pids[0], "echo", "hi") == "hi"
        await trio.sleep(1)
        stopping = trio.current_time()
    assert sorted(e.pid for e in exits) == sorted(pids)
    assert all(e.reason is ExitReason.SHUTDOWN and e.error is None for e in exits)
    assert all(e.at == stopping for e in exits)  # no grace period used


async def test_by_default_a_process_waiting_on_its_events_gets_the_event() -> None:
    """A select on ``proc.events`` receives the Cancel as a value: nothing is raised."""
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> tuple[str, object]:
            got = await actors.select(proc.events, proc.inbox)
            assert got.source is proc.events
            await trio.sleep(2)  # clean-up that waits: not interrupted
            return "clean", got.value

        pid = node.spawn(worker)
        await trio.sleep(1)
        node.cancel(pid, "bye")
        exit = await node.wait_exit(pid)
    tag, event = exit.result
    assert tag == "clean" and isinstance(event, Cancel) and event.reason == "bye"
    assert exit.at == 3.0 and exit.error is None


async def test_a_cancel_taken_from_events_before_the_next_wait_raises_nothing() -> None:
    """A running process that reads the Cancel from events before it waits is not interrupted."""
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> list[str]:
            proc.cancel(proc.pid, "self")  # running: the interrupt is pending
            event = proc.events.receive_nowait()
            assert isinstance(event, Cancel)
            await trio.sleep(2)  # clean-up: the Cancel was handled as an event
            return ["handled", event.reason]

        exit = await node.wait_exit(node.spawn(worker))
    assert exit.result == ["handled", "self"] and exit.at == 2.0


async def test_a_cancel_left_on_events_interrupts_the_next_wait() -> None:
    async with actors.open_node() as node:

        async def worker(proc: actors.Process) -> str:
            proc.cancel(proc.pid, "self")
            try:
                await proc.inbox.receive()
            except Cancelled as cancelled:
                return f"interrupted {cancelled} queued={len(proc.events)}"
            return "not interrupted"  # pragma: no cover

        exit = await node.wait_exit(node.spawn(worker))
    assert exit.result == "interrupted self queued=1"
