"""Tests for timers, tickers, sleep and the node timer service (actors/_time/_timers.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import actors
from actors import Ticker, Timer, after, select, sleep, ticker, timer
from actors._time._timers import TimerService
from actors.lowlevel import timer_statistics


class TestAfter:
    """after(d) delivers its scheduled time once, exactly d later."""

    async def test_fires_once(self, autojump_clock: trio.abc.Clock) -> None:
        """The value is the scheduled time and arrives at that time."""
        async with actors.open_node():
            t = after("1.5s")
            assert t.deadline == 1.5
            assert await t.receive() == 1.5
            assert trio.current_time() == 1.5
            assert not t.pending
            assert (await select(t, default=True)).default

    async def test_value_waits_for_receiver(self, autojump_clock: trio.abc.Clock) -> None:
        """A value that fired while nobody waited is received later."""
        async with actors.open_node():
            t = after(1)
            await trio.sleep(3)
            assert t.receive_nowait() == 1.0
            with pytest.raises(trio.WouldBlock):
                t.receive_nowait()

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (0, r"^invalid duration 0: must be > 0$"),
            ("-1s", r"^invalid duration '-1s': must be > 0$"),
            ("1 s", r"^invalid duration '1 s': expected"),
        ],
    )
    async def test_invalid(self, value: object, message: str) -> None:
        """Zero, negative and malformed durations are refused."""
        async with actors.open_node():
            with pytest.raises(ValueError, match=message):
                after(value)  # type: ignore[arg-type]

    async def test_needs_a_node(self) -> None:
        """Without an owner and outside a node, a timer cannot be made."""
        with pytest.raises(RuntimeError, match="no actors node is open"):
            after(1)

    async def test_one_receiver(self, autojump_clock: trio.abc.Clock) -> None:
        """A second concurrent receiver gets BusyResourceError."""
        async with actors.open_node(), trio.open_nursery() as nursery:
            t = after(10)

            async def receiver() -> None:
                await t.receive()

            nursery.start_soon(receiver)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await t.receive()


class TestTimerStopReset:
    """stop() and reset() follow Go 1.23: no stale value after they return."""

    async def test_stop_pending(self, autojump_clock: trio.abc.Clock) -> None:
        """Stopping a pending timer returns True and it never fires."""
        async with actors.open_node() as node:
            t = timer(1)
            assert t.stop()
            assert not t.stop()
            await trio.sleep(5)
            assert (await select(t, default=True)).default
            assert timer_statistics(node).pending == 0

    async def test_stop_fired_unreceived(self, autojump_clock: trio.abc.Clock) -> None:
        """Stopping a timer whose value nobody took discards it and returns True."""
        async with actors.open_node():
            t = timer(1)
            await trio.sleep(2)
            assert t.stop()
            with pytest.raises(trio.WouldBlock):
                t.receive_nowait()

    async def test_stop_after_receive(self, autojump_clock: trio.abc.Clock) -> None:
        """Stopping a timer already received returns False."""
        async with actors.open_node():
            t = timer(1)
            await t.receive()
            assert not t.stop()

    async def test_reset_postpones(self, autojump_clock: trio.abc.Clock) -> None:
        """reset(d) moves the deadline to d from now."""
        async with actors.open_node():
            t = timer(1)
            await trio.sleep(0.5)
            assert t.reset("2s")
            assert t.deadline == 2.5
            assert await t.receive() == 2.5
            assert trio.current_time() == 2.5

    async def test_reset_after_fire(self, autojump_clock: trio.abc.Clock) -> None:
        """A fired and received timer can be reset to fire again."""
        async with actors.open_node():
            t = timer(1)
            await t.receive()
            assert not t.reset(1)
            assert await t.receive() == 2.0

    async def test_reset_invalid(self, autojump_clock: trio.abc.Clock) -> None:
        """reset refuses zero durations and leaves the timer running."""
        async with actors.open_node():
            t = timer(1)
            with pytest.raises(ValueError, match=r"^invalid duration '0s': must be > 0$"):
                t.reset("0s")
            assert t.pending


class TestTicker:
    """A ticker fires at start + k*period, buffers a few ticks and counts drops."""

    async def test_ticks(self, autojump_clock: trio.abc.Clock) -> None:
        """The first tick is one period after the start; values are scheduled times."""
        async with actors.open_node():
            await trio.sleep(1)
            tk = ticker("250ms")
            got = [await tk.receive() for _ in range(4)]
            assert got == [1.25, 1.5, 1.75, 2.0]
            assert trio.current_time() == 2.0
            assert tk.period == 0.25

    async def test_no_drift(self, autojump_clock: trio.abc.Clock) -> None:
        """A 10 ms ticker drifts zero over 10,000 ticks in virtual time."""
        async with actors.open_node():
            tk = ticker("10ms")
            start = trio.current_time()
            for k in range(1, 10_001):
                tick = await tk.receive()
                assert tick == start + k * 0.01
                assert trio.current_time() == tick
            assert tk.dropped == 0

    async def test_slow_consumer_drops_and_counts(self, autojump_clock: trio.abc.Clock) -> None:
        """With the buffer full, later ticks are dropped and counted."""
        async with actors.open_node() as node:
            tk = ticker("10ms")
            await trio.sleep(1.005)  # ticks 1..100 are due; 16 fit the buffer
            assert tk.dropped == 84
            assert timer_statistics(node).dropped_ticks == 84
            buffered = [tk.receive_nowait() for _ in range(16)]
            assert buffered == [pytest.approx(0.01 * k) for k in range(1, 17)]
            assert await tk.receive() == pytest.approx(1.01)

    async def test_custom_buffer(self, autojump_clock: trio.abc.Clock) -> None:
        """buffer=0 keeps nothing: a tick with no waiting receiver is dropped."""
        async with actors.open_node():
            tk = ticker(1, buffer=0)
            await trio.sleep(3.5)
            assert tk.dropped == 3
            assert await tk.receive() == 4.0

    async def test_late_service_skips_ahead(self, autojump_clock: trio.abc.Clock) -> None:
        """Ticks already past when the service wakes are skipped and counted, not burst."""
        async with actors.open_node(timer_coalesce=0.05) as node:
            tk = ticker("10ms")
            first = await tk.receive()
            assert (first, trio.current_time()) == (0.01, 0.01)
            # Tick 2 (0.02) may wait a window: the wake is at 0.07. It delivers tick 2
            # (late) and skips ticks 3..7.
            second = await tk.receive()
            assert second == 0.02
            assert trio.current_time() == pytest.approx(0.07)
            assert tk.dropped == 5
            assert timer_statistics(node).dropped_ticks == 5

    async def test_stop_and_reset(self, autojump_clock: trio.abc.Clock) -> None:
        """stop() ends ticking and clears the buffer; reset() re-anchors it."""
        async with actors.open_node() as node:
            tk = ticker(1)
            await trio.sleep(2.5)
            assert tk.stop()
            assert not tk.running
            assert not tk.stop()
            with pytest.raises(trio.WouldBlock):
                tk.receive_nowait()
            tk.reset("500ms")
            assert await tk.receive() == 3.0
            assert timer_statistics(node).pending == 1

    @pytest.mark.parametrize("buffer", [-1, 1.5, True])
    async def test_invalid_buffer(self, buffer: object) -> None:
        """A negative or non-int buffer is refused."""
        async with actors.open_node():
            with pytest.raises(ValueError, match=r"^ticker buffer must be an int >= 0, got "):
                ticker(1, buffer=buffer)  # type: ignore[arg-type]

    async def test_invalid_period(self) -> None:
        """A zero period is refused, naming the value."""
        async with actors.open_node():
            with pytest.raises(ValueError, match=r"^invalid period '0s': must be > 0$"):
                ticker("0s")


class TestSleep:
    """sleep parks on the timer service and is interruptible."""

    async def test_duration(self, autojump_clock: trio.abc.Clock) -> None:
        """sleep(d) returns exactly d later in virtual time."""
        async with actors.open_node():
            await sleep("1m")
            assert trio.current_time() == 60

    async def test_zero_is_a_checkpoint(self) -> None:
        """sleep(0) only yields."""
        async with actors.open_node():
            with trio.testing.assert_checkpoints():
                await sleep(0)

    async def test_negative(self) -> None:
        """A negative duration is refused."""
        async with actors.open_node():
            with pytest.raises(ValueError, match=r"^invalid sleep duration '-1s': must be >= 0$"):
                await sleep("-1s")

    async def test_cancel_removes_entry(self, autojump_clock: trio.abc.Clock) -> None:
        """A cancelled sleep leaves no live heap entry."""
        async with actors.open_node() as node:
            with trio.move_on_after(1):
                await sleep(100)
            assert timer_statistics(node).pending == 0
            assert trio.current_time() == 1

    async def test_process_sleep_terminated(self, autojump_clock: trio.abc.Clock) -> None:
        """terminate interrupts proc.sleep at once."""

        async def main(proc: actors.Process) -> None:
            await proc.sleep("1h")

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await trio.sleep(1)
            node.terminate(pid)
            exit = await node.wait_exit(pid)
            assert isinstance(exit.error, actors.Terminated)
            assert trio.current_time() == 1
            assert timer_statistics(node).pending == 0


class TestOwnedTimers:
    """Timers made through a process stop when it exits."""

    async def test_stopped_at_return(self, autojump_clock: trio.abc.Clock) -> None:
        """A returning process's ticker and timers stop."""
        made: dict[str, Any] = {}

        async def main(proc: actors.Process) -> None:
            made.update(ticker=proc.ticker("1s"), timer=proc.timer("1h"), after=proc.after(5))
            await proc.sleep(2.5)

        async with actors.open_node() as node:
            await node.exec(main)
            assert isinstance(made["ticker"], Ticker)
            assert isinstance(made["timer"], Timer)
            assert not made["ticker"].running
            assert not made["timer"].pending
            assert not made["after"].pending
            assert timer_statistics(node).pending == 0
            assert node.timer_coalesce == 0.001

    async def test_stopped_at_terminate(self, autojump_clock: trio.abc.Clock) -> None:
        """A terminated process's ticker stops while its receive is interrupted."""
        made: dict[str, Ticker] = {}

        async def main(proc: actors.Process) -> None:
            made["ticker"] = tk = proc.ticker("1s")
            async for _ in tk:
                pass

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await trio.sleep(3.5)
            node.terminate(pid)
            await node.wait_exit(pid)
            assert not made["ticker"].running
            assert made["ticker"]._waiter is None
            assert timer_statistics(node).pending == 0

    async def test_fired_one_shots_are_forgotten(self, autojump_clock: trio.abc.Clock) -> None:
        """A process making a fresh after() per loop holds no growing state."""

        async def main(proc: actors.Process) -> int:
            for _ in range(100):
                await proc.after("10ms").receive()
            service = proc.node._timers
            return len(proc._on_exit or ()) + (service._owned[proc] is not None)  # type: ignore[attr-defined]

        async with actors.open_node() as node:
            assert await node.exec(main) == 1


class TestService:
    """One service per node fires due timers in coalesced batches."""

    async def test_coalescing(self, autojump_clock: trio.abc.Clock) -> None:
        """After a quiet spell a timer fires on time; the next one waits a window for company."""
        async with actors.open_node(timer_coalesce=0.01) as node:
            timers = [after(1.0), after(1.003), after(1.006), after(1.0125), after(1.03)]
            fired_at = []
            for t in timers:
                await t.receive()
                fired_at.append(trio.current_time())
            stats = timer_statistics(node)
        # 1.0: quiet before, on time. 1.003 is within a window of that batch: the wake is
        # at 1.003 + 0.01 and takes 1.006 and 1.0125 along. 1.03 comes after a quiet window.
        assert fired_at == pytest.approx([1.0, 1.013, 1.013, 1.013, 1.03])
        assert (stats.fired, stats.batches, stats.coalesce) == (5, 3, 0.01)

    async def test_busy_batches_wait_a_window_after_their_first_entry(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """Under steady load each wake is one window after the earliest due entry.

        That is the fewest wake-ups that keep every entry at most a window late.
        """
        lateness: list[float] = []

        async def wait(t: Timer) -> None:
            deadline = await t.receive()
            lateness.append(trio.current_time() - deadline)

        async with actors.open_node(timer_coalesce=0.001) as node:
            # An entry every 0.3 ms: after the first (on time), each wake is at the earliest
            # pending deadline + 1 ms and takes 4 entries (d, +0.3, +0.6, +0.9 ms).
            async with trio.open_nursery() as nursery:
                for k in range(81):
                    nursery.start_soon(wait, after(1.0 + k * 0.0003))
            stats = timer_statistics(node)
        assert stats.fired == len(lateness) == 81
        assert stats.batches == 1 + 80 // 4
        expected = [0.0] + [0.0001, 0.0004, 0.0007, 0.001] * 20
        assert sorted(lateness) == pytest.approx(sorted(expected))

    async def test_same_deadline_one_batch(self, autojump_clock: trio.abc.Clock) -> None:
        """Many timers due at the same instant fire in a single batch."""
        async with actors.open_node() as node:
            timers = [after(2) for _ in range(50)]
            await trio.sleep(3)
            assert all(t.receive_nowait() == 2 for t in timers)
            assert timer_statistics(node).batches == 1

    async def test_no_coalescing(self, autojump_clock: trio.abc.Clock) -> None:
        """With timer_coalesce=0 every distinct deadline fires on time."""
        async with actors.open_node(timer_coalesce=0) as node:
            timers = [after(1.0), after(1.003), after(1.006)]
            for t in timers:
                assert await t.receive() == trio.current_time()
            assert timer_statistics(node).batches == 3

    async def test_never_early(self, autojump_clock: trio.abc.Clock) -> None:
        """No timer fires before its deadline, whatever the window."""
        async with actors.open_node(timer_coalesce=0.5) as node:
            timers = [after(0.1 * k) for k in range(1, 30)]
            for t in timers:
                value = await t.receive()
                assert trio.current_time() >= value == t.deadline
            assert timer_statistics(node).fired == 29

    async def test_earlier_timer_wakes_service(self, autojump_clock: trio.abc.Clock) -> None:
        """A timer earlier than the service's planned wake-up fires on time."""
        async with actors.open_node():
            late = after(100)
            await trio.sleep(1)
            early = after(1)
            assert await early.receive() == 2
            assert trio.current_time() == 2
            assert late.pending

    async def test_compaction(self, autojump_clock: trio.abc.Clock) -> None:
        """Stopped timers are dropped from the heap once they dominate it."""
        async with actors.open_node() as node:
            timers = [after(10 + k) for k in range(1000)]
            for t in timers[:900]:
                t.stop()
            service = node._timers
            assert service._count < 1000  # type: ignore[attr-defined]
            assert timer_statistics(node).pending == 100
            await trio.sleep(2000)
            assert timer_statistics(node).fired == 100

    async def test_statistics_before_use(self) -> None:
        """A node that never used timers reports zeros."""
        async with actors.open_node(timer_coalesce=0.002) as node:
            stats = timer_statistics(node)
            assert (stats.pending, stats.scheduled, stats.fired, stats.coalesce) == (0, 0, 0, 0.002)
            assert timer_statistics() == stats

    def test_bad_coalesce(self) -> None:
        """The service refuses a negative coalescing window."""
        with pytest.raises(ValueError, match=r"^invalid timer_coalesce '-1ms': must be >= 0$"):
            TimerService("-1ms")
