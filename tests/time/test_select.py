"""Tests for select (actors/_time/_select.py) over channels, mailbox queues and timers."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from actors import Channel, Selected, Ticker, after, select


class TestPriority:
    """The first ready source in argument order wins; the others keep their values."""

    async def test_first_ready_wins(self) -> None:
        """With two ready channels, the first argument is taken and the second untouched."""
        a: Channel[str] = Channel(1)
        b: Channel[str] = Channel(1)
        a.send_nowait("a")
        b.send_nowait("b")
        result = await select(b, a)
        assert result == Selected(b, "b")
        assert len(a) == 1
        assert (await select(a, b)).value == "a"

    async def test_waits_for_the_first_to_become_ready(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A parked select takes the value of whichever source fires first."""
        a: Channel[int] = Channel()
        b: Channel[int] = Channel()

        async def later() -> None:
            await trio.sleep(2)
            await b.send(2)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(later)
            result = await select(a, b)
        assert (result.source, result.value, trio.current_time()) == (b, 2, 2)
        assert a.statistics().receivers_waiting == 0

    async def test_second_delivery_stays_in_its_source(self) -> None:
        """When two sources fire before the select runs, only the first is consumed."""
        a: Channel[int] = Channel(1)
        b: Channel[int] = Channel(1)
        results: list[Selected] = []

        async def selector() -> None:
            results.append(await select(a, b))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(selector)
            await trio.testing.wait_all_tasks_blocked()
            b.send_nowait(1)  # commits the select
            a.send_nowait(2)  # the select already fired: buffered
        assert results == [Selected(b, 1)]
        assert a.receive_nowait() == (2, True)

    async def test_events_before_ticks(self, autojump_clock: trio.abc.Clock) -> None:
        """select(proc.events, ticker) handles a pending Cancel before any tick."""
        seen: list[str] = []

        async def main(proc: actors.Process) -> None:
            proc.trap_cancel = True  # the Cancel waits on events while it sleeps
            tk = proc.ticker("1s")
            await trio.sleep(5.5)  # ticks are buffered meanwhile
            while True:
                result = await select(proc.events, tk)
                if result.source is proc.events:
                    seen.append(type(result.value).__name__)
                    return
                seen.append("tick")

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await trio.sleep(5)
            node.cancel(pid)
        assert seen == ["Cancel"]


class TestDefault:
    """select(..., default=True) never blocks."""

    async def test_nothing_ready(self) -> None:
        """With nothing ready it returns a default result without a checkpoint."""
        ch: Channel[int] = Channel()
        with trio.testing.assert_no_checkpoints():
            result = await select(ch, default=True)
        assert result.default
        assert result.source is None
        assert result.ok
        assert ch.statistics().receivers_waiting == 0

    async def test_something_ready(self) -> None:
        """A ready source is still taken, in priority order."""
        a: Channel[int] = Channel(1)
        b: Channel[int] = Channel(1)
        b.send_nowait(5)
        assert await select(a, b, default=True) == Selected(b, 5)

    async def test_no_sources(self) -> None:
        """select() with only a default returns the default."""
        assert (await select(default=True)).default


class TestClose:
    """A closed, drained channel is ready with ok=False."""

    async def test_closed_channel(self) -> None:
        """Buffered values come first, then (None, ok=False)."""
        ch: Channel[int] = Channel(1)
        ch.send_nowait(1)
        ch.close()
        assert await select(ch) == Selected(ch, 1)
        assert await select(ch) == Selected(ch, None, ok=False)

    async def test_close_wakes_parked_select(self) -> None:
        """Closing a channel wakes a select parked on it with ok=False."""
        ch: Channel[int] = Channel()
        other: Channel[int] = Channel()
        results: list[Selected] = []

        async def selector() -> None:
            results.append(await select(other, ch))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(selector)
            await trio.testing.wait_all_tasks_blocked()
            ch.close()
        assert results == [Selected(ch, None, ok=False)]
        assert other.statistics().receivers_waiting == 0


class TestSendCase:
    """ch.send_case(v) is selectable and fires once the value is sent."""

    async def test_ready_send(self) -> None:
        """With buffer room the send case fires at once, value None."""
        ch: Channel[int] = Channel(1)
        case = ch.send_case(4)
        assert await select(case) == Selected(case, None)
        assert ch.receive_nowait() == (4, True)

    async def test_parked_send_taken_by_receiver(self) -> None:
        """A parked send case fires when a receiver takes its value."""
        ch: Channel[int] = Channel()
        case = ch.send_case(9)
        results: list[Selected] = []

        async def selector() -> None:
            results.append(await select(case))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(selector)
            await trio.testing.wait_all_tasks_blocked()
            assert await ch.receive() == (9, True)
        assert results == [Selected(case, None)]

    async def test_closed(self) -> None:
        """A send case on a closed channel raises ClosedResourceError."""
        ch: Channel[int] = Channel()
        ch.close()
        with pytest.raises(trio.ClosedResourceError, match=r"^send on closed channel$"):
            await select(ch.send_case(1))

    async def test_closed_while_parked(self) -> None:
        """Closing the channel fails a select parked on its send case."""
        ch: Channel[int] = Channel()
        errors: list[str] = []

        async def selector() -> None:
            try:
                await select(ch.send_case(1))
            except trio.ClosedResourceError as exc:
                errors.append(str(exc))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(selector)
            await trio.testing.wait_all_tasks_blocked()
            ch.close()
        assert errors == ["send on closed channel"]


class TestErrors:
    """Bad arguments fail loudly."""

    async def test_not_selectable(self) -> None:
        """A non-source raises TypeError naming it."""
        with pytest.raises(TypeError, match=r"^cannot select on 42: expected a channel"):
            await select(42)

    async def test_no_sources(self) -> None:
        """select() with nothing to wait on raises ValueError."""
        with pytest.raises(ValueError, match=r"^select\(\) needs at least one source"):
            await select()

    async def test_duplicates(self) -> None:
        """The same source twice raises ValueError."""
        ch: Channel[int] = Channel()
        with pytest.raises(ValueError, match=r"^select\(\) sources must be distinct$"):
            await select(ch, ch)


def _no_waiters(ch: Channel[Any], proc: actors.Process, tk: Ticker) -> bool:
    return (
        ch.statistics().receivers_waiting == 0
        and not proc.inbox.statistics().waiting
        and not proc.events.statistics().waiting
        and tk._waiter is None
    )


class TestInterrupted:
    """A cancelled or terminated select leaves no waiter on any source."""

    async def test_cancelled(self, autojump_clock: trio.abc.Clock) -> None:
        """Cancelling a parked select unregisters it from every source."""
        a: Channel[int] = Channel()
        b: Channel[int] = Channel(1)
        async with actors.open_node():
            timer = after(100)
            with trio.move_on_after(1):
                await select(a, b, timer)
            assert a.statistics().receivers_waiting == 0
            assert b.statistics().receivers_waiting == 0
            assert timer._waiter is None
            b.send_nowait(1)
            assert len(b) == 1

    async def test_terminated_process(self, autojump_clock: trio.abc.Clock) -> None:
        """Terminating a process parked in select leaves its sources clean."""
        ch: Channel[int] = Channel()
        state: dict[str, Any] = {}

        async def main(proc: actors.Process) -> None:
            tk = proc.ticker("1h")
            state.update(proc=proc, ticker=tk)
            await select(proc.events, proc.inbox, ch, tk)

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await trio.sleep(1)
            assert ch.statistics().receivers_waiting == 1
            node.terminate(pid)
            exit = await node.wait_exit(pid)
            assert isinstance(exit.error, actors.Terminated)
            assert _no_waiters(ch, state["proc"], state["ticker"])
            assert not state["ticker"].running

    async def test_terminated_while_a_value_is_always_ready(self) -> None:
        """A loop whose select always finds a message (never parks) still sees its termination.

        The loop ends by itself after 10,000 rounds, so without the check it would return
        normally instead of being terminated (and the test would not hang).
        """
        rounds = [0]

        async def main(proc: actors.Process) -> None:
            while rounds[0] < 10_000:
                proc.send(proc.pid, "again")
                await select(proc.events, proc.inbox)
                rounds[0] += 1

        async with actors.open_node() as node:
            pid = node.spawn(main)
            for _ in range(10):  # the process never parks, so no virtual time passes
                await trio.lowlevel.checkpoint()
            assert 0 < rounds[0] < 10_000
            node.terminate(pid)
            exit = await node.wait_exit(pid)
            assert isinstance(exit.error, actors.Terminated)
            assert rounds[0] < 10_000

    async def test_inbox_and_timer_in_process(self, autojump_clock: trio.abc.Clock) -> None:
        """A process selects over its inbox and a timer and gets whichever is first."""
        results: list[tuple[str, object]] = []

        async def main(proc: actors.Process) -> None:
            timeout = proc.after("2s")
            for _ in range(2):
                result = await select(proc.inbox, timeout)
                if result.source is proc.inbox:
                    results.append(("msg", result.value.payload))
                else:
                    results.append(("timeout", result.value))

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await trio.sleep(1)
            node.send(pid, "job", 1)
            await node.wait_exit(pid)
        assert results == [("msg", 1), ("timeout", 2.0)]


@st.composite
def _scenarios(draw: st.DrawFn) -> dict[str, Any]:
    delays = st.sampled_from([0.0, 0.0, 0.001, 0.01])
    channels = draw(st.integers(min_value=1, max_value=4))
    sizes = [draw(st.sampled_from([0, 0, 1, 3])) for _ in range(channels)]
    producers = [
        [
            draw(st.lists(delays, max_size=6))  # one delay before each send
            for _ in range(draw(st.integers(min_value=1, max_value=2)))
        ]
        for _ in range(channels)
    ]
    # Ends with a blocking select so the consumer always makes progress.
    consumer = [*draw(st.lists(st.sampled_from(["select", "default", "sleep"]))), "select"]
    return {"sizes": sizes, "producers": producers, "consumer": consumer}


class TestProperty:
    """Select over channels never loses, duplicates or reorders a value."""

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_scenarios())
    def test_interleavings(self, scenario: dict[str, Any]) -> None:
        """Any interleaving of sends and closes is observed per producer, in order, once."""
        sent: dict[tuple[int, int], list[int]] = defaultdict(list)
        got: dict[tuple[int, int], list[int]] = defaultdict(list)

        async def produce(ch: Channel[tuple[int, int]], c: int, p: int, delays: Any) -> None:
            for seq, delay in enumerate(delays):
                await trio.sleep(delay)
                sent[c, p].append(seq)
                await ch.send((p, seq))

        async def feed(ch: Channel[tuple[int, int]], c: int, plans: Any) -> None:
            async with trio.open_nursery() as nursery:
                for p, delays in enumerate(plans):
                    nursery.start_soon(produce, ch, c, p, delays)
            ch.close()

        async def consume(chans: list[Channel[tuple[int, int]]]) -> None:
            open_ = list(chans)
            step = 0
            actions = scenario["consumer"]
            while open_:
                action = actions[step % len(actions)]
                step += 1
                if action == "sleep":
                    await trio.sleep(0.005)
                    continue
                result = await select(*open_, default=action == "default")
                if result.default:
                    await trio.sleep(0.001)
                    continue
                if not result.ok:
                    open_.remove(result.source)
                    continue
                p, seq = result.value
                got[chans.index(result.source), p].append(seq)

        async def main() -> None:
            chans: list[Channel[tuple[int, int]]] = [Channel(s) for s in scenario["sizes"]]
            async with trio.open_nursery() as nursery:
                for c, plans in enumerate(scenario["producers"]):
                    nursery.start_soon(feed, chans[c], c, plans)
                nursery.start_soon(consume, chans)
            for ch in chans:
                stats = ch.statistics()
                assert stats.receivers_waiting == stats.senders_waiting == stats.buffered == 0

        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        assert dict(got) == {key: values for key, values in sent.items() if values}
