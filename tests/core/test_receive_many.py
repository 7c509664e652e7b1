"""Batch receive (``receive_many``), the backlog warning, and ``node.statistics()``."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
from actors._core import _mailbox


class TestReceiveMany:
    async def test_takes_queued_messages_in_order_up_to_max(self) -> None:
        """Queued messages come back oldest first, at most ``max_items`` per call."""
        batches: list[list[int]] = []

        async def body(proc: actors.Process) -> None:
            await trio.sleep(1)  # let all ten arrive
            while sum(map(len, batches)) < 10:
                batches.append([m.payload for m in await proc.inbox.receive_many(4)])

        async with actors.open_node() as node:
            pid = node.spawn(body)
            for i in range(10):
                node.send(pid, "n", i)
            await node.wait_exit(pid)
        assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]

    async def test_waits_for_the_first_then_takes_what_arrived_with_it(self) -> None:
        """An empty queue parks; the wake-up returns the handed message plus any queued after it."""
        got: list[list[int]] = []

        async def body(proc: actors.Process) -> None:
            got.append([m.payload for m in await proc.inbox.receive_many(100)])

        async with actors.open_node() as node:
            pid = node.spawn(body)
            await trio.sleep(1)  # parked now
            for i in range(3):  # the first is handed over, the others queue behind it
                node.send(pid, "n", i)
            await node.wait_exit(pid)
        assert got == [[0, 1, 2]]

    async def test_max_one_after_a_wait_leaves_the_rest(self) -> None:
        """``receive_many(1)`` after a wait returns just the handed message."""
        got: list[list[int]] = []

        async def body(proc: actors.Process) -> None:
            got.append([m.payload for m in await proc.inbox.receive_many(1)])
            got.append([m.payload for m in await proc.inbox.receive_many(5)])

        async with actors.open_node() as node:
            pid = node.spawn(body)
            await trio.sleep(1)
            node.send(pid, "n", 0)
            node.send(pid, "n", 1)
            await node.wait_exit(pid)
        assert got == [[0], [1]]

    async def test_received_counter_counts_every_message(self) -> None:
        """``statistics().received`` counts each message of a batch once."""

        async def body(proc: actors.Process) -> int:
            await trio.sleep(1)
            await proc.inbox.receive_many(3)
            await proc.inbox.receive_many(10)
            return proc.inbox.statistics().received

        async with actors.open_node() as node:
            pid = node.spawn(body)
            for i in range(5):
                node.send(pid, "n", i)
            exit = await node.wait_exit(pid)
        assert exit.result == 5

    async def test_nowait(self) -> None:
        """``receive_many_nowait`` returns what is queued, or raises WouldBlock."""
        out: list[object] = []

        async def body(proc: actors.Process) -> None:
            with pytest.raises(trio.WouldBlock):
                proc.inbox.receive_many_nowait(5)
            await trio.sleep(1)
            out.append([m.payload for m in proc.inbox.receive_many_nowait(2)])
            out.append([m.payload for m in proc.inbox.receive_many_nowait(5)])

        async with actors.open_node() as node:
            pid = node.spawn(body)
            await trio.sleep(0.5)
            for i in range(3):
                node.send(pid, "n", i)
            await node.wait_exit(pid)
        assert out == [[0, 1], [2]]

    @settings(max_examples=30, deadline=None)
    @given(
        bad=st.one_of(st.integers(max_value=0), st.floats(), st.text(), st.none(), st.booleans())
    )
    def test_bad_max_items_is_a_clear_error(self, bad: object) -> None:
        """Anything but an int >= 1 is refused with a ValueError naming the value."""

        async def main() -> None:
            async def body(proc: actors.Process) -> None:
                with pytest.raises(ValueError, match="max_items must be an int >= 1"):
                    proc.inbox.receive_many_nowait(bad)  # type: ignore[arg-type]
                with pytest.raises(ValueError, match="max_items must be an int >= 1"):
                    await proc.inbox.receive_many(bad)  # type: ignore[arg-type]

            async with actors.open_node() as node:
                exit = await node.wait_exit(node.spawn(body))
                assert exit.error is None

        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    async def test_a_hot_batch_receiver_yields_once_its_budget_is_spent(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A receiver that always finds messages queued still lets other tasks run."""
        monkeypatch.setattr(_mailbox, "FAIRNESS_BUDGET", 0.0)
        monkeypatch.setattr(_mailbox, "BACKLOG", 10**9)
        others: list[int] = []

        async def drain(proc: actors.Process) -> None:
            for _ in range(50):
                await proc.inbox.receive_many(2)

        async def other() -> None:
            for i in range(1000):
                others.append(i)
                await trio.lowlevel.checkpoint()

        async with actors.open_node() as node:
            pid = node.spawn(drain)
            for i in range(100):
                node.send(pid, "n", i)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(other)
                await node.wait_exit(pid)
                assert len(others) >= 20
                nursery.cancel_scope.cancel()

    async def test_immediate_batches_take_no_checkpoint_within_budget(self) -> None:
        """While the budget lasts, a batch from a non-empty queue is taken without yielding."""

        async def body(proc: actors.Process) -> None:
            await trio.sleep(1)
            with trio.testing.assert_no_checkpoints():
                await proc.inbox.receive_many(3)
                await proc.inbox.receive_many(3)

        async with actors.open_node() as node:
            pid = node.spawn(body)
            for i in range(6):
                node.send(pid, "n", i)
            exit = await node.wait_exit(pid)
        assert exit.error is None

    async def test_terminate_interrupts_a_parked_batch_receive(self) -> None:
        """A process parked in receive_many is stopped by terminate like any other wait."""

        async def body(proc: actors.Process) -> None:
            await proc.inbox.receive_many(10)

        async with actors.open_node() as node:
            pid = node.spawn(body)
            await trio.sleep(1)
            node.terminate(pid)
            exit = await node.wait_exit(pid)
        assert isinstance(exit.error, actors.Terminated)


class TestBacklogWarning:
    async def test_growing_backlog_is_logged_with_pid_and_length_rate_limited(
        self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first warning at the threshold, then at most one per interval while it grows."""
        monkeypatch.setattr(_mailbox, "BACKLOG_WARN", 10)
        monkeypatch.setattr(_mailbox, "BACKLOG_WARN_INTERVAL", 5.0)

        async def deaf(proc: actors.Process) -> None:
            await trio.sleep_forever()

        with caplog.at_level(logging.WARNING, logger="actors"):
            async with actors.open_node(shutdown_grace=0) as node:
                pid = node.spawn(deaf)
                for i in range(30):  # 10..30 within one interval: one warning
                    node.send(pid, "n", i)
                await trio.sleep(5)
                node.send(pid, "n", 30)  # longer and an interval later: a second one
                await trio.sleep(5)
                node.send(pid, "n", 31)
                node.terminate(pid)
        warnings = [r.getMessage() for r in caplog.records if "backlog growing" in r.getMessage()]
        assert len(warnings) == 3, warnings
        assert f"pid={pid}" in warnings[0]
        assert "queue=inbox queued=10 " in warnings[0]
        assert "queued=31" in warnings[1] and "was=10 5.0s ago" in warnings[1]
        assert "queued=32" in warnings[2]

    async def test_a_shorter_backlog_is_not_logged_again(
        self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After draining, refilling to no more than the logged length stays quiet."""
        monkeypatch.setattr(_mailbox, "BACKLOG_WARN", 5)
        monkeypatch.setattr(_mailbox, "BACKLOG_WARN_INTERVAL", 1.0)

        async def slow(proc: actors.Process) -> None:
            await trio.sleep(1)
            await proc.inbox.receive_many(100)
            await trio.sleep_forever()

        with caplog.at_level(logging.WARNING, logger="actors"):
            async with actors.open_node(shutdown_grace=0) as node:
                pid = node.spawn(slow)
                for i in range(8):
                    node.send(pid, "n", i)
                await trio.sleep(10)  # drained by now, interval long past
                for i in range(5):  # the first warning was at 5
                    node.send(pid, "n", i)
                node.terminate(pid)
        warnings = [r for r in caplog.records if "backlog growing" in r.getMessage()]
        assert len(warnings) == 1


class TestNodeStatistics:
    async def test_longest_queues_longest_first(self) -> None:
        """``statistics()`` counts processes and lists the longest non-empty queues."""

        async def deaf(proc: actors.Process) -> None:
            await trio.sleep_forever()

        async with actors.open_node(shutdown_grace=0) as node:
            pids = [node.spawn(deaf) for _ in range(4)]
            for n, pid in zip((3, 7, 0, 5), pids, strict=True):
                for i in range(n):
                    node.send(pid, "n", i)
            stats = node.statistics(top=2)
            assert stats.processes == 4 and stats.spawned == 4
            assert [(q.pid, q.queue, q.queued) for q in stats.longest_queues] == [
                (pids[1], "inbox", 7),
                (pids[3], "inbox", 5),
            ]
            assert len(node.statistics().longest_queues) == 3  # the empty one is left out
            assert stats.gc_managed
            for pid in pids:
                node.terminate(pid)

    async def test_listened_and_event_queues_count(self) -> None:
        """Listened topics and events are queues too, named as in ``MessageQueue.name``."""

        async def listener(proc: actors.Process) -> None:
            proc.listen("job.*")
            await trio.sleep_forever()

        async with actors.open_node(shutdown_grace=0) as node:
            pid = node.spawn(listener)
            await trio.sleep(1)
            node.send(pid, "job.a", 1)
            node.send(pid, "job.b", 2)
            node.cancel(pid)
            queues = {q.queue: q.queued for q in node.statistics().longest_queues}
            assert queues == {"listen:job.*": 2, "events": 1}
            node.terminate(pid)
