"""Mailbox queues: ordering, retention, routing, bounds, fairness."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import actors
import helpers
from actors import MailboxPolicy, Message


async def receive_n(proc: actors.Process, n: int, sink: list[Message]) -> None:
    for _ in range(n):
        sink.append(await proc.inbox.receive())


class TestOrderAndRetention:
    async def test_messages_sent_before_receive_are_kept(self) -> None:
        """Messages that arrive before the process receives are kept in order."""
        got: list[Message] = []

        async def late(proc: actors.Process) -> None:
            await trio.sleep(1)
            await receive_n(proc, 3, got)

        async with actors.open_node() as node:
            pid = node.spawn(late)
            for i in range(3):
                node.send(pid, "n", i)
            await node.wait_exit(pid)
        assert [m.payload for m in got] == [0, 1, 2]

    async def test_message_fields(self) -> None:
        """A message carries topic, payload and the sender's PID."""
        got: list[Message] = []

        async def sender(proc: actors.Process, dest: actors.PID) -> None:
            proc.send(dest, "hello", (1, 2))

        async with actors.open_node() as node:
            pid = node.spawn(receive_n, 1, got)
            spid = node.spawn(sender, pid)
            await node.wait_exit(pid)
        assert got == [Message("hello", (1, 2), spid)]

    async def test_receive_nowait(self) -> None:
        """receive_nowait raises WouldBlock when empty and pops when not."""

        async def probe(proc: actors.Process) -> object:
            with pytest.raises(trio.WouldBlock):
                proc.inbox.receive_nowait()
            await trio.sleep(1)
            return proc.inbox.receive_nowait().payload

        async with actors.open_node() as node:
            pid = node.spawn(probe)
            await trio.testing.wait_all_tasks_blocked()
            node.send(pid, "t", "x")
            assert (await node.wait_exit(pid)).result == "x"

    async def test_two_receivers_on_one_queue_is_busy(self) -> None:
        """A second task parking on the same queue gets BusyResourceError."""

        async def two(proc: actors.Process) -> str:
            async def receiver() -> None:
                await proc.inbox.receive()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(receiver)
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(trio.BusyResourceError):
                    await proc.inbox.receive()
                nursery.cancel_scope.cancel()
            return "ok"

        async with actors.open_node() as node:
            assert await node.exec(two) == "ok"


class TestRouting:
    async def test_reserved_topics_rejected(self) -> None:
        """Topics beginning with '@' (and empty or non-string topics) are refused."""
        async with actors.open_node() as node:
            pid = node.spawn(receive_n, 1, [])
            for bad in ("@inbox", "", 3):
                with pytest.raises(ValueError, match="topic"):
                    node.send(pid, bad, None)  # type: ignore[arg-type]
            node.terminate(pid)

    async def test_process_send_refuses_the_same_topics(self) -> None:
        """``proc.send`` refuses what ``node.send`` refuses: '@...', empty, not a string."""

        async def sender(proc: actors.Process, target: actors.PID) -> list[str]:
            refused = []
            for bad in ("@inbox", "", 3):
                with pytest.raises(ValueError, match="topic") as caught:
                    proc.send(target, bad, None)  # type: ignore[arg-type]
                refused.append(str(caught.value))
            return refused

        async with actors.open_node() as node:
            pid = node.spawn(receive_n, 1, [])
            refused = await node.exec(sender, pid)
            assert "non-empty string, got ''" in refused[1]
            assert node.info(pid).mailbox_depth == 0
            node.terminate(pid)

    async def test_listen_exact_then_glob_then_inbox(self) -> None:
        """Exact listens win over globs, globs over the inbox fallback."""

        async def router(proc: actors.Process) -> tuple[str, ...]:
            exact = proc.listen("update.price")
            glob = proc.listen("update.*")
            await trio.sleep(1)
            return (
                exact.receive_nowait().payload,
                glob.receive_nowait().payload,
                proc.inbox.receive_nowait().payload,
            )

        async with actors.open_node() as node:
            pid = node.spawn(router)
            await trio.testing.wait_all_tasks_blocked()
            node.send(pid, "update.price", "a")
            node.send(pid, "update.stock", "b")
            node.send(pid, "other", "c")
            assert (await node.wait_exit(pid)).result == ("a", "b", "c")

    async def test_listen_is_idempotent_and_unlisten_returns_messages(self) -> None:
        """listen twice gives one queue; unlisten moves queued messages to the inbox."""

        async def body(proc: actors.Process) -> list[object]:
            q = proc.listen("t")
            assert proc.listen("t") is q
            await trio.sleep(1)
            proc.unlisten("t")
            with pytest.raises(ValueError, match="not listening"):
                proc.unlisten("t")
            return [proc.inbox.receive_nowait().payload for _ in range(2)]

        async with actors.open_node() as node:
            pid = node.spawn(body)
            await trio.testing.wait_all_tasks_blocked()
            node.send(pid, "t", 1)
            node.send(pid, "t", 2)
            assert (await node.wait_exit(pid)).result == [1, 2]


class TestBounded:
    @pytest.mark.parametrize(
        ("overflow", "kept"),
        [("drop_newest", [0, 1, 2]), ("drop_oldest", [2, 3, 4])],
    )
    async def test_drop_policies_count_and_log(
        self, overflow: str, kept: list[int], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Dropping policies keep the bound, count every drop and log it."""

        async def slow(proc: actors.Process) -> tuple[list[object], int]:
            await trio.sleep(1)
            stats = proc.inbox.statistics()
            return [proc.inbox.receive_nowait().payload for _ in range(3)], stats.dropped

        policy = MailboxPolicy(3, overflow)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="actors"):
            async with actors.open_node() as node:
                pid = node.spawn(slow, mailbox=policy)
                for i in range(5):
                    node.send(pid, "n", i)
                assert (await node.wait_exit(pid)).result == (kept, 2)
        assert "mailbox full" in caplog.text

    async def test_raise_policy_refuses_sender(self) -> None:
        """With overflow='raise' the sender gets MailboxFull and the queue is unchanged."""
        async with actors.open_node() as node:
            pid = node.spawn(helpers.forever, mailbox=MailboxPolicy(1))
            node.send(pid, "n", 0)
            with pytest.raises(actors.MailboxFull, match="full"):
                node.send(pid, "n", 1)
            assert node.info(pid).mailbox_depth == 1
            node.terminate(pid)

    async def test_events_are_never_bounded(self) -> None:
        """Events bypass the mailbox bound."""

        async def watcher(proc: actors.Process, n: int) -> int:
            for _ in range(n):
                proc.spawn_monitored(helpers.returns, None)
            await trio.sleep(1)
            return len(proc.events)

        async with actors.open_node() as node:
            pid = node.spawn(watcher, 5, mailbox=MailboxPolicy(1))
            assert (await node.wait_exit(pid)).result == 5

    def test_policy_validation(self) -> None:
        """Bad limits and overflow names are ValueErrors naming the value."""
        with pytest.raises(ValueError, match="limit must be an int >= 1, got 0"):
            MailboxPolicy(0)
        with pytest.raises(ValueError, match="'spill'"):
            MailboxPolicy(1, "spill")  # type: ignore[arg-type]


class TestFairness:
    async def test_hot_receiver_checkpoints(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A receiver draining a long queue yields once its time budget is spent."""
        from actors._core import _mailbox
        from actors._core._mailbox import FAIRNESS_BATCH

        monkeypatch.setattr(_mailbox, "FAIRNESS_BUDGET", 0.0)

        ticks: list[int] = []

        async def drain(proc: actors.Process, n: int) -> None:
            for _ in range(n):
                await proc.inbox.receive()

        async def other() -> None:
            for i in range(1000):
                ticks.append(i)
                await trio.lowlevel.checkpoint()

        async with actors.open_node() as node:
            pid = node.spawn(drain, FAIRNESS_BATCH * 10)
            for i in range(FAIRNESS_BATCH * 10):
                node.send(pid, "n", i)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(other)
                await node.wait_exit(pid)
                assert len(ticks) >= 5
                nursery.cancel_scope.cancel()

    async def test_fast_path_returns_without_scheduling(self) -> None:
        """While messages are queued, receive does not yield to the scheduler."""

        async def body(proc: actors.Process) -> None:
            await trio.sleep(1)
            with trio.testing.assert_no_checkpoints():
                for _ in range(10):
                    await proc.inbox.receive()

        async with actors.open_node() as node:
            pid = node.spawn(body)
            for i in range(10):
                node.send(pid, "n", i)
            exit = await node.wait_exit(pid)
            assert exit.error is None

    async def test_statistics(self) -> None:
        """statistics() reports queued, received and waiting."""

        async def body(proc: actors.Process) -> None:
            await proc.inbox.receive()
            await proc.inbox.receive()

        async with actors.open_node() as node:
            pid = node.spawn(body)
            await trio.testing.wait_all_tasks_blocked()
            assert node.info(pid).status == "waiting"
            node.send(pid, "n", 1)
            await trio.testing.wait_all_tasks_blocked()
            info = node.info(pid)
            assert info.messages_received == 1
            assert info.mailbox_depth == 0
            node.terminate(pid)
