"""Raw asyncio, the naive way: tasks plus ``asyncio.Queue``, no framework.

Mirrors :mod:`bench.systems.trio_naive`: bare ``create_task`` tasks parked on a future; per task
an ``asyncio.sleep`` loop towards fixed deadlines putting into one unbounded queue; queues for
ping-pong and fan-in (a 1024-slot queue); a call waits on a fresh future under
``asyncio.timeout(5)``.  ``asyncio.Queue.get`` returns at once while items are queued, so the
collector does not starve the way trio's ``async for`` over a channel does.
"""

from __future__ import annotations

import asyncio

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

NAME = "asyncio"


async def _spawn_parked(n: int, tasks: list[asyncio.Task[None]]) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    forever: asyncio.Future[None] = loop.create_future()
    parked = 0
    all_parked = asyncio.Event()

    async def actor() -> None:
        nonlocal parked
        parked += 1
        if parked == n:
            all_parked.set()
        await forever

    t0 = now()
    for _ in range(n):
        tasks.append(loop.create_task(actor()))
    t1 = now()
    await all_parked.wait()
    return t1 - t0, now() - t0


def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()


def spawn(n: int) -> Metrics:
    async def main() -> Metrics:
        tasks: list[asyncio.Task[None]] = []
        to_pids, to_parked = await _spawn_parked(n, tasks)
        result = deliver(spawn_metrics(n, to_pids, to_parked))
        _cancel(tasks)
        return result

    return asyncio.run(main())


def idle_memory(n: int, probe: MemoryProbe) -> Metrics:
    async def main() -> Metrics:
        tasks: list[asyncio.Task[None]] = []
        probe.before()
        await _spawn_parked(n, tasks)
        result = deliver(probe.after(n))
        _cancel(tasks)
        return result

    return asyncio.run(main())


def ticking(
    n: int, seconds: float, tick_min: float, tick_max: float, warmup: float = 1.0
) -> Metrics:
    periods = tick_periods(n, tick_min, tick_max)
    offsets = first_offsets(periods)
    window = TickWindow()
    gc_monitor = GcMonitor()

    async def main() -> Metrics:
        loop = asyncio.get_running_loop()
        window.clock = loop.time
        queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()

        async def ticker(ident: int, period: float, offset: float) -> None:
            deadline = loop.time() + offset
            while True:
                await asyncio.sleep(deadline - loop.time())
                queue.put_nowait((ident, deadline))
                deadline += period

        async def collector() -> None:
            while True:
                _ident, scheduled = await queue.get()
                window.record(scheduled, loop.time())

        tasks = [loop.create_task(collector())]
        phase("spawn")
        t0 = now()
        for ident, (period, offset) in enumerate(zip(periods, offsets, strict=True)):
            tasks.append(loop.create_task(ticker(ident, period, offset)))
        spawn_s = now() - t0
        phase("warmup")
        await asyncio.sleep(warmup)
        phase("window")
        with MeasuredSpan(window, gc_monitor) as span:
            await asyncio.sleep(seconds)
        await asyncio.sleep(SETTLE_S)
        result = deliver(
            tick_metrics(
                window, n, span.cpu_s, span.wall_s, tick_min, tick_max, gc_monitor, spawn_s
            )
        )
        _cancel(tasks)
        return result

    return asyncio.run(main())


def pingpong(rounds: int) -> Metrics:
    async def main() -> Metrics:
        to_pong: asyncio.Queue[int] = asyncio.Queue()
        to_ping: asyncio.Queue[int] = asyncio.Queue()

        async def pong() -> None:
            while True:
                to_ping.put_nowait(await to_pong.get())

        task = asyncio.get_running_loop().create_task(pong())
        t0 = now()
        for i in range(rounds):
            to_pong.put_nowait(i)
            await to_ping.get()
        elapsed = now() - t0
        task.cancel()
        return pingpong_metrics(rounds, elapsed)

    return asyncio.run(main())


def fanin(senders: int, messages: int) -> Metrics:
    total = senders * messages

    async def main() -> Metrics:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1024)

        async def sender() -> None:
            for i in range(messages):
                await queue.put(i)

        loop = asyncio.get_running_loop()
        t0 = now()
        tasks = [loop.create_task(sender()) for _ in range(senders)]
        for _ in range(total):
            await queue.get()
        elapsed = now() - t0
        await asyncio.gather(*tasks)
        return {"messages_per_s": total / elapsed}

    return asyncio.run(main())


def call_reply(rounds: int) -> Metrics:
    async def main() -> Metrics:
        loop = asyncio.get_running_loop()
        requests: asyncio.Queue[tuple[int, asyncio.Future[int]]] = asyncio.Queue()

        async def server() -> None:
            while True:
                request, reply = await requests.get()
                reply.set_result(request)

        task = loop.create_task(server())
        samples: list[float] = []
        for i in range(rounds):
            t0 = now()
            reply: asyncio.Future[int] = loop.create_future()
            requests.put_nowait((i, reply))
            async with asyncio.timeout(5):
                await reply
            samples.append(now() - t0)
        task.cancel()
        return call_metrics(samples)

    return asyncio.run(main())
