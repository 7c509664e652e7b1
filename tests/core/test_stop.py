"""Stopping processes: cooperative cancel, forceful terminate, node shutdown."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
import helpers
from actors import Cancel, ExitReason


class TestCancel:
    async def test_cancel_posts_event_and_return_is_shutdown(self) -> None:
        """cancel posts Cancel(sender, reason); returning afterwards is reason shutdown."""
        seen: list[actors.Event] = []

        async def listener(proc: actors.Process) -> str:
            seen.append(await proc.events.receive())
            return "done"

        async def canceller(proc: actors.Process, target: actors.PID) -> None:
            proc.cancel(target, "please stop")

        async with actors.open_node() as node:
            pid = node.spawn(listener)
            cpid = node.spawn(canceller, pid)
            exit = await node.wait_exit(pid)
        assert isinstance(seen[0], Cancel)
        assert (seen[0].sender, seen[0].reason) == (cpid, "please stop")
        assert (exit.reason, exit.result) == (ExitReason.SHUTDOWN, "done")

    async def test_cancel_is_cooperative(self) -> None:
        """A process that never reads its events keeps running after cancel."""
        async with actors.open_node(shutdown_grace=0) as node:
            pid = node.spawn(helpers.forever)
            node.cancel(pid)
            await trio.sleep(5)
            assert node.is_alive(pid)

    async def test_cancel_dead_raises(self) -> None:
        """Cancelling a dead process raises ProcessNotFound."""
        async with actors.open_node() as node:
            pid = node.spawn(helpers.returns, 1)
            await node.wait_exit(pid)
            with pytest.raises(actors.ProcessNotFound):
                node.cancel(pid)


class TestTerminate:
    @pytest.mark.parametrize(
        "blocked_in",
        ["receive", "events", "trio_sleep", "call", "inner_nursery", "never_started"],
    )
    async def test_terminate_wherever_it_waits(self, blocked_in: str) -> None:
        """terminate stops a process blocked anywhere, with Terminated and reason error."""

        async def victim(proc: actors.Process, target: actors.PID) -> None:
            if blocked_in == "receive":
                await proc.inbox.receive()
            elif blocked_in == "events":
                await proc.events.receive()
            elif blocked_in == "trio_sleep":
                await trio.sleep(3600)
            elif blocked_in == "call":
                await proc.call(target, "never-answered", timeout=3600)
            elif blocked_in == "inner_nursery":
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(trio.sleep_forever)
                    nursery.start_soon(trio.sleep_forever)
            await trio.sleep_forever()

        async with actors.open_node() as node:
            sink = node.spawn(helpers.forever)
            pid = node.spawn(victim, sink)
            if blocked_in != "never_started":
                await trio.testing.wait_all_tasks_blocked()
            node.terminate(pid)
            exit = await node.wait_exit(pid)
            assert exit.reason is ExitReason.ERROR
            assert isinstance(exit.error, actors.Terminated)
            assert node.is_alive(sink)

    async def test_terminate_runs_finally_and_reinterrupts(self) -> None:
        """finally blocks run; one that blocks again is interrupted again."""
        log: list[str] = []

        async def victim(proc: actors.Process) -> None:
            try:
                await proc.inbox.receive()
            finally:
                log.append("finally")
                try:
                    await trio.sleep(3600)
                finally:
                    log.append("inner")

        async with actors.open_node() as node:
            pid = node.spawn(victim)
            await trio.testing.wait_all_tasks_blocked()
            node.terminate(pid)
            exit = await node.wait_exit(pid)
        assert log == ["finally", "inner"]
        assert isinstance(exit.error, actors.Terminated)

    async def test_terminate_not_swallowed_by_except_exception(self) -> None:
        """User code catching Exception cannot swallow a terminate."""

        async def victim(proc: actors.Process) -> str:
            try:
                await proc.inbox.receive()
            except Exception:
                return "swallowed"
            return "not reached"

        async with actors.open_node() as node:
            pid = node.spawn(victim)
            await trio.testing.wait_all_tasks_blocked()
            node.terminate(pid)
            exit = await node.wait_exit(pid)
            assert exit.result is None and isinstance(exit.error, actors.Terminated)

    async def test_terminate_busy_process(self) -> None:
        """A process busy with short waits and a hot mailbox is still stopped."""

        async def busy(proc: actors.Process) -> None:
            while True:
                await trio.sleep(0.001)
                proc.send(proc.pid, "self", None)
                for _ in range(100):
                    proc.send(proc.pid, "self", None)
                    await proc.inbox.receive()

        async with actors.open_node() as node:
            pid = node.spawn(busy)
            for _ in range(5):
                await trio.lowlevel.checkpoint()
            node.terminate(pid)
            exit = await node.wait_exit(pid)
            assert isinstance(exit.error, actors.Terminated)

    async def test_self_terminate(self) -> None:
        """A process may terminate itself; it stops at its next wait."""

        async def body(proc: actors.Process) -> None:
            proc.terminate(proc.pid)
            await trio.sleep(1)

        async with actors.open_node() as node:
            exit = await node.wait_exit(node.spawn(body))
            assert isinstance(exit.error, actors.Terminated)


class TestShutdown:
    async def test_grace_then_terminate(self) -> None:
        """Shutdown cancels all, waits the grace period, then terminates the rest."""
        exits: dict[str, actors.Exit] = {}

        async def watch(name: str, pid: actors.PID, node: actors.Node) -> None:
            exits[name] = await node.wait_exit(pid)

        async with trio.open_nursery() as nursery:
            async with actors.open_node(shutdown_grace=3) as node:
                polite = node.spawn(helpers.idle)
                stubborn = node.spawn(helpers.forever)
                nursery.start_soon(watch, "polite", polite, node)
                nursery.start_soon(watch, "stubborn", stubborn, node)
                await trio.testing.wait_all_tasks_blocked()
                start = trio.current_time()
            elapsed = trio.current_time() - start
        assert elapsed == pytest.approx(3, abs=0.01)
        assert exits["polite"].reason is ExitReason.SHUTDOWN
        assert exits["polite"].error is None
        assert exits["stubborn"].reason is ExitReason.SHUTDOWN
        assert isinstance(exits["stubborn"].error, actors.Terminated)

    async def test_no_task_left_behind(self) -> None:
        """After the node block, no task of the node remains."""
        before = helpers.count_tasks()
        async with actors.open_node(shutdown_grace=1) as node:
            for _ in range(50):
                node.spawn(helpers.idle)
                node.spawn(helpers.forever)
            await trio.testing.wait_all_tasks_blocked()
            assert helpers.count_tasks() >= before + 100
        assert helpers.count_tasks() == before

    async def test_body_error_stops_everything_and_propagates(self) -> None:
        """If the node block raises, processes stop at once and the error is unchanged."""
        exits: list[actors.Exit] = []

        async def body() -> None:
            async with actors.open_node() as node:
                pid = node.spawn(helpers.forever)
                node._resolve(pid)._add_exit_hook(exits.append)
                await trio.testing.wait_all_tasks_blocked()
                raise KeyError("body")

        with pytest.raises(KeyError):
            await body()
        assert exits and exits[0].reason is ExitReason.SHUTDOWN
