"""Tests for Go-style channels (actors/_time/_channel.py)."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from actors import Channel


class TestConstruction:
    """Channel sizes are validated."""

    @pytest.mark.parametrize("size", [-1, 1.5, True, "3", None])
    def test_bad_size(self, size: object) -> None:
        """Negative, fractional and non-int sizes are refused."""
        with pytest.raises(
            ValueError, match=r"^channel size must be an int >= 0 or math.inf, got "
        ):
            Channel(size)  # type: ignore[arg-type]

    def test_unbounded(self) -> None:
        """math.inf makes an unbounded buffer."""
        ch: Channel[int] = Channel(math.inf)
        for i in range(1000):
            ch.send_nowait(i)
        assert len(ch) == 1000


class TestUnbuffered:
    """An unbuffered send completes only when a receiver takes the value."""

    async def test_send_blocks_until_received(self, autojump_clock: trio.abc.Clock) -> None:
        """The sender resumes at the moment the receiver takes the value."""
        ch: Channel[str] = Channel()
        done_at: list[float] = []

        async def sender() -> None:
            await ch.send("x")
            done_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            await trio.sleep(5)
            assert done_at == []
            assert ch.statistics().senders_waiting == 1
            assert await ch.receive() == ("x", True)
        assert done_at == [5]

    async def test_send_nowait_without_receiver(self) -> None:
        """send_nowait raises WouldBlock when no receiver waits."""
        ch: Channel[int] = Channel()
        with pytest.raises(trio.WouldBlock):
            ch.send_nowait(1)

    async def test_handoff_to_waiting_receiver(self) -> None:
        """send_nowait hands the value straight to a parked receiver."""
        ch: Channel[int] = Channel()
        got: list[tuple[int | None, bool]] = []

        async def receiver() -> None:
            got.append(await ch.receive())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            await trio.testing.wait_all_tasks_blocked()
            ch.send_nowait(7)
        assert got == [(7, True)]

    async def test_receive_nowait_takes_from_waiting_sender(self) -> None:
        """receive_nowait takes the value of a blocked sender and releases it."""
        ch: Channel[int] = Channel()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ch.send, 3)
            await trio.testing.wait_all_tasks_blocked()
            assert ch.receive_nowait() == (3, True)
        assert ch.statistics().senders_waiting == 0


class TestBuffered:
    """A buffered channel holds values until its buffer is full."""

    async def test_fills_then_blocks(self, autojump_clock: trio.abc.Clock) -> None:
        """Sends complete at once up to the size; the next waits for room."""
        ch: Channel[int] = Channel(2)
        with trio.testing.assert_checkpoints():
            await ch.send(1)
        ch.send_nowait(2)
        with pytest.raises(trio.WouldBlock):
            ch.send_nowait(3)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ch.send, 3)
            await trio.sleep(1)
            assert ch.statistics().senders_waiting == 1
            assert await ch.receive() == (1, True)
        # The freed slot was refilled from the waiting sender, in order.
        assert [ch.receive_nowait()[0] for _ in range(2)] == [2, 3]

    async def test_fifo_order_of_senders(self) -> None:
        """Blocked senders deliver in the order they blocked."""
        ch: Channel[int] = Channel(1)
        ch.send_nowait(0)
        async with trio.open_nursery() as nursery:
            for i in range(1, 6):
                nursery.start_soon(ch.send, i)
                await trio.testing.wait_all_tasks_blocked()
            got = [(await ch.receive())[0] for _ in range(6)]
        assert got == [0, 1, 2, 3, 4, 5]

    async def test_fifo_order_of_receivers(self) -> None:
        """Blocked receivers get values in the order they blocked."""
        ch: Channel[int] = Channel(3)
        got: list[tuple[str, int | None]] = []

        async def receiver(name: str) -> None:
            value, _ = await ch.receive()
            got.append((name, value))

        async with trio.open_nursery() as nursery:
            for name in "abc":
                nursery.start_soon(receiver, name)
                await trio.testing.wait_all_tasks_blocked()
            for i in range(3):
                ch.send_nowait(i)
        assert sorted(got) == [("a", 0), ("b", 1), ("c", 2)]


class TestClose:
    """close is idempotent, keeps the buffer readable and fails senders."""

    async def test_drain_after_close(self) -> None:
        """Buffered values are received after close, then (None, False)."""
        ch: Channel[int] = Channel(3)
        ch.send_nowait(1)
        ch.send_nowait(2)
        ch.close()
        ch.close()
        assert ch.closed
        assert await ch.receive() == (1, True)
        assert ch.receive_nowait() == (2, True)
        assert await ch.receive() == (None, False)
        assert ch.receive_nowait() == (None, False)

    async def test_send_after_close_raises(self) -> None:
        """send and send_nowait raise ClosedResourceError after close."""
        ch: Channel[int] = Channel(3)
        ch.close()
        with pytest.raises(trio.ClosedResourceError, match=r"^send on closed channel$"):
            await ch.send(1)
        with pytest.raises(trio.ClosedResourceError, match=r"^send on closed channel$"):
            ch.send_nowait(1)

    async def test_close_wakes_everyone(self) -> None:
        """Blocked receivers get (None, False); blocked senders get ClosedResourceError."""
        receiving: Channel[int] = Channel()
        sending: Channel[int] = Channel()
        outcomes: list[object] = []

        async def receiver() -> None:
            outcomes.append(await receiving.receive())

        async def sender() -> None:
            try:
                await sending.send(1)
            except trio.ClosedResourceError as exc:
                outcomes.append(str(exc))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            nursery.start_soon(sender)
            await trio.testing.wait_all_tasks_blocked()
            receiving.close()
            sending.close()
        assert sorted(map(str, outcomes)) == ["(None, False)", "send on closed channel"]
        assert sending.statistics().senders_waiting == 0

    async def test_async_for_ends_at_close(self) -> None:
        """Iterating a channel yields values until it is closed and drained."""
        ch: Channel[int] = Channel(10)
        for i in range(4):
            ch.send_nowait(i)
        ch.close()
        assert [v async for v in ch] == [0, 1, 2, 3]


class TestCancellation:
    """A cancelled send or receive leaves no waiter behind."""

    async def test_cancel_receive(self, autojump_clock: trio.abc.Clock) -> None:
        """A cancelled receive unregisters, and the next value goes elsewhere."""
        ch: Channel[int] = Channel()
        with trio.move_on_after(1):
            await ch.receive()
        assert ch.statistics().receivers_waiting == 0
        with pytest.raises(trio.WouldBlock):
            ch.send_nowait(1)

    async def test_cancel_send(self, autojump_clock: trio.abc.Clock) -> None:
        """A cancelled send unregisters and its value is never received."""
        ch: Channel[int] = Channel()
        with trio.move_on_after(1):
            await ch.send(1)
        assert ch.statistics().senders_waiting == 0
        with pytest.raises(trio.WouldBlock):
            ch.receive_nowait()

    async def test_checkpoints(self) -> None:
        """send and receive are checkpoints even when they do not block."""
        ch: Channel[int] = Channel(1)
        with trio.testing.assert_checkpoints():
            await ch.send(1)
        with trio.testing.assert_checkpoints():
            await ch.receive()

    async def test_cancelled_ready_receive_takes_nothing(self) -> None:
        """A receive in a cancelled scope raises before taking a value."""
        ch: Channel[int] = Channel(1)
        ch.send_nowait(1)
        with trio.CancelScope() as scope:
            scope.cancel()
            await ch.receive()
        assert len(ch) == 1
