"""call / reply: answers, timeouts, dead targets, no leaks."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
import helpers


async def slow_echo(proc: actors.Process, delay: float) -> None:
    async for msg in proc.inbox:
        await trio.sleep(delay)
        proc.reply(msg, msg.payload)


class TestCall:
    async def test_call_gets_reply(self) -> None:
        """The value passed to reply comes back from call."""

        async def caller(proc: actors.Process, server: actors.PID) -> object:
            return await proc.call(server, "echo", {"x": 1})

        async with actors.open_node() as node:
            server = node.spawn(helpers.echo)
            assert await node.exec(caller, server) == {"x": 1}
            assert await node.call(server, "echo", 2) == 2

    async def test_call_by_name(self) -> None:
        """call resolves a registered name."""
        async with actors.open_node() as node:
            node.spawn(helpers.echo, name="echo")
            assert await node.call("echo", "t", 5) == 5

    async def test_dead_target_raises_at_once(self) -> None:
        """Calling a dead process raises ProcessNotFound without waiting."""
        async with actors.open_node() as node:
            pid = node.spawn(helpers.returns, None)
            await node.wait_exit(pid)
            start = trio.current_time()
            with pytest.raises(actors.ProcessNotFound):
                await node.call(pid, "t", timeout=100)
            assert trio.current_time() == start

    async def test_target_exits_while_waiting(self) -> None:
        """A target that exits without replying fails the call with CallFailed."""

        async def dies(proc: actors.Process) -> None:
            await proc.inbox.receive()
            raise ValueError("handler blew up")

        async with actors.open_node() as node:
            pid = node.spawn(dies)
            with pytest.raises(actors.CallFailed, match="exited \\(error\\)") as info:
                await node.call(pid, "t", timeout=100)
            assert isinstance(info.value.__cause__, ValueError)

    async def test_timeout_and_no_late_reply_leak(self) -> None:
        """A timed-out call raises CallTimeout; the late reply is discarded."""

        async def caller(proc: actors.Process, server: actors.PID) -> int:
            with pytest.raises(actors.CallTimeout, match="within 1s"):
                await proc.call(server, "t", "late", timeout=1)
            await trio.sleep(10)  # the server replies at t=5
            return len(proc.inbox) + len(proc.events)

        async with actors.open_node() as node:
            server = node.spawn(slow_echo, 5)
            assert await node.exec(caller, server) == 0

    async def test_reply_reports_whether_delivered(self) -> None:
        """reply returns False once the caller has given up."""
        results: list[bool] = []

        async def server(proc: actors.Process) -> None:
            msg = await proc.inbox.receive()
            await trio.sleep(5)
            results.append(proc.reply(msg, 1))

        async with actors.open_node() as node:
            pid = node.spawn(server)
            with pytest.raises(actors.CallTimeout):
                await node.call(pid, "t", timeout=1)
            await node.wait_exit(pid)
        assert results == [False]

    async def test_reply_error(self) -> None:
        """reply_error fails the call with CallFailed caused by the given error."""

        async def server(proc: actors.Process) -> None:
            msg = await proc.inbox.receive()
            proc.reply_error(msg, KeyError("missing"))

        async with actors.open_node() as node:
            pid = node.spawn(server)
            with pytest.raises(actors.CallFailed) as info:
                await node.call(pid, "get")
            assert isinstance(info.value.__cause__, KeyError)

    async def test_reply_to_plain_message_is_error(self) -> None:
        """reply to a message not sent with call is a ValueError."""

        async def server(proc: actors.Process) -> None:
            msg = await proc.inbox.receive()
            with pytest.raises(ValueError, match="not sent with call"):
                proc.reply(msg, 1)

        async with actors.open_node() as node:
            pid = node.spawn(server)
            node.send(pid, "plain")
            exit = await node.wait_exit(pid)
            assert exit.error is None

    async def test_cancelled_caller_leaves_nothing(self) -> None:
        """A call cancelled by its caller's scope discards the later reply."""
        async with actors.open_node() as node:
            pid = node.spawn(slow_echo, 5)
            with trio.move_on_after(1):
                await node.call(pid, "t", 1, timeout=100)
            await trio.sleep(10)
            assert node.info(pid).status == "waiting"
            assert node._resolve(pid)._exit_hooks == []

    async def test_invalid_timeout(self) -> None:
        """A non-positive timeout is a ValueError."""
        async with actors.open_node() as node:
            pid = node.spawn(helpers.echo)
            with pytest.raises(ValueError, match="timeout must be > 0"):
                await node.call(pid, "t", timeout=0)
