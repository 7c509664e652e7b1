"""The mass-spawn app: NUM_WORKERS ticking workers reporting to one spawner.

The spawner spawns every worker linked and monitored (it traps links), so a
crashed spawner takes its workers with it and its restart never leaves a
second set running (the seed's spawn_monitored-only version would). Each
worker ticks on its own fixed-rate ticker at a random period in
[TICK_MIN, TICK_MAX] (a Cancel interrupts its wait: ``trap_cancel = False``) and sends "tick"
with the tick's scheduled time to the spawner, which selects over its events
(Exit, Cancel), a stats ticker and its inbox, in that order, and drains the
inbox in batches (``receive_many_nowait``).

It spawns in slices of ``SPAWN_SLICE`` seconds, yielding between them, so the
workers start a slice at a time and the stats ticker (started first) stays on
time, and it drains its whole inbox after every wake-up.
Every stats line says how far behind the ticks arrive (``late_p99_ms``,
``late_max_ms``), the process's RSS and CPU share; once the workers have had
``SETTLE`` seconds, a rate below 97% of the expected one or a p99 lateness
above one stats interval is logged as a warning: the node cannot keep up.

"Spawned" is reported twice, honestly: when every PID has been returned
(`all workers spawned`), and when every worker is running and waiting on its
ticker (`all workers running`).

In a node group (``actors run DIR --workers N`` sets ``ACTORS_NODES=w1,...,wN``)
each node's spawner runs its share of NUM_WORKERS and counts its own workers'
ticks (no tick crosses a process boundary); every stats line names its node.
The nodes come from the group's membership (``group.members()``, so ``--cluster``
nodes need no ``ACTORS_NODES`` for it): the others send their lines to the first
live member's spawner (``app:spawner@w1``), and that one logs a ``cluster stats``
line merging the latest line of each live member (``nodes=heard/members``); if
it goes down, the next member takes over.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import resource
import time
from collections.abc import Callable
from typing import TypeVar

import trio

import actors
from actors import Cancel, Exit, LinkDown, Process
from registry import current_app

log = actors.get_logger("app.mass_spawn")
T = TypeVar("T")

SPAWN_SLICE = 0.2
"""Seconds the spawner spawns before it yields once (the workers so far start meanwhile)."""
DRAIN = 1_000_000
"""Most inbox messages handled per batch (``receive_many_nowait``)."""
SAMPLES = 2000
"""About how many tick latenesses per stats interval feed the p99."""
SETTLE = 10.0
"""Seconds after the last spawn before a low rate counts as falling behind."""
KEEP_UP = 0.97
"""Below this share of the expected tick rate the node is not keeping up."""


def _config(proc: Process) -> tuple[int, float, float, float]:
    env = current_app(proc).env
    workers = int(env.get("NUM_WORKERS"))
    tick_min = float(env.get("TICK_MIN"))
    tick_max = float(env.get("TICK_MAX"))
    stats = float(env.get("STATS_INTERVAL"))
    if workers < 0:
        raise ValueError(f"NUM_WORKERS must be >= 0, got {workers}")
    if not 0 < tick_min <= tick_max:
        raise ValueError(f"need 0 < TICK_MIN <= TICK_MAX, got {tick_min:g}s and {tick_max:g}s")
    if stats <= 0:
        raise ValueError(f"STATS_INTERVAL must be > 0, got {stats:g}s")
    return workers, tick_min, tick_max, stats


def group_share(workers: int, nodes: str, me: str | None) -> tuple[int, list[str]]:
    """This node's share of ``workers`` and the group's nodes (``[]``: not in a group).

    ``nodes`` is ``ACTORS_NODES`` (comma-separated node names); a node that is not
    listed runs every worker itself.
    """
    names = [name.strip() for name in nodes.split(",") if name.strip()]
    if me is None or me not in names:
        return workers, []
    base, extra = divmod(workers, len(names))
    return base + (names.index(me) < extra), names


def expected_rate(alive: int, tick_min: float, tick_max: float) -> float:
    """Ticks per second of ``alive`` workers with periods uniform in [tick_min, tick_max]."""
    if tick_max == tick_min:
        return alive / tick_min
    return alive * math.log(tick_max / tick_min) / (tick_max - tick_min)


def rss_mb() -> float:
    """Resident set size of this process in MB (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered), math.ceil(0.99 * len(ordered))) - 1]


async def worker(proc: Process, spawner: actors.PID, ident: int, period: float) -> int:
    """Tick every ``period`` seconds and report each tick; on Cancel report and stop.

    It waits on its ticker alone: ``select(proc.events, ticks)`` would see a
    Cancel too but costs about four times the CPU per tick (a select parks on
    two sources and holds several objects for the whole period), the
    difference between keeping up with 100,000 workers on one core and
    falling behind at 40,000. With ``trap_cancel = False`` a Cancel raises
    ``actors.Cancelled`` in the wait instead, so it still stops at once.
    """
    proc.trap_cancel = False
    send = proc.send
    send(spawner, "started", ident)
    receive = proc.ticker(period).receive
    runs = 0
    try:
        while True:
            scheduled = await receive()
            runs += 1
            send(spawner, "tick", scheduled)  # the tick's scheduled time
    except actors.Cancelled:
        send(spawner, "stopped", runs)
        return runs


class _Stats:
    """What the spawner counts between two stats lines."""

    def __init__(self, workers: int, tick_min: float, tick_max: float, every: float) -> None:
        self.workers, self.tick_min, self.tick_max = workers, tick_min, tick_max
        self.alive = self.started = self.failed = self.total_ticks = self.last_ticks = 0
        self.step = max(1, round(expected_rate(workers, tick_min, tick_max) * every / SAMPLES))
        self.sample: list[float] = []
        self.late_max = 0.0
        self.last_at = trio.current_time()
        self.last_cpu = time.process_time()
        self.last_wall = time.perf_counter()
        self.settled_at = math.inf
        self.node: str | None = None
        self.group: _GroupStats | None = None

    def handle(self, batch: list[actors.Message], t0: float) -> None:
        """Count a batch of inbox messages: ticks and 'started' reports."""
        ticks = []
        for msg in batch:
            topic = msg.topic
            if topic == "tick":
                ticks.append(msg.payload)
            elif topic == "node_stats" and self.group is not None:
                self.group.report(msg.payload)
            elif topic == "started":
                self.started += 1
                if self.started == self.workers:
                    elapsed = f"{time.perf_counter() - t0:.3f}"
                    log.info("all workers running", count=self.workers, elapsed_s=elapsed)
        self.ticks(ticks, trio.current_time())

    def ticks(self, scheduled: list[float], now: float) -> None:
        """Count a batch of ticks received at ``now`` (their scheduled times)."""
        step, sample = self.step, self.sample
        n = self.total_ticks
        for at in scheduled:
            n += 1
            if n % step == 0:
                sample.append(now - at)
        if scheduled:
            self.late_max = max(self.late_max, now - min(scheduled))
        self.total_ticks = n

    def line(self) -> dict[str, int | str]:
        """Log one stats line (and return its fields), and a warning when behind."""
        now, cpu, wall = trio.current_time(), time.process_time(), time.perf_counter()
        new = self.total_ticks - self.last_ticks
        rate = new / (now - self.last_at) if now > self.last_at else 0.0
        expected = expected_rate(self.alive, self.tick_min, self.tick_max)
        late_p99 = p99(self.sample)
        spent = wall - self.last_wall
        cpu_pct = (cpu - self.last_cpu) / spent * 100 if spent > 0 else 0.0
        fields: dict[str, int | str] = {} if self.node is None else {"node": self.node}
        fields |= {
            "alive": self.alive,
            "total_ticks": self.total_ticks,
            "new_ticks": new,
            "tick_rate": round(rate),
            "expected_rate": round(expected),
            "late_p99_ms": round(late_p99 * 1e3),
            "late_max_ms": round(self.late_max * 1e3),
            "rss_mb": round(rss_mb()),
            "cpu_pct": round(cpu_pct),
        }
        log.info("stats", **fields)
        behind = late_p99 > now - self.last_at
        if now >= self.settled_at and (rate < KEEP_UP * expected or behind):
            log.warning(
                "cannot keep up",
                tick_rate=round(rate),
                expected_rate=round(expected),
                share=f"{rate / expected:.2f}" if expected else "-",
                late_p99_ms=round(late_p99 * 1e3),
                late_max_ms=round(self.late_max * 1e3),
            )
        self.last_ticks, self.last_at, self.last_cpu, self.last_wall = (
            self.total_ticks,
            now,
            cpu,
            wall,
        )
        self.sample = []
        self.late_max = 0.0
        return fields


class _GroupStats:
    """The first node's merge of every node's latest stats line."""

    def __init__(self, members: Callable[[], list[str]], every: float) -> None:
        self.members, self.every = members, every
        self.latest: dict[str, tuple[float, dict[str, int | str]]] = {}

    def report(self, fields: object) -> None:
        """Keep a node's stats line (a dict from ``_Stats.line``); ignore anything else."""
        if isinstance(fields, dict) and isinstance(node := fields.get("node"), str):
            self.latest[node] = (trio.current_time(), fields)

    def line(self) -> None:
        """Log the merged line of the live members heard from within two stats intervals."""
        now, members = trio.current_time(), self.members()
        fresh = [
            f
            for node, (at, f) in self.latest.items()
            if node in members and now - at <= 2 * self.every
        ]

        def values(key: str) -> list[int]:
            return [v for f in fresh if isinstance(v := f.get(key), int)]

        def total(key: str) -> int:
            return sum(values(key))

        rate, expected = total("tick_rate"), total("expected_rate")
        log.info(
            "cluster stats",
            nodes=f"{len(fresh)}/{len(members)}",
            alive=total("alive"),
            total_ticks=total("total_ticks"),
            tick_rate=rate,
            expected_rate=expected,
            share=f"{rate / expected:.3f}" if expected else "-",
            late_p99_ms=max(values("late_p99_ms"), default=0),
            rss_mb=total("rss_mb"),
            cpu_pct=total("cpu_pct"),
        )


async def spawner(proc: Process) -> None:
    """Spawn the workers, collect their ticks, log stats; on Cancel stop them all."""
    workers, tick_min, tick_max, stats_every = _config(proc)
    group_nodes = str(current_app(proc).env.get("ACTORS_NODES"))
    workers, nodes = group_share(workers, group_nodes, proc.node.name)
    proc.trap_links = True
    worker_fn = current_app(proc).process("app:worker")
    log.info(
        "mass spawn starting",
        num_workers=workers,
        tick_min=actors.format_duration(tick_min),
        tick_max=actors.format_duration(tick_max),
        stats_interval=actors.format_duration(stats_every),
        pid=proc.pid,
        **({"node": proc.node.name, "group": ",".join(nodes)} if nodes else {}),
    )
    st = _Stats(workers, tick_min, tick_max, stats_every)
    members = _members(proc)
    if members is not None:
        st.node = proc.node.name
        st.group = _GroupStats(members, stats_every)
    report = _reporter(proc, st, members)
    stats = proc.ticker(stats_every)  # first, so stats lines come during the spawn too
    events, inbox = proc.events, proc.inbox
    rng = random.Random()
    t0 = slice_end = time.perf_counter()
    for ident in range(workers):
        period = rng.uniform(tick_min, tick_max)
        proc.spawn_linked_monitored(worker_fn, proc.pid, ident, period, host=proc.pid.host)
        st.alive += 1
        if ident % 256 == 255 and time.perf_counter() > slice_end:
            await trio.lowlevel.checkpoint()  # let this slice start; stats stay on time
            _drain_into(st, inbox, t0)
            if (await actors.select(stats, default=True)).source is stats:
                report()
            slice_end = time.perf_counter() + SPAWN_SLICE  # a whole slice of spawning
    spawned_s = time.perf_counter() - t0
    st.settled_at = trio.current_time() + SETTLE
    log.info(
        "all workers spawned",
        count=workers,
        elapsed_s=f"{spawned_s:.3f}",
        us_per_spawn=f"{spawned_s / max(workers, 1) * 1e6:.1f}",
    )
    if workers == 0:
        log.info("all workers running", count=0, elapsed_s="0.000")
    while True:
        got = await actors.select(events, stats, inbox)
        source, value = got.source, got.value
        if source is inbox:
            st.handle([value], t0)
        elif source is stats:
            report()  # before draining: it counts what arrived before its tick
        # Drain after every wake-up: when scheduling rounds outlast the stats interval,
        # select (stats before inbox) would otherwise return the stats tick every time.
        _drain_into(st, inbox, t0)
        if source is inbox or source is stats:
            pass
        elif type(value) is Exit:
            st.alive -= 1
            if value.error is not None:
                st.failed += 1
        elif type(value) is LinkDown:
            pass  # the matching Exit does the counting
        elif isinstance(value, Cancel):
            await _shut_down(proc, workers, st.alive, st.total_ticks, st.failed)
            return


def _members(proc: Process) -> Callable[[], list[str]] | None:
    """The live members of this node's group (a function: they change), or None."""
    from actors.cluster import current_group

    try:
        return current_group(proc.node).members
    except RuntimeError:  # not in a node group
        return None


def _reporter(
    proc: Process, st: _Stats, members: Callable[[], list[str]] | None
) -> Callable[[], None]:
    """What the spawner does at each stats tick: its line, then the group's share of it."""

    def report() -> None:
        fields = st.line()
        if members is None or st.group is None:
            return
        st.group.report(fields)
        leader = members()[0]  # the first live member merges
        if leader == proc.node.name:
            st.group.line()
        else:
            with contextlib.suppress(ConnectionError):  # it went down meanwhile
                proc.send(f"app:spawner@{leader}", "node_stats", fields)

    return report


def _drain_into(st: _Stats, inbox: actors.lowlevel.MessageQueue[actors.Message], t0: float) -> None:
    """Handle everything queued in the inbox now (up to ``DRAIN`` messages)."""
    with contextlib.suppress(trio.WouldBlock):
        st.handle(inbox.receive_many_nowait(DRAIN), t0)


async def _shut_down(proc: Process, spawned: int, alive: int, ticks: int, failed: int) -> None:
    """Cancel every worker, wait for their 'stopped' reports and exits, log the totals."""
    still_alive = alive
    for pid in proc.node.processes(host=proc.pid.host):
        if pid != proc.pid:
            proc.cancel(pid, "spawner stopping")
    stopped = 0
    events, inbox = proc.events, proc.inbox
    with trio.move_on_after(5):
        while alive > 0:
            got = await actors.select(events, inbox)
            # Then everything else queued, a batch at a time: a select per item costs
            # about a second more at 100,000 workers.
            exits = _drain(events)
            messages = _drain(inbox)
            if got.source is events:
                exits.append(got.value)
            else:
                messages.append(got.value)
            alive -= sum(type(event) is Exit for event in exits)
            stopped += sum(msg.topic == "stopped" for msg in messages)
            ticks += sum(msg.topic == "tick" for msg in messages)
    # Workers send "stopped" before they return, so every report is queued by now.
    for msg in _drain(inbox):
        if msg.topic == "stopped":
            stopped += 1
        elif msg.topic == "tick":
            ticks += 1
    log.info(
        "shutting down",
        workers_spawned=spawned,
        still_alive=still_alive,
        stopped=stopped,
        total_ticks=ticks,
        failed=failed,
    )


def _drain(queue: actors.lowlevel.MessageQueue[T]) -> list[T]:
    """Everything queued in ``queue`` now (up to ``DRAIN`` items)."""
    try:
        return queue.receive_many_nowait(DRAIN)
    except trio.WouldBlock:
        return []
