"""Monitors and links: Exit exactly once, LinkDown on abnormal exits, cascades, trapping."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
import helpers
from actors import Exit, ExitReason, LinkDown


async def _events(proc: actors.Process, n: int) -> list[actors.Event]:
    return [await proc.events.receive() for _ in range(n)]


class TestMonitor:
    async def test_monitor_dead_pid_delivers_noproc(self) -> None:
        """Monitoring an exited PID delivers Exit(error=NoProc) at once."""

        async def watcher(proc: actors.Process, target: actors.PID) -> actors.Event:
            proc.monitor(target)
            return proc.events.receive_nowait()

        async with actors.open_node() as node:
            dead = node.spawn(helpers.returns, 1)
            await node.wait_exit(dead)
            event = await node.exec(watcher, dead)
            assert isinstance(event, Exit) and isinstance(event.error, actors.NoProc)
            assert event.pid == dead

    async def test_monitor_unknown_name_raises(self) -> None:
        """A name that resolves nowhere cannot be monitored."""

        async def watcher(proc: actors.Process) -> None:
            proc.monitor("ghost")

        async with actors.open_node() as node:
            with pytest.raises(actors.ProcessNotFound):
                await node.exec(watcher)

    async def test_monitor_twice_fires_once(self) -> None:
        """Monitoring the same process twice still yields one Exit."""

        async def watcher(proc: actors.Process) -> int:
            target = proc.spawn(helpers.idle)
            proc.monitor(target)
            proc.monitor(target)
            proc.cancel(target)
            await proc.events.receive()
            await trio.sleep(1)
            return len(proc.events)

        async with actors.open_node() as node:
            assert await node.exec(watcher) == 0

    async def test_many_monitors_each_get_one_exit(self) -> None:
        """Every monitor of a process receives its Exit exactly once."""
        got: list[actors.Event] = []

        async def watcher(proc: actors.Process, target: actors.PID) -> None:
            proc.monitor(target)
            got.extend(await _events(proc, 1))
            await trio.sleep(1)
            assert len(proc.events) == 0

        async with actors.open_node() as node:
            target = node.spawn(helpers.idle)
            watchers = [node.spawn(watcher, target) for _ in range(5)]
            await trio.testing.wait_all_tasks_blocked()
            node.cancel(target)
            await trio.sleep(2)
            assert not any(node.is_alive(w) for w in watchers)
        assert len(got) == 5 and all(isinstance(e, Exit) and e.pid == target for e in got)

    async def test_demonitor_stops_and_flushes(self) -> None:
        """After demonitor no Exit arrives, even one already queued."""

        async def watcher(proc: actors.Process) -> int:
            target = proc.spawn_monitored(helpers.returns, 1)
            await trio.sleep(1)  # the Exit is queued now
            proc.demonitor(target)
            other = proc.spawn(helpers.idle)
            proc.monitor(other)
            proc.demonitor(other)
            proc.cancel(other)
            await trio.sleep(1)
            return len(proc.events)

        async with actors.open_node() as node:
            assert await node.exec(watcher) == 0

    async def test_monitor_self_is_an_error(self) -> None:
        """A process cannot monitor or link itself."""

        async def body(proc: actors.Process) -> None:
            with pytest.raises(ValueError, match="itself"):
                proc.monitor(proc.pid)
            with pytest.raises(ValueError, match="itself"):
                proc.link(proc.pid)

        async with actors.open_node() as node:
            await node.exec(body)


class TestLinks:
    async def test_normal_exit_sends_no_linkdown(self) -> None:
        """A linked partner that returns normally sends nothing."""

        async def parent(proc: actors.Process) -> int:
            proc.trap_links = True
            proc.spawn_linked(helpers.returns, 1)
            await trio.sleep(1)
            return len(proc.events)

        async with actors.open_node() as node:
            assert await node.exec(parent) == 0

    async def test_trapped_linkdown_is_an_event(self) -> None:
        """With trap_links, a crashing partner arrives as LinkDown with its error."""

        async def parent(proc: actors.Process) -> actors.Event:
            proc.trap_links = True
            proc.spawn_linked(helpers.crash, "x")
            return await proc.events.receive()

        async with actors.open_node() as node:
            event = await node.exec(parent)
            assert isinstance(event, LinkDown) and event.reason is ExitReason.ERROR
            assert isinstance(event.error, RuntimeError)

    async def test_untrapped_linkdown_fails_receiver(self) -> None:
        """Without trapping, a crashing partner makes the receiver exit with LinkedProcessFailed."""

        async def parent(proc: actors.Process) -> None:
            proc.spawn_linked(helpers.crash, "x")
            await trio.sleep_forever()

        async with actors.open_node() as node:
            pid = node.spawn(parent)
            exit = await node.wait_exit(pid)
            assert exit.reason is ExitReason.ERROR
            assert isinstance(exit.error, actors.LinkedProcessFailed)
            assert isinstance(exit.error.__cause__, RuntimeError)

    async def test_cascade_along_a_chain(self) -> None:
        """A failure cascades along a chain of untrapped links; a trapping end survives."""
        events: list[actors.Event] = []

        async def end(proc: actors.Process) -> None:
            proc.trap_links = True
            events.append(await proc.events.receive())

        async def middle(proc: actors.Process, nxt: actors.PID) -> None:
            proc.link(nxt)
            await trio.sleep_forever()

        async with actors.open_node() as node:
            tail = node.spawn(end)
            m2 = node.spawn(middle, tail)
            m1 = node.spawn(middle, m2)
            await trio.testing.wait_all_tasks_blocked()
            node.terminate(m1)
            await node.wait_exit(tail)
            assert not node.is_alive(m2)
        assert isinstance(events[0], LinkDown) and events[0].pid == m2
        assert isinstance(events[0].error, actors.LinkedProcessFailed)

    async def test_link_to_dead_pid_fails_untrapped_caller(self) -> None:
        """Linking to a dead PID is a NoProc LinkDown: trapped it is an event, else an exit."""

        async def trapping(proc: actors.Process, dead: actors.PID) -> actors.Event:
            proc.trap_links = True
            proc.link(dead)
            return proc.events.receive_nowait()

        async def plain(proc: actors.Process, dead: actors.PID) -> None:
            proc.link(dead)
            await trio.sleep_forever()

        async with actors.open_node() as node:
            dead = node.spawn(helpers.returns, 1)
            await node.wait_exit(dead)
            event = await node.exec(trapping, dead)
            assert isinstance(event, LinkDown) and isinstance(event.error, actors.NoProc)
            exit = await node.wait_exit(node.spawn(plain, dead))
            assert isinstance(exit.error, actors.LinkedProcessFailed)

    async def test_unlink(self) -> None:
        """After unlink a crash of the former partner has no effect."""

        async def parent(proc: actors.Process) -> str:
            child = proc.spawn_linked(helpers.idle)
            proc.unlink(child)
            proc.unlink(child)
            proc.terminate(child)
            await trio.sleep(1)
            return "alive"

        async with actors.open_node() as node:
            assert await node.exec(parent) == "alive"

    async def test_shutdown_terminate_cascades_as_shutdown(self) -> None:
        """A partner terminated by shutdown sends LinkDown with reason shutdown."""

        async def trap(proc: actors.Process) -> None:
            proc.trap_links = True
            proc.spawn_linked(helpers.forever)
            event = await proc.events.receive()
            assert isinstance(event, LinkDown) and event.reason is ExitReason.SHUTDOWN

        async with actors.open_node(shutdown_grace=1) as node:
            pid = node.spawn(trap)
            await trio.testing.wait_all_tasks_blocked()
            kid = node.processes()[1]
            actors._core._lifecycle.terminate(node._resolve(kid), shutdown=True)
            exit = await node.wait_exit(pid)
            assert exit.error is None


class TestTrapFromStart:
    async def test_spawn_with_trap_links_traps_before_first_step(self) -> None:
        """spawn(trap_links=True) traps a partner's failure even before the child ran."""
        got: list[actors.Event] = []

        async def child(proc: actors.Process) -> None:
            got.append(await proc.events.receive())

        async with actors.open_node() as node:
            pid = node.spawn(child, trap_links=True)
            crasher = node.spawn(helpers.crash)
            actors._core._lifecycle.link(node._resolve(pid), crasher)
            await node.wait_exit(pid)
        assert isinstance(got[0], LinkDown)
