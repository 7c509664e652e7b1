"""The ``actors`` runtime under test: processes on one node.

- spawn / idle memory: ``node.spawn`` of a process parked on its first ``inbox.receive()``.
- ticking: N processes, each on a node ticker (one timer task for the whole node), sending the
  scheduled time of each tick to one collector process.
- ping-pong, fan-in and call/reply: mailboxes (``send`` + ``inbox.receive``) and ``call``/``reply``.
"""

from __future__ import annotations

import os

import trio

import actors
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

NAME = "actors"

#: Most ticks the collector takes per ``receive_many`` call.
BATCH = 1024

#: The node's timer coalescing window for the ticking workload (default: the node default).
COALESCE = float(os.environ.get("ACTORS_TIMER_COALESCE", "0.001"))


async def _spawn_parked(node: actors.Node, n: int) -> tuple[float, float]:
    """Spawn n processes; return (seconds until the PIDs were returned, until all parked)."""
    parked = 0
    all_parked = trio.Event()

    async def actor(proc: actors.Process) -> None:
        nonlocal parked
        parked += 1
        if parked == n:
            all_parked.set()
        await proc.inbox.receive()

    t0 = now()
    for _ in range(n):
        node.spawn(actor)
    t1 = now()
    await all_parked.wait()
    return t1 - t0, now() - t0


def spawn(n: int) -> Metrics:
    async def main() -> Metrics:
        async with actors.open_node(shutdown_grace=0) as node:
            to_pids, to_parked = await _spawn_parked(node, n)
            return deliver(spawn_metrics(n, to_pids, to_parked))

    return trio.run(main)


def idle_memory(n: int, probe: MemoryProbe) -> Metrics:
    async def main() -> Metrics:
        async with actors.open_node(shutdown_grace=0) as node:
            probe.before()
            await _spawn_parked(node, n)
            return deliver(probe.after(n))

    return trio.run(main)


def ticking(
    n: int, seconds: float, tick_min: float, tick_max: float, warmup: float = 1.0
) -> Metrics:
    periods = tick_periods(n, tick_min, tick_max)
    offsets = first_offsets(periods)
    window = TickWindow(trio.current_time)
    gc_monitor = GcMonitor()

    async def collector(proc: actors.Process) -> None:
        receive_many = proc.inbox.receive_many
        record = window.record
        while True:
            batch = await receive_many(BATCH)
            now = trio.current_time()
            for msg in batch:
                record(msg.payload, now)

    async def ticker(proc: actors.Process, sink: actors.PID, period: float, offset: float) -> None:
        start = trio.current_time()
        await proc.sleep(offset)
        send = proc.send
        send(sink, "tick", start + offset)  # first tick at the offset, like the trio version
        ticks = proc.ticker(period)
        while True:
            tick = await ticks.receive()
            send(sink, "tick", tick)  # the scheduled time of the tick

    async def main() -> Metrics:
        async with actors.open_node(shutdown_grace=0, timer_coalesce=COALESCE) as node:
            sink = node.spawn(collector)
            phase("spawn")
            t0 = now()
            for period, offset in zip(periods, offsets, strict=True):
                node.spawn(ticker, sink, period, offset)
            spawn_s = now() - t0
            phase("warmup")
            await trio.sleep(warmup)  # the node's default GcPolicy manages the collector
            phase("window")
            with MeasuredSpan(window, gc_monitor) as span:
                await trio.sleep(seconds)
            await trio.sleep(SETTLE_S)
            return deliver(
                tick_metrics(
                    window, n, span.cpu_s, span.wall_s, tick_min, tick_max, gc_monitor, spawn_s
                )
            )

    return trio.run(main)


def pingpong(rounds: int) -> Metrics:
    async def pong(proc: actors.Process) -> None:
        inbox = proc.inbox
        while True:
            msg = await inbox.receive()
            proc.send(msg.sender, "pong", msg.payload)  # type: ignore[arg-type]

    async def ping(proc: actors.Process, partner: actors.PID) -> float:
        inbox = proc.inbox
        send = proc.send
        t0 = now()
        for i in range(rounds):
            send(partner, "ping", i)
            await inbox.receive()
        return now() - t0

    async def main() -> Metrics:
        async with actors.open_node(shutdown_grace=0) as node:
            partner = node.spawn(pong)
            elapsed = await node.exec(ping, partner)
        return pingpong_metrics(rounds, elapsed)

    return trio.run(main)


def fanin(senders: int, messages: int) -> Metrics:
    """``senders`` processes each send ``messages`` messages to one collector process."""
    total = senders * messages

    async def sender(proc: actors.Process, sink: actors.PID) -> None:
        for i in range(messages):
            proc.send(sink, "m", i)
            if i % 64 == 63:
                await trio.lowlevel.checkpoint()

    async def collect(proc: actors.Process) -> float:
        t0 = now()
        for _ in range(senders):
            proc.spawn(sender, proc.pid)
        inbox = proc.inbox
        for _ in range(total):
            await inbox.receive()
        return now() - t0

    async def main() -> Metrics:
        async with actors.open_node(shutdown_grace=0) as node:
            elapsed = await node.exec(collect)
        return {"messages_per_s": total / elapsed}

    return trio.run(main)


def call_reply(rounds: int) -> Metrics:
    async def server(proc: actors.Process) -> None:
        inbox = proc.inbox
        while True:
            msg = await inbox.receive()
            proc.reply(msg, msg.payload)

    async def client(proc: actors.Process, target: actors.PID) -> list[float]:
        samples = []
        for i in range(rounds):
            t0 = now()
            await proc.call(target, "req", i)
            samples.append(now() - t0)
        return samples

    async def main() -> Metrics:
        async with actors.open_node(shutdown_grace=0) as node:
            target = node.spawn(server)
            samples = await node.exec(client, target)
        return call_metrics(samples)

    return trio.run(main)


def ticker_accuracy(n: int) -> Metrics:
    """A 10 ms ticker on the real clock: how late tick ``n`` is received (start + n * 10 ms)."""

    async def tick(proc: actors.Process) -> float:
        start = trio.current_time()
        ticks = proc.ticker(0.01)
        for _ in range(n):
            await ticks.receive()
        return trio.current_time() - (start + n * 0.01)

    async def main() -> Metrics:
        async with actors.open_node(shutdown_grace=0) as node:
            error = await node.exec(tick)
        return {"tick_error_ms": error * 1e3}

    return trio.run(main)
