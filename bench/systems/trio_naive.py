"""Raw trio, the naive way: tasks plus memory channels, no framework.

- spawn / idle memory: bare ``nursery.start_soon`` tasks parked in ``trio.sleep_forever()``
  (the floor the ``actors`` spawn bar is measured against).
- ticking: per task a ``trio.sleep_until`` loop (fixed rate, no drift) that ``send_nowait``s its
  scheduled time into one unbounded memory channel; one collector does ``async for`` over it
  (which yields to the scheduler on every message: the starvation trap, kept on purpose).
- ping-pong, fan-in and call/reply: memory channels; a call makes a fresh 1-slot reply channel
  and waits under ``trio.fail_after(5)``.
"""

from __future__ import annotations

import math

import trio

from bench._common import (
    SETTLE_S,
    GcMonitor,
    MeasuredSpan,
    MemoryProbe,
    Metrics,
    TickWindow,
    call_metrics,
    deliver,
    first_offsets,
    now,
    phase,
    pingpong_metrics,
    spawn_metrics,
    tick_metrics,
    tick_periods,
)

NAME = "trio"


async def _spawn_parked(nursery: trio.Nursery, n: int) -> tuple[float, float]:
    """Start n parked tasks; return (seconds until start_soon returned, until all parked)."""
    parked = 0
    all_parked = trio.Event()

    async def actor() -> None:
        nonlocal parked
        parked += 1
        if parked == n:
            all_parked.set()
        await trio.sleep_forever()

    t0 = now()
    for _ in range(n):
        nursery.start_soon(actor)
    t1 = now()
    await all_parked.wait()
    return t1 - t0, now() - t0


def spawn(n: int) -> Metrics:
    async def main() -> Metrics:
        async with trio.open_nursery() as nursery:
            to_pids, to_parked = await _spawn_parked(nursery, n)
            result = deliver(spawn_metrics(n, to_pids, to_parked))
            nursery.cancel_scope.cancel()
        return result

    return trio.run(main)


def idle_memory(n: int, probe: MemoryProbe) -> Metrics:
    async def main() -> Metrics:
        async with trio.open_nursery() as nursery:
            probe.before()
            await _spawn_parked(nursery, n)
            result = deliver(probe.after(n))
            nursery.cancel_scope.cancel()
        return result

    return trio.run(main)


def ticking(
    n: int, seconds: float, tick_min: float, tick_max: float, warmup: float = 1.0
) -> Metrics:
    periods = tick_periods(n, tick_min, tick_max)
    offsets = first_offsets(periods)
    window = TickWindow(trio.current_time)
    gc_monitor = GcMonitor()

    async def main() -> Metrics:
        send, recv = trio.open_memory_channel[tuple[int, float]](math.inf)

        async def ticker(ident: int, period: float, offset: float) -> None:
            deadline = trio.current_time() + offset
            while True:
                await trio.sleep_until(deadline)
                send.send_nowait((ident, deadline))
                deadline += period

        async def collector() -> None:
            async for _ident, scheduled in recv:
                window.record(scheduled, trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collector)
            phase("spawn")
            t0 = now()
            for ident, (period, offset) in enumerate(zip(periods, offsets, strict=True)):
                nursery.start_soon(ticker, ident, period, offset)
            spawn_s = now() - t0
            phase("warmup")
            await trio.sleep(warmup)
            phase("window")
            with MeasuredSpan(window, gc_monitor) as span:
                await trio.sleep(seconds)
            await trio.sleep(SETTLE_S)
            result = deliver(
                tick_metrics(
                    window, n, span.cpu_s, span.wall_s, tick_min, tick_max, gc_monitor, spawn_s
                )
            )
            nursery.cancel_scope.cancel()
        return result

    return trio.run(main)


def pingpong(rounds: int) -> Metrics:
    async def main() -> Metrics:
        to_pong_s, to_pong_r = trio.open_memory_channel[int](1)
        to_ping_s, to_ping_r = trio.open_memory_channel[int](1)

        async def pong() -> None:
            async for msg in to_pong_r:
                await to_ping_s.send(msg)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pong)
            t0 = now()
            for i in range(rounds):
                await to_pong_s.send(i)
                await to_ping_r.receive()
            elapsed = now() - t0
            nursery.cancel_scope.cancel()
        return pingpong_metrics(rounds, elapsed)

    return trio.run(main)


def fanin(senders: int, messages: int) -> Metrics:
    """``senders`` tasks each ``await send`` ``messages`` items into one 1024-slot channel."""
    total = senders * messages

    async def main() -> Metrics:
        send, recv = trio.open_memory_channel[int](1024)

        async def sender() -> None:
            for i in range(messages):
                await send.send(i)

        async with trio.open_nursery() as nursery:
            t0 = now()
            for _ in range(senders):
                nursery.start_soon(sender)
            for _ in range(total):
                await recv.receive()
            elapsed = now() - t0
        return {"messages_per_s": total / elapsed}

    return trio.run(main)


def call_reply(rounds: int) -> Metrics:
    async def main() -> Metrics:
        requests_s, requests_r = trio.open_memory_channel[tuple[int, trio.MemorySendChannel[int]]](
            0
        )

        async def server() -> None:
            async for request, reply_to in requests_r:
                reply_to.send_nowait(request)

        samples: list[float] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            for i in range(rounds):
                t0 = now()
                reply_s, reply_r = trio.open_memory_channel[int](1)
                await requests_s.send((i, reply_s))
                with trio.fail_after(5):
                    await reply_r.receive()
                samples.append(now() - t0)
            nursery.cancel_scope.cancel()
        return call_metrics(samples)

    return trio.run(main)


def ticker_accuracy(n: int) -> Metrics:
    """A 10 ms ``trio.sleep_until`` loop: how late tick ``n`` ends (start + n * 10 ms)."""

    async def main() -> Metrics:
        start = trio.current_time()
        for k in range(1, n + 1):
            await trio.sleep_until(start + k * 0.01)
        return {"tick_error_ms": (trio.current_time() - (start + n * 0.01)) * 1e3}

    return trio.run(main)
