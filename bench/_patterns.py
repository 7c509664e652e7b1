"""Patterns bench: process groups and the event bus against the same done with plain trio.

    python -m bench._patterns                 # 10k members/subscribers, 3 alternating rounds
    python -m bench._patterns --n 100000 --rounds 5 --json

Each figure is the median of ``rounds`` runs, alternating actors and trio in one process:

- ``join`` / ``leave``: N processes join one group, then leave it (``actors.groups``), against
  adding and discarding N memory-channel send ends in a set (what a hand-made group is in trio);
  microseconds per operation.
- ``publish``: one publisher publishes ``events`` events to N subscribers parked on their
  mailboxes (``actors.bus``), against ``send_nowait`` into N unbounded memory channels whose
  tasks wait on ``receive``; microseconds per delivered message, from the first publish until
  every subscriber received every event (``publish_call`` alone: the publisher's own time).

Ratios are actors / trio: 1.0 is as fast as the trio equivalent, 2.0 twice as slow.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Awaitable, Callable

import trio
import trio.testing

import actors

Run = Callable[[int, int], Awaitable[dict[str, float]]]


async def _actors(n: int, events: int) -> dict[str, float]:
    done = trio.Event()
    left = [n]

    async def member(proc: actors.Process) -> None:
        queue = proc.listen("e")
        for _ in range(events):
            await queue.receive()
        left[0] -= 1
        if not left[0]:
            done.set()
        await proc.events.receive()

    async with actors.open_node() as node:
        pids = [node.spawn(member) for _ in range(n)]
        await trio.testing.wait_all_tasks_blocked()
        groups = actors.groups(node)
        start = time.perf_counter()
        for pid in pids:
            groups.join("g", pid)
        joined = time.perf_counter()
        for pid in pids:
            groups.leave("g", pid)
        left_at = time.perf_counter()
        bus = actors.bus(node)
        for pid in pids:
            bus.subscribe("s", "k", "*", topic="e", pid=pid)
        start_pub = time.perf_counter()
        for i in range(events):
            bus.publish("s", "k", "/p", i)
        published = time.perf_counter()
        await done.wait()
        received = time.perf_counter()
        for pid in pids:
            node.cancel(pid)
    return _figures(n, events, start, joined, left_at, start_pub, published, received)


async def _trio(n: int, events: int) -> dict[str, float]:
    done = trio.Event()
    left = [n]

    async def member(receive: trio.MemoryReceiveChannel[int]) -> None:
        for _ in range(events):
            await receive.receive()
        left[0] -= 1
        if not left[0]:
            done.set()

    async with trio.open_nursery() as nursery:
        ends = []
        for _ in range(n):
            send, receive = trio.open_memory_channel[int](math.inf)
            nursery.start_soon(member, receive)
            ends.append(send)
        await trio.testing.wait_all_tasks_blocked()
        group: set[trio.MemorySendChannel[int]] = set()
        start = time.perf_counter()
        for end in ends:
            group.add(end)
        joined = time.perf_counter()
        for end in ends:
            group.discard(end)
        left_at = time.perf_counter()
        subscribers = list(ends)
        start_pub = time.perf_counter()
        for i in range(events):
            for end in subscribers:
                end.send_nowait(i)
        published = time.perf_counter()
        await done.wait()
        received = time.perf_counter()
    return _figures(n, events, start, joined, left_at, start_pub, published, received)


def _figures(n: int, events: int, *marks: float) -> dict[str, float]:
    start, joined, left, start_pub, published, received = marks
    per = 1e6 / n
    return {
        "join_us": (joined - start) * per,
        "leave_us": (left - joined) * per,
        "publish_call_us": (published - start_pub) * per / events,
        "publish_us": (received - start_pub) * per / events,
    }


def measure(n: int, events: int, rounds: int) -> dict[str, dict[str, float]]:
    """Alternate actors and trio runs; return the medians (and the actors/trio ratios)."""
    runs: dict[str, list[dict[str, float]]] = {"actors": [], "trio": []}
    for _ in range(rounds):
        runs["actors"].append(trio.run(_actors, n, events))
        runs["trio"].append(trio.run(_trio, n, events))
    result = {
        system: {key: statistics.median(r[key] for r in found) for key in found[0]}
        for system, found in runs.items()
    }
    result["ratio"] = {key: result["actors"][key] / result["trio"][key] for key in result["actors"]}
    return result


def main(argv: list[str] | None = None) -> None:
    """Run the bench and print a table (or one JSON line with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m bench._patterns")
    parser.add_argument("--n", type=int, default=10_000, help="members / subscribers")
    parser.add_argument("--events", type=int, default=10, help="events published")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs (median)")
    parser.add_argument("--json", action="store_true", help="one JSON line")
    args = parser.parse_args(argv)
    result = measure(args.n, args.events, args.rounds)
    if args.json:
        print(json.dumps({"n": args.n, "events": args.events, **result}))
        return
    print(f"n={args.n} events={args.events} rounds={args.rounds} (median us per op)")
    print(f"{'figure':<16}{'actors':>10}{'trio':>10}{'ratio':>8}")
    for key in result["actors"]:
        a, t, r = result["actors"][key], result["trio"][key], result["ratio"][key]
        print(f"{key:<16}{a:>10.3f}{t:>10.3f}{r:>8.2f}")


if __name__ == "__main__":
    main()
