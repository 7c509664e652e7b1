"""The Server behaviour: hooks, replies, casts, infos, stop and crashes (virtual time)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
import helpers
from actors import (
    NOREPLY,
    Backoff,
    ChildSpec,
    ExitReason,
    Server,
    serve,
    start_server,
    start_supervisor,
    which_children,
)
from actors.testing import TestNode, open_test_node


class Counter(Server):
    """Adds casts to a total; answers calls; records its lifecycle."""

    def __init__(self, journal: list[object] | None = None) -> None:
        self.total = 0
        self.journal: list[object] = [] if journal is None else journal
        self.held: list[actors.Message] = []

    async def on_start(self) -> None:
        self.journal.append(("start", self.proc.pid))

    async def handle_call(self, message: actors.Message) -> object:
        if message.topic == "get":
            return self.total
        if message.topic == "boom":
            raise ValueError("bad request")
        if message.topic == "slow":
            await trio.sleep(10)
            return "slow done"
        if message.topic == "hold":
            self.held.append(message)
            return NOREPLY
        if message.topic == "release":
            for held in self.held:
                self.proc.reply(held, "released")
            return len(self.held)
        if message.topic == "quit":
            self.stop()
            return "bye"
        return await super().handle_call(message)

    async def handle_cast(self, message: actors.Message) -> None:
        if message.topic == "add":
            self.total += message.payload
        elif message.topic == "explode":
            raise RuntimeError("cast exploded")

    async def handle_info(self, event: actors.Exit | actors.LinkDown) -> None:
        self.journal.append(("info", type(event).__name__, event.pid))

    async def on_stop(self, error: BaseException | None) -> None:
        self.journal.append(("stop", repr(error)))


class TestHooks:
    async def test_call_cast_and_state(self) -> None:
        """Casts change state on the object; calls get handle_call's return value."""
        async with actors.open_node() as node:
            pid = start_server(node, Counter())
            for n in (1, 2, 3):
                node.send(pid, "add", n)
            assert await node.call(pid, "get") == 6

    async def test_on_start_first_and_on_stop_after_cancel(self) -> None:
        """on_start runs before any message; Cancel runs on_stop(None), reason shutdown."""
        journal: list[object] = []
        async with actors.open_node() as node:
            pid = start_server(node, Counter(journal))
            assert await node.call(pid, "get") == 0
            node.cancel(pid)
            exit = await node.wait_exit(pid)
        assert journal == [("start", pid), ("stop", "None")]
        assert exit.reason is ExitReason.SHUTDOWN

    async def test_stop_from_a_handler(self, actors_node: TestNode) -> None:
        """self.stop() in a handler replies, runs on_stop(None) and ends normally."""
        journal: list[object] = []
        probe = actors_node.probe()
        pid = start_server(actors_node.node, Counter(journal))
        probe.monitor(pid)
        assert await probe.call(pid, "quit") == "bye"
        await probe.expect_exit(pid, reason="normal")
        assert journal[-1] == ("stop", "None")

    async def test_handle_info_gets_exits(self, actors_node: TestNode) -> None:
        """Exit events of monitored processes reach handle_info."""
        journal: list[object] = []

        class Watcher(Counter):
            async def on_start(self) -> None:
                self.proc.monitor(self.proc.spawn(helpers.returns, 1))

        start_server(actors_node.node, Watcher(journal))
        await actors_node.settle()
        assert journal[0][:2] == ("info", "Exit")  # type: ignore[index]

    async def test_noreply_then_reply_later(self) -> None:
        """handle_call may return NOREPLY and answer later with proc.reply."""
        results: list[object] = []

        async def caller(proc: actors.Process, server: actors.PID) -> None:
            results.append(await proc.call(server, "hold"))

        async with actors.open_node() as node:
            pid = start_server(node, Counter())
            node.spawn(caller, pid)
            node.spawn(caller, pid)
            await trio.testing.wait_all_tasks_blocked()
            assert results == []
            assert await node.call(pid, "release") == 2
            await trio.testing.wait_all_tasks_blocked()
        assert results == ["released", "released"]

    async def test_unhandled_call_fails_only_the_call(self) -> None:
        """The default handle_call fails that call; the server keeps running."""
        async with actors.open_node() as node:
            pid = start_server(node, Counter())
            with pytest.raises(actors.CallFailed, match="does not handle calls"):
                await node.call(pid, "what")
            assert node.is_alive(pid)

    async def test_factory_gives_fresh_instance(self) -> None:
        """serve() accepts a class or factory; anything else fails with TypeError."""
        async with actors.open_node() as node:
            pid = node.spawn(serve, Counter)
            assert await node.call(pid, "get") == 0
            with pytest.raises(TypeError, match="needs a Server"):
                await node.exec(serve, lambda: 42)


class TestCrashes:
    async def test_crash_in_call_fails_pending_calls(self) -> None:
        """A raising handle_call fails its caller and every queued call; on_stop sees the error."""
        journal: list[object] = []
        results: dict[str, object] = {}

        async def caller(proc: actors.Process, server: actors.PID, topic: str) -> None:
            try:
                results[topic] = await proc.call(server, topic, timeout=60)
            except actors.CallFailed as exc:
                results[topic] = exc

        async with open_test_node() as tn:
            probe = tn.probe()
            pid = start_server(tn.node, Counter(journal))
            probe.monitor(pid)
            for topic in ("slow", "boom", "get"):  # boom and get queue behind slow (10 s)
                tn.spawn(caller, pid, topic)
                await tn.settle()
            exit = await probe.expect_exit(pid, within=20)
        assert results["slow"] == "slow done"
        boom, get = results["boom"], results["get"]
        assert isinstance(boom, actors.CallFailed)
        assert "handler raised ValueError('bad request')" in str(boom)
        assert isinstance(boom.__cause__, ValueError)
        assert isinstance(get, actors.CallFailed)
        assert "target exited (error) before replying" in str(get)
        assert journal[-1] == ("stop", "ValueError('bad request')")
        assert exit.reason is ExitReason.ERROR

    async def test_crash_in_cast_exits_with_error(self) -> None:
        """A raising handle_cast crashes the server with that error."""
        async with actors.open_node() as node:
            pid = start_server(node, Counter())
            node.send(pid, "explode")
            exit = await node.wait_exit(pid)
        assert exit.reason is ExitReason.ERROR
        assert isinstance(exit.error, RuntimeError)

    async def test_supervised_server_restarts_with_fresh_state(self) -> None:
        """Under a supervisor a crashed server comes back with a new object."""
        async with actors.open_node() as node:
            child = ChildSpec("counter", serve, (Counter,), backoff=Backoff(initial=0, jitter=0))
            sup = start_supervisor(node, [child])
            await trio.testing.wait_all_tasks_blocked()
            (info,) = await which_children(node, sup)
            assert info.pid is not None
            node.send(info.pid, "add", 5)
            assert await node.call(info.pid, "get") == 5
            node.send(info.pid, "explode")
            await trio.testing.wait_all_tasks_blocked()
            (after,) = await which_children(node, sup)
            assert after.pid not in (None, info.pid)
            assert await node.call(after.pid, "get") == 0

    async def test_server_started_from_a_process_is_linked(self) -> None:
        """start_server from a process links them: the owner's crash takes the server down."""
        box: list[actors.PID] = []

        async def owner(proc: actors.Process) -> None:
            box.append(start_server(proc, Counter()))
            await proc.inbox.receive()
            raise RuntimeError("owner failed")

        async with actors.open_node() as node:
            pid = node.spawn(owner)
            await trio.testing.wait_all_tasks_blocked()
            exit = await node.exec(_wait_for, box[0], pid)
        assert isinstance(exit.error, actors.LinkedProcessFailed)


async def _wait_for(proc: actors.Process, server: actors.PID, owner: actors.PID) -> actors.Exit:
    proc.monitor(server)
    proc.send(owner, "go")
    event = await proc.events.receive()
    assert isinstance(event, actors.Exit)
    return event
