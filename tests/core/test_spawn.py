"""Spawning, exits, sending, names, hosts and introspection."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import actors
import helpers
from actors import Exit, ExitReason


class TestSpawn:
    async def test_spawn_returns_pid_before_child_runs(self) -> None:
        """spawn is synchronous: the PID comes back before the child's first step."""
        ran: list[bool] = []

        async def child(proc: actors.Process) -> None:
            ran.append(True)

        async with actors.open_node() as node:
            pid = node.spawn(child)
            assert isinstance(pid, actors.PID)
            assert ran == []
            await node.wait_exit(pid)
            assert ran == [True]

    async def test_pids_are_unique_and_counted_per_node(self) -> None:
        """Each spawn takes the next sequence number of the node."""
        async with actors.open_node(name="n1") as node:
            pids = [node.spawn(helpers.idle) for _ in range(3)]
            assert [p.seq for p in pids] == [1, 2, 3]
            assert str(pids[0]) == "{n1@main|0x00001}"

    async def test_process_args(self) -> None:
        """Extra spawn arguments are passed after proc."""
        async with actors.open_node() as node:
            assert await node.exec(helpers.returns, 41) == 41

    async def test_exec_raises_child_error(self) -> None:
        """exec re-raises the child's exception."""
        async with actors.open_node() as node:
            with pytest.raises(RuntimeError, match="boom"):
                await node.exec(helpers.crash)

    async def test_proc_exec(self) -> None:
        """A process can exec a child and get its result."""

        async def parent(proc: actors.Process) -> object:
            return await proc.exec(helpers.returns, "r")

        async with actors.open_node() as node:
            assert await node.exec(parent) == "r"

    async def test_plain_spawn_creates_no_relationship(self) -> None:
        """A child of a plain spawn outlives its crashing parent."""

        async def parent(proc: actors.Process) -> actors.PID:
            return proc.spawn(helpers.idle)

        async with actors.open_node() as node:
            child = await node.exec(parent)
            await trio.testing.wait_all_tasks_blocked()
            assert node.is_alive(child)
            info = node.info(child)
            assert info.links == () and info.monitors == ()

    async def test_spawn_monitored_reports_result(self) -> None:
        """spawn_monitored delivers Exit with the return value, reason normal."""

        async def parent(proc: actors.Process) -> Exit:
            child = proc.spawn_monitored(helpers.returns, 7)
            event = await proc.events.receive()
            assert isinstance(event, Exit) and event.pid == child
            return event

        async with actors.open_node() as node:
            event = await node.exec(parent)
            assert (event.result, event.error, event.reason) == (7, None, ExitReason.NORMAL)

    async def test_spawn_monitored_reports_error(self) -> None:
        """An exception becomes Exit.error with reason error."""

        async def parent(proc: actors.Process) -> Exit:
            proc.spawn_monitored(helpers.crash, "bad")
            return await proc.events.receive()  # type: ignore[return-value]

        async with actors.open_node() as node:
            event = await node.exec(parent)
            assert event.reason is ExitReason.ERROR
            assert isinstance(event.error, RuntimeError) and str(event.error) == "bad"

    async def test_spawn_refused_during_shutdown(self) -> None:
        """A node that is shutting down refuses new processes."""
        async with actors.open_node() as node:
            node._closing = True
            with pytest.raises(RuntimeError, match="shutting down"):
                node.spawn(helpers.idle)
            node._closing = False


class TestCrashIsolation:
    async def test_crash_logged_once_with_traceback(self, caplog: pytest.LogCaptureFixture) -> None:
        """A crash is logged once, with its traceback, and siblings keep running."""
        with caplog.at_level(logging.ERROR, logger="actors"):
            async with actors.open_node() as node:
                sibling = node.spawn(helpers.idle)
                await node.wait_exit(node.spawn(helpers.crash, "kaput"))
                assert node.is_alive(sibling)
        crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
        assert len(crashes) == 1
        assert crashes[0].exc_info is not None and "kaput" in caplog.text

    async def test_normal_and_shutdown_exits_are_not_logged_as_errors(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Returning, or stopping on Cancel, logs nothing at ERROR."""
        with caplog.at_level(logging.ERROR, logger="actors"):
            async with actors.open_node() as node:
                node.spawn(helpers.idle)
                await node.exec(helpers.returns, 1)
        assert caplog.records == []


class TestSend:
    async def test_send_to_dead_pid_raises(self) -> None:
        """Sending to an exited PID raises ProcessNotFound naming it."""
        async with actors.open_node() as node:
            pid = node.spawn(helpers.returns, 1)
            await node.wait_exit(pid)
            with pytest.raises(actors.ProcessNotFound, match=r"\{main\|0x00001\}"):
                node.send(pid, "t")

    async def test_send_to_unknown_pid_and_name_raises(self) -> None:
        """A PID that never existed, or an unknown name, raises ProcessNotFound."""
        async with actors.open_node() as node:
            with pytest.raises(actors.ProcessNotFound):
                node.send(actors.PID("main", 99), "t")
            with pytest.raises(actors.ProcessNotFound, match="nobody"):
                node.send("nobody", "t")

    async def test_send_to_printed_pid(self) -> None:
        """A printed PID string is accepted as a destination."""
        got: list[actors.Message] = []
        async with actors.open_node() as node:
            pid = node.spawn(helpers.collect, got, 1)
            node.send(str(pid), "t", 1)
            await node.wait_exit(pid)
        assert got[0].payload == 1

    async def test_send_resolves_name_at_send_time(self) -> None:
        """A name is resolved when sending, so a re-registered name reaches the new holder."""
        first: list[actors.Message] = []
        second: list[actors.Message] = []
        async with actors.open_node() as node:
            a = node.spawn(helpers.collect, first, 1, name="svc")
            node.send("svc", "t", "to-a")
            await node.wait_exit(a)
            b = node.spawn(helpers.collect, second, 1)
            node.register("svc", b)
            node.send("svc", "t", "to-b")
            await node.wait_exit(b)
        assert [m.payload for m in first] == ["to-a"]
        assert [m.payload for m in second] == ["to-b"]


class TestNames:
    async def test_register_idempotent_and_conflicting(self) -> None:
        """Same name to the same PID is fine; to another PID it is NameTaken."""
        async with actors.open_node() as node:
            a = node.spawn(helpers.idle)
            b = node.spawn(helpers.idle)
            node.register("x", a)
            node.register("x", a)
            with pytest.raises(actors.NameTaken, match="'x' is already registered"):
                node.register("x", b)
            with pytest.raises(actors.NameTaken):
                node.spawn(helpers.idle, name="x")
            assert node.lookup("x") == a

    async def test_names_released_on_exit(self) -> None:
        """A dead process's names are free again."""
        async with actors.open_node() as node:
            pid = node.spawn(helpers.returns, None, name="tmp")
            assert node.lookup("tmp") == pid
            await node.wait_exit(pid)
            assert node.lookup("tmp") is None

    async def test_unregister_and_invalid(self) -> None:
        """unregister reports whether the name existed; bad names are refused."""

        async def body(proc: actors.Process) -> tuple[bool, bool]:
            proc.register("me")
            return proc.unregister("me"), proc.unregister("me")

        async with actors.open_node() as node:
            assert await node.exec(body) == (True, False)
            pid = node.spawn(helpers.idle)
            for bad in ("", "{x", "@x"):
                with pytest.raises(ValueError, match="invalid process name"):
                    node.register(bad, pid)
            with pytest.raises(actors.ProcessNotFound):
                node.register("ghost", actors.PID("main", 999))


class TestHosts:
    async def test_host_is_pid_group_with_limit(self) -> None:
        """Processes spawn on named hosts; a full host refuses with HostLimitReached."""
        async with actors.open_node() as node:
            node.add_host("app:workers", max_processes=2)
            pids = [node.spawn(helpers.idle, host="app:workers") for _ in range(2)]
            assert all(p.host == "app:workers" for p in pids)
            with pytest.raises(actors.HostLimitReached, match=r"'app:workers'.*limit \(2\)"):
                node.spawn(helpers.idle, host="app:workers")
            node.terminate(pids[0])
            await node.wait_exit(pids[0]) if node.is_alive(pids[0]) else None
            await trio.testing.wait_all_tasks_blocked()
            node.spawn(helpers.idle, host="app:workers")
            assert node.processes(host="app:workers")[0] == pids[1]

    async def test_unknown_host_and_bad_limits(self) -> None:
        """Unknown hosts and invalid limits are clear errors."""
        async with actors.open_node() as node:
            with pytest.raises(ValueError, match="unknown host 'nope'"):
                node.spawn(helpers.idle, host="nope")
            with pytest.raises(ValueError, match="max_processes"):
                node.add_host("h", max_processes=0)
            with pytest.raises(ValueError, match="invalid host name"):
                node.add_host("a|b")


class TestIntrospection:
    async def test_info_and_processes(self) -> None:
        """info reports status, host, names, links, monitors and mailbox depth."""

        async def parent(proc: actors.Process) -> None:
            proc.spawn_linked_monitored(helpers.idle, name="kid")
            await proc.events.receive()

        async with actors.open_node() as node:
            parent_pid = node.spawn(parent)
            await trio.testing.wait_all_tasks_blocked()
            kid = node.lookup("kid")
            assert kid is not None
            info = node.info(kid)
            assert info.status == "waiting"
            assert info.names == ("kid",)
            assert info.links == (parent_pid,)
            assert info.monitors == (parent_pid,)
            assert info.host == "main"
            assert info.function.endswith("idle")
            node.send(kid, "t", 1)
            assert node.info(kid).mailbox_depth == 1
            assert node.processes() == [parent_pid, kid]
            assert len(node) == 2
