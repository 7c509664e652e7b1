"""Timer service internals: calendar order, trio's deadline heap, the fallback task, guest mode."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
import helpers
from actors import Timer, after, ticker
from actors._core._waiter import make_reparker
from actors._time import _service as _timerservice
from actors._time._calendar import _POOL_MAX, MAX_BATCH
from actors.lowlevel import timer_statistics

#: A timer plan: (delay in ms, then: "keep" | "stop" | "reset to <ms>").
_plans = st.lists(
    st.tuples(
        st.one_of(
            st.integers(min_value=1, max_value=5),  # many in the same slot
            st.integers(min_value=1, max_value=3_000),
            st.sampled_from([10**7, 10**12]),  # hours and ages away
        ),
        st.one_of(st.just("keep"), st.just("stop"), st.integers(min_value=1, max_value=3_000)),
    ),
    min_size=1,
    max_size=40,
)


def _run_virtual(fn: Any) -> Any:
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


class TestCalendarOrder:
    """Whatever the mix of deadlines, stops and resets: on time, once, and in deadline order."""

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_plans, st.sampled_from([0.0, 0.001, 0.0035]))
    def test_fires_in_deadline_order_never_early_at_most_one_window_late(
        self, plans: list[tuple[int, Any]], coalesce: float
    ) -> None:
        fired: list[tuple[float, int, float]] = []  # (deadline, index, fired at)

        async def wait(t: Timer, index: int) -> None:
            value = await t.receive()
            fired.append((value, index, trio.current_time()))

        async def main() -> None:
            async with actors.open_node(timer_coalesce=coalesce) as node:
                async with trio.open_nursery() as nursery:
                    timers = []
                    for index, (delay, _) in enumerate(plans):
                        t = after(delay / 1000)
                        timers.append(t)
                        nursery.start_soon(wait, t, index)
                    await trio.sleep(0.0005)
                    expected = []
                    for index, (t, (_, then)) in enumerate(zip(timers, plans, strict=True)):
                        if then == "stop":
                            t.stop()
                        elif then != "keep":
                            t.reset(then / 1000)
                        if t.pending:
                            expected.append((t.deadline, index))
                    await trio.sleep(4)
                    nursery.cancel_scope.cancel()
                assert timer_statistics(node).pending == sum(d > 4 for d, _ in expected)
            # Every due timer fired once; none early or more than one window late; and a
            # timer never fired after a later one (the order tasks resume in within a batch
            # is trio's to choose, so the check is on the times).
            assert sorted((d, i) for d, i, _ in fired) == sorted(e for e in expected if e[0] <= 4)
            times = [at for _, _, at in sorted(fired)]
            assert times == sorted(times)
            for deadline, _, at in fired:
                assert deadline <= at <= deadline + coalesce + 1e-9

        _run_virtual(main)


class _Entry:
    """A stand-in timer (one shot) or ticker (with a period) that records when it fires."""

    def __init__(self, name: int, period: float | None, log: list[tuple[float, int]]) -> None:
        self._key: object = None
        self.name, self.period, self.log = name, period, log

    def _fire(self, scheduled: float, now: float) -> float | None:
        self.log.append((scheduled, self.name))
        return None if self.period is None else scheduled + self.period


_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("advance"), st.sampled_from([0.0001, 0.0003, 0.0009, 0.001, 0.004, 0.03])
        ),
        st.tuples(
            st.just("push"),
            st.one_of(st.floats(min_value=0, max_value=0.003), st.sampled_from([0.5, 40.0, 1e9])),
            st.sampled_from([None, None, 0.0004, 0.0015, 0.7]),
        ),
        st.tuples(st.just("stop"), st.integers(min_value=0, max_value=100)),
    ),
    min_size=1,
    max_size=120,
)


class TestCalendarStorage:
    """The calendar pops exactly what one (deadline, push order) heap would pop."""

    @settings(max_examples=300, deadline=None)
    @given(_ops)
    def test_matches_a_single_heap(self, ops: list[tuple[Any, ...]]) -> None:
        service = _timerservice.TimerService(0)
        log: list[tuple[float, int]] = []
        entries: list[_Entry] = []
        model: list[tuple[float, int, int]] = []  # (deadline, seq, entry index): one heap
        seq = 0
        now = 0.0
        for op in ops:
            if op[0] == "push":
                _, delay, period = op
                entry = _Entry(len(entries), period, log)
                entries.append(entry)
                service._push(entry, now + delay)  # type: ignore[arg-type]
                model.append((now + delay, seq, entry.name))
                seq += 1
            elif op[0] == "stop":
                pending = [e for e in model if entries[e[2]]._key is not None]
                if pending:
                    victim = pending[op[1] % len(pending)]
                    service._discard(entries[victim[2]])  # type: ignore[arg-type]
                    model.remove(victim)
            else:
                now += op[1]
                expect: list[tuple[float, int]] = []
                while model and min(model)[0] <= now:
                    deadline, _, name = first = min(model)
                    model.remove(first)
                    expect.append((deadline, name))
                    period = entries[name].period
                    if period is not None:
                        model.append((deadline + period, seq, name))
                        seq += 1
                del log[:]
                service._fire_due(now)
                assert log == expect
            best = min(model)[0] if model else float("inf")
            assert service._next_deadline() == best
            assert service.statistics().pending == len(model)


class TestCalendarEdges:
    def test_stopped_or_refiled_after_its_millisecond_began(self) -> None:
        """A filing in the begun heap that was stopped or re-filed does not fire."""
        service = _timerservice.TimerService(0)
        log: list[tuple[float, int]] = []
        stopped, moved, kept = (_Entry(n, None, log) for n in range(3))
        service._push(stopped, 0.0105)  # type: ignore[arg-type]
        service._push(moved, 0.0106)  # type: ignore[arg-type]
        service._push(kept, 0.0107)  # type: ignore[arg-type]
        service._fire_due(0.0101)  # slot 10 begins: all three move to the heap, none due
        assert log == []
        service._discard(stopped)  # type: ignore[arg-type]
        service._discard(moved)  # type: ignore[arg-type]
        service._push(moved, 0.0108)  # type: ignore[arg-type]  # re-filed (a reset)
        service._fire_due(0.02)
        assert log == [(0.0107, 2), (0.0108, 1)]
        assert service.statistics().pending == 0

    def test_emptied_buckets_are_reused_and_the_pool_is_bounded(self) -> None:
        """A bucket that left the calendar is emptied and filed again for a later slot.

        A new list per millisecond was young when the next young collection came, and
        scanning ~3,000 of them (every pending tick) took ~10 ms at 100,000 tickers.
        """
        service = _timerservice.TimerService(0)
        log: list[tuple[float, int]] = []
        first = _Entry(0, None, log)
        service._push(first, 0.0105)  # type: ignore[arg-type]
        bucket = service._far[10]
        service._fire_due(0.011)
        assert log == [(0.0105, 0)]
        assert service._pool == [bucket] and bucket == []
        second = _Entry(1, None, log)
        service._push(second, 0.5)  # type: ignore[arg-type]
        assert service._far[500] is bucket and not service._pool
        assert len(bucket) == 3
        # Many slots emptied at once: the pool keeps at most _POOL_MAX lists.
        many = [_Entry(n, None, log) for n in range(_POOL_MAX + 50)]
        for n, entry in enumerate(many):
            service._push(entry, 1.0005 + n / 1000)  # type: ignore[arg-type]
        service._fire_due(10.0)
        assert len(service._pool) == _POOL_MAX
        assert all(not b for b in service._pool)


class TestTrioDeadlineHeap:
    """The service sits in trio's deadline heap as one entry, with trio's own bookkeeping."""

    async def test_registration_count_stays_consistent(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        runner = _timerservice._hook_runner()
        assert runner is not None  # this trio supports the hook; the fallback is tested below
        async with actors.open_node() as node:
            base = runner.deadlines._active
            timers = [after(0.001 * k) for k in range(1, 400)]
            assert runner.deadlines._active == base + 1  # one registration, however many timers
            for t in timers[::3]:
                t.stop()
            early = after(0.0001)  # earlier than the planned wake-up: re-registered
            assert runner.deadlines._active == base + 1
            await early.receive()
            await trio.sleep(1)
            # Nothing left: the service holds no registration, and trio's own check agrees.
            assert timer_statistics(node).pending == 0
            assert runner.deadlines._active == base
            runner.deadlines._prune()
            assert len(runner.deadlines._heap) == runner.deadlines._active

    async def test_a_wake_up_with_nothing_left_to_fire_is_not_a_batch(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """Stopping the only timer leaves its wake-up registered; that wake-up fires nothing."""
        async with actors.open_node() as node:
            t = after(1)
            await trio.sleep(0.5)
            t.stop()
            await trio.sleep(1)
            stats = timer_statistics(node)
            assert (stats.pending, stats.fired, stats.batches) == (0, 0, 0)

    async def test_node_shutdown_leaves_sleepers_working(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A timer outlives its node: it is trio's deadline, not a task of the node."""
        async with actors.open_node():
            t = after(5)
        assert await t.receive() == 5
        assert trio.current_time() == 5


async def _burst(count: int) -> tuple[list[int], int]:
    """``count`` processes due at t=1; a plain task notes how many had woken at each round."""
    woken: list[float] = []
    seen: list[int] = []
    async with actors.open_node() as node:

        async def sleeper(proc: actors.Process) -> None:
            await proc.sleep(1)
            woken.append(trio.current_time())

        for _ in range(count):
            node.spawn(sleeper)
        before = timer_statistics(node).batches
        await trio.sleep(1)  # wakes in the same round as the first batch
        while len(woken) < count:
            seen.append(len(woken))
            # Not a bare checkpoint: a task that is always runnable keeps MockClock from
            # advancing to the next round's wake-up (just after the first).
            await trio.sleep(1e-9)
        batches = timer_statistics(node).batches - before
    assert woken == pytest.approx([1.0] * count)  # the rounds take (next to) no time
    return seen, batches


class TestBoundedBatches:
    """A wake-up fires at most MAX_BATCH entries; the rest fire in the next round."""

    async def test_a_burst_is_fired_in_rounds_other_tasks_run_between(self) -> None:
        limit = MAX_BATCH
        seen, batches = await _burst(2 * limit + 1)
        assert batches == 3
        # The observer ran between the rounds: it saw partial counts, never a jump over a round.
        partial = sorted({n for n in seen if 0 < n < 2 * limit + 1})
        assert partial, seen
        assert all(later - earlier <= limit for earlier, later in itertools.pairwise(seen))

    async def test_fallback_task_bounds_its_batches_too(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_timerservice, "_hook_runner", lambda: None)
        seen, batches = await _burst(2 * MAX_BATCH + 1)
        assert batches == 3
        assert any(0 < n < 2 * MAX_BATCH + 1 for n in seen)


class TestFallbackTask:
    """Without trio's deadline heap the service runs as one task; same behaviour."""

    @pytest.fixture(autouse=True)
    def _no_hook(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(_timerservice, "_hook_runner", lambda: None)

    async def test_timers_tickers_and_coalescing(self, autojump_clock: trio.abc.Clock) -> None:
        async with actors.open_node(timer_coalesce=0.01) as node:
            late = after(100)
            await trio.sleep(1)
            early = after(1)  # earlier than the parked task's wake-up: it is woken
            assert await early.receive() == 2
            timers = [after(1.0), after(1.003), after(1.006)]
            fired_at = []
            for t in timers:
                await t.receive()
                fired_at.append(trio.current_time())
            assert fired_at == pytest.approx([3.0, 3.013, 3.013])
            ticks = ticker(0.5)
            assert [await ticks.receive() for _ in range(3)] == pytest.approx([3.513, 4.013, 4.513])
            ticks.stop()
            late.stop()
            stats = timer_statistics(node)
            assert stats.pending == 0
            assert stats.fired == 7
            assert any(task.name == "actors.timers" for task in helpers.walk_tasks())


@pytest.mark.real_time
class TestGuestMode:
    """In trio guest mode an earlier deadline wakes the host's I/O thread at once."""

    def test_timers_fire_on_time_under_asyncio(self) -> None:
        async def trio_main() -> list[float]:
            async with actors.open_node():
                start = trio.current_time()
                slow = after(30)  # the guest's I/O thread now waits up to 30 s
                await trio.sleep(0.01)
                quick = after(0.05)
                await quick.receive()
                slow.stop()
                return [trio.current_time() - start]

        async def host() -> Any:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[Any] = loop.create_future()
            trio.lowlevel.start_guest_run(
                trio_main,
                run_sync_soon_threadsafe=loop.call_soon_threadsafe,
                done_callback=done.set_result,
            )
            return (await asyncio.wait_for(done, timeout=10)).unwrap()

        (elapsed,) = asyncio.run(host())
        assert 0.05 <= elapsed < 1.0


class TestTickerReparker:
    """A ticker parks its consumer with one reusable awaitable: no garbage per tick."""

    async def test_one_awaitable_for_every_tick(self, autojump_clock: trio.abc.Clock) -> None:
        async with actors.open_node():
            t = ticker(1)
            first = t.receive()
            assert await first == 1
            again = t.receive()
            assert again is first
            assert await again == 2
            t.stop()
            assert t._reparker is None  # the ticker -> awaitable -> ticker cycle is broken

    async def test_buffered_ticks_skip_the_park(self, autojump_clock: trio.abc.Clock) -> None:
        async with actors.open_node():
            t = ticker(1)
            await trio.sleep(3.5)
            assert [await t.receive() for _ in range(3)] == [1, 2, 3]
            assert await t.receive() == 4

    async def test_cancelled_while_parked_then_reused(self, autojump_clock: trio.abc.Clock) -> None:
        async with actors.open_node():
            t = ticker(1)
            with trio.move_on_after(0.5):
                await t.receive()
            assert await t.receive() == 1  # nothing was lost, nobody is registered
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_receive_forever, t)
                await trio.sleep(0.2)
                with pytest.raises(trio.BusyResourceError):
                    await t.receive()
                nursery.cancel_scope.cancel()
            assert await t.receive() == 2

    async def test_terminated_while_parked(self, autojump_clock: trio.abc.Clock) -> None:
        got: list[float] = []

        async def consumer(proc: actors.Process) -> None:
            ticks = proc.ticker(1)
            while True:
                got.append(await ticks.receive())

        async with actors.open_node() as node:
            pid = node.spawn(consumer)
            await trio.sleep(2.5)
            node.terminate(pid)
            exit = await node.wait_exit(pid)
            await trio.sleep(3)
            assert exit.reason is actors.ExitReason.ERROR
            assert got == [1, 2]
            assert timer_statistics(node).pending == 0  # the owned ticker stopped

    def test_throw_and_close_behave_like_a_generator(self) -> None:
        class Source:
            def __call__(self, _: object) -> object:
                raise AssertionError

        reparker = make_reparker(Source())
        assert reparker is not None
        with pytest.raises(ValueError, match="boom"):
            reparker.throw(ValueError("boom"))
        with pytest.raises(KeyError):
            reparker.throw(KeyError, None, None)
        reparker.close()


async def _receive_forever(t: Any) -> None:
    while True:
        await t.receive()
