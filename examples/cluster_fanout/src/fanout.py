"""Fan-out across a node group: a coordinator found by a group-wide name, workers in a spanning
process group, and a new coordinator elected when the node holding the name is lost.

Every node runs the same app (``actors run examples/cluster_fanout --workers 3``):

- ``workers`` (a ``pool`` entry, two per node) join the spanning process group ``workers``,
  count the primes in the ranges they are sent and send the count to ``"coordinator@*"``: the
  group-wide name, resolved on their own node, wherever its holder runs.
- ``coordinator`` (a service on every node) tries to register the group-wide name
  ``coordinator``. The node that gets it leads: every ``ROUND_EVERY`` it splits the next range
  of numbers among every member of ``workers`` on every node, sends each its chunk and gathers
  the counts (``Round`` line; ``Round incomplete`` at WARNING when some are missing at the next
  round). The others find the holder (``whereis``), monitor it and wait. When the holder's
  node is lost its name is released on every other node and its workers leave the group: the
  standbys try again and one of them wins (``Coordinator elected``). If two nodes registered the
  name while they could not see each other, the older registration keeps it when they meet and
  the other coordinator gets ``NameLost`` and goes back to waiting.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import trio

import actors
from actors import Cancel, Exit, Message, Process
from actors.cluster import (
    NameLost,
    NoConnection,
    current_group,
    global_name,
    spanning_groups,
)
from registry import current_app

log = actors.get_logger("app.fanout")

NAME = "coordinator"
GROUP = "workers"
SPAN = 200_000
"""How many numbers one round covers, split among the workers."""


def count_primes(lo: int, hi: int) -> int:
    """The number of primes in ``lo..hi-1`` (a segmented sieve)."""
    lo = max(lo, 2)
    if hi <= lo:
        return 0
    limit = math.isqrt(hi - 1)
    small = bytearray([1]) * (limit + 1)
    small[:2] = b"\0\0"
    for i in range(2, math.isqrt(limit) + 1):
        if small[i]:
            small[i * i :: i] = bytes(len(range(i * i, limit + 1, i)))
    segment = bytearray([1]) * (hi - lo)
    for p in (i for i in range(2, limit + 1) if small[i]):
        start = max(p * p, (lo + p - 1) // p * p)
        segment[start - lo :: p] = bytes(len(range(start, hi, p)))
    return sum(segment)


async def worker(proc: Process) -> None:
    """Join ``workers`` in every node's view; answer each chunk to the coordinator by name."""
    with contextlib.suppress(RuntimeError):  # not in a node group: the coordinator says so
        spanning_groups(proc).join(GROUP)
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if isinstance(got.value, Cancel):
            return
        msg = got.value
        if isinstance(msg, Message) and msg.topic == "chunk":
            work: dict[str, Any] = msg.payload
            primes = count_primes(work["lo"], work["hi"])
            result = {**work, "primes": primes, "node": proc.node.name}
            # Found wherever it runs; if it is gone, this round is lost and the next one asks again.
            with contextlib.suppress(actors.ProcessNotFound, NoConnection):
                proc.send(global_name(NAME), "result", result)


async def coordinator(proc: Process) -> None:
    """Hold the group-wide name and lead, or wait for its holder to go, until cancelled."""
    period = float(current_app(proc).env.get("ROUND_EVERY"))  # a duration entry: seconds
    try:
        group = current_group(proc.node)
    except RuntimeError:
        log.warning("Not in a node group", hint="run it with: actors run DIR --workers 3")
        await _cancelled(proc, math.inf)
        return
    try:
        await _elect(proc, group, period)
    except RuntimeError:  # the node group closed under us: the node is stopping
        await _cancelled(proc, math.inf)


async def _elect(proc: Process, group: Any, period: float) -> None:
    """Register the name and lead, or find its holder and wait; again when it is gone."""
    me = proc.node.name
    while True:
        try:
            group.names.register(NAME, proc.pid)
        except actors.NameTaken as taken:
            holder = taken.holder
            log.info("Coordinator found", node=me, holder=holder, holder_node=holder.node)
            proc.monitor(holder)
            gone = await _holder_exit(proc, holder)
            if gone is None:
                return
            log.info("Coordinator lost", node=me, holder=holder, reason=gone.reason.value)
            continue
        log.info("Coordinator elected", node=me, pid=proc.pid)
        if await _lead(proc, period):
            return
        if await _cancelled(proc, 0.1):  # lost the name in a clash: wait, then look again
            return


async def _holder_exit(proc: Process, holder: actors.PID) -> Exit | None:
    """The holder's ``Exit`` (its node lost: ``noconnection``), or None on a Cancel."""
    while True:
        event = await proc.events.receive()
        if isinstance(event, Cancel):
            return None
        if isinstance(event, Exit) and event.pid == holder:
            return event


async def _cancelled(proc: Process, seconds: float) -> bool:
    """Wait ``seconds``; True if a Cancel came meanwhile."""
    with trio.move_on_after(seconds):
        while not isinstance(await proc.events.receive(), Cancel):
            pass
        return True
    return False


class _Round:
    """One round: the chunks sent and the counts gathered."""

    def __init__(self, number: int, members: list[actors.PID]) -> None:
        self.number = number
        self.started = trio.current_time()
        self.members = members
        self.sent: dict[int, str] = {}  # chunk index -> the node it was sent to
        self.gathered: dict[int, tuple[str, int]] = {}  # index -> (node, primes)

    def line(self) -> dict[str, Any]:
        nodes = sorted({node for node, _ in self.gathered.values()})
        return {
            "round": self.number,
            "members": len(self.members),
            "gathered": f"{len(self.gathered)}/{len(self.members)}",
            "nodes": ",".join(nodes) or "-",
            "primes": sum(primes for _, primes in self.gathered.values()),
            "ms": round((trio.current_time() - self.started) * 1000, 1),
        }


async def _lead(proc: Process, period: float) -> bool:
    """Fan out a round every ``period`` and gather it. True on a Cancel, False on NameLost."""
    me = proc.node.name
    groups = spanning_groups(proc)
    ticks = proc.ticker(period, buffer=1)
    current: _Round | None = None
    number = 0
    try:
        while True:
            got = await actors.select(proc.events, proc.inbox, ticks)
            value = got.value
            if isinstance(value, Cancel):
                return True
            if isinstance(value, NameLost):
                log.warning("Coordinator lost the name", node=me, winner=value.winner)
                return False
            if got.source is ticks:
                if current is not None and len(current.gathered) < len(current.members):
                    missing = sorted(
                        {current.sent.get(i, "?") for i in range(len(current.members))}
                        - {node for node, _ in current.gathered.values()}
                    )
                    line = current.line()
                    log.warning("Round incomplete", **line, missing_from=",".join(missing))
                number += 1
                current = _fan_out(proc, number, groups.members(GROUP))
            elif isinstance(value, Message) and value.topic == "result" and current is not None:
                result: dict[str, Any] = value.payload
                if result.get("round") == current.number:
                    current.gathered[result["index"]] = (result["node"], result["primes"])
                    if len(current.gathered) == len(current.members):
                        log.info("Round", **current.line(), coordinator=me)
    finally:
        ticks.stop()


def _fan_out(proc: Process, number: int, members: tuple[actors.PID, ...]) -> _Round:
    """Split round ``number``'s range among ``members`` and send each its chunk."""
    current = _Round(number, list(members))
    base = number * SPAN
    size = -(-SPAN // max(len(members), 1))
    for index, pid in enumerate(members):
        lo = base + index * size
        chunk = {"round": number, "index": index, "lo": lo, "hi": min(lo + size, base + SPAN)}
        # Its node is being lost (or this node is leaving the group): the round is incomplete.
        with contextlib.suppress(NoConnection, actors.ProcessNotFound):
            proc.send(pid, "chunk", chunk)
        current.sent[index] = pid.node or str(proc.node.name)
    return current
