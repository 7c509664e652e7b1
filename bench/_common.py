"""Helpers shared by every system adapter: memory probes, GC pause monitor, percentiles.

Adapters import only from here (and their own runtime), so a measurement process loads nothing
it does not need.  Everything is stdlib; ``psutil`` is used for RSS only when installed.
"""

from __future__ import annotations

import gc
import math
import os
import random
import sys
import time
import tracemalloc
from array import array
from collections.abc import Callable, Sequence
from typing import Any, Literal

Metrics = dict[str, float]

#: Unit of every metric an adapter may return.  The runner looks units up here.
UNITS: dict[str, str] = {
    "time_to_pids_s": "s",
    "time_to_parked_s": "s",
    "us_per_spawn": "us",
    "rss_per_actor_bytes": "B",
    "tracemalloc_per_actor_bytes": "B",
    "vm_process_bytes_per_actor": "B",
    "cpu_per_tick_us": "us",
    "cpu_per_tick_us_min": "us",
    "cpu_per_tick_us_max": "us",
    "rate": "ticks/s",
    "ideal_rate": "ticks/s",
    "rate_ratio": "ratio",
    "lateness_p50_ms": "ms",
    "lateness_p99_ms": "ms",
    "lateness_max_ms": "ms",
    "max_gc_pause_ms": "ms",
    "gc_pause_total_ms": "ms",
    "cpu_percent": "%",
    "spawn_s": "s",
    "round_trips_per_s": "1/s",
    "us_per_round_trip": "us",
    "messages_per_s": "1/s",
    "us_per_call_p50": "us",
    "us_per_call_p99": "us",
    "tick_error_ms": "ms",
}

#: Seed for the tick periods, so every system ticks with the same periods.
SEED = 1

#: Set by the worker: called with the finished metrics, prints them and ends the process at once,
#: so a measurement never pays for tearing down 200k tasks or 10k threads.
early_exit: Callable[[Metrics], None] | None = None


def deliver(metrics: Metrics) -> Metrics:
    """Hand finished metrics to the worker (which may exit the process), else return them."""
    if early_exit is not None:
        early_exit(metrics)
    return metrics


def phase(name: str) -> None:
    """Announce a phase on stderr; the runner quotes the last one when it kills a stuck worker."""
    print(f"phase {name}", file=sys.stderr, flush=True)


def tick_periods(n: int, tick_min: float, tick_max: float) -> list[float]:
    """Per-actor tick periods from U(tick_min, tick_max), stratified, with a fixed seed.

    Actor i draws from the i-th of n equal slices of the range, so the sample's sum of 1/period
    matches the ideal rate N*E[1/period] closely even at N = 1k (plain draws are ~2% off there).
    """
    rng = random.Random(SEED)
    span = tick_max - tick_min
    return [tick_min + span * (i + rng.random()) / n for i in range(n)]


def first_offsets(periods: list[float]) -> list[float]:
    """A random phase in [0, period) per actor, so ticks are spread from the start (no burst)."""
    rng = random.Random(SEED + 1)
    return [rng.uniform(0.0, p) for p in periods]


def ideal_rate(n: int, tick_min: float, tick_max: float) -> float:
    """N * E[1/period] for period ~ U(tick_min, tick_max): N * ln(max/min) / (max - min)."""
    if tick_max <= tick_min:
        return n / tick_min
    return n * math.log(tick_max / tick_min) / (tick_max - tick_min)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); NaN for an empty list."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def rss_bytes() -> int:
    """Resident set size of this process."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - non-Linux
        import psutil

        return int(psutil.Process().memory_info().rss)


class MemoryProbe:
    """Measures memory growth around a block of spawns, in one of two modes.

    ``rss``: ΔRSS after ``gc.collect()``.  ``tracemalloc``: Δtraced bytes (tracemalloc is started
    in :meth:`before`, so its own bookkeeping never inflates an RSS figure; the runner measures the
    two modes in two fresh processes).
    """

    def __init__(self, mode: Literal["rss", "tracemalloc"]) -> None:
        self.mode = mode
        self._before = 0

    def _read(self) -> int:
        gc.collect()
        gc.collect()
        if self.mode == "rss":
            return rss_bytes()
        return tracemalloc.get_traced_memory()[0]

    def before(self) -> None:
        if self.mode == "tracemalloc":
            tracemalloc.start()
        self._before = self._read()

    def after(self, n: int) -> Metrics:
        grown = self._read() - self._before
        key = "rss_per_actor_bytes" if self.mode == "rss" else "tracemalloc_per_actor_bytes"
        return {key: grown / n}


class GcMonitor:
    """Records the duration of every garbage collection via ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0
        self._active = False

    def _callback(self, event: str, info: dict[str, Any]) -> None:
        if event == "start":
            self._started = time.perf_counter()
        elif self._started:
            self.pauses.append(time.perf_counter() - self._started)
            self._started = 0.0

    def start(self) -> None:
        if not self._active:
            gc.callbacks.append(self._callback)
            self._active = True

    def stop(self) -> None:
        if self._active:
            gc.callbacks.remove(self._callback)
            self._active = False

    def metrics(self) -> Metrics:
        return {
            "max_gc_pause_ms": max(self.pauses, default=0.0) * 1e3,
            "gc_pause_total_ms": sum(self.pauses) * 1e3,
        }


class TickWindow:
    """What a collector records: the ticks *scheduled* inside the measurement window.

    A tick counts when its scheduled time falls in ``[start, end)`` of the window (read on the
    system's own clock, ``clock``), wherever it is received: during the window or up to
    ``SETTLE_S`` after it. A backlog of ticks scheduled before the window therefore cannot
    count, so the rate cannot read above ideal; ticks scheduled in the window but received
    later than that are missing from the rate. Lateness is measured where the tick arrives
    (receive time minus scheduled time), so queueing in a starved collector counts.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.start = self.end = math.inf
        # An array of doubles, not a list: the measurement must not load the garbage collector
        # it measures (a list of ~700,000 floats is scanned by every full collection).
        self.lateness = array("d")

    def open(self) -> None:
        self.lateness = array("d")
        self.start, self.end = self.clock(), math.inf

    def close(self) -> None:
        self.end = self.clock()

    def record(self, scheduled: float, received: float) -> None:
        """Count one tick (both times on ``clock``) if it was scheduled inside the window."""
        if self.start <= scheduled < self.end:
            self.lateness.append(received - scheduled)

    @property
    def seconds(self) -> float:
        """Length of the closed window on the system's clock."""
        return self.end - self.start


SETTLE_S = 1.0
"""After the window closes, how long ticks scheduled inside it may still arrive and count."""


class MeasuredSpan:
    """The ticking measurement window, used as ``with MeasuredSpan(window, gc_monitor) as span``.

    Entering starts the GC monitor, opens the tick window and reads CPU and wall time; leaving
    reads them again (``cpu_s``, ``wall_s``), closes the window and stops the monitor. Every
    system measures its window through this one sequence.
    """

    def __init__(self, window: TickWindow, gc_monitor: GcMonitor) -> None:
        self.window = window
        self.gc_monitor = gc_monitor
        self.cpu_s = self.wall_s = 0.0
        self._cpu0 = self._wall0 = 0.0

    def __enter__(self) -> MeasuredSpan:
        self.gc_monitor.start()
        self.window.open()
        self._cpu0, self._wall0 = time.process_time(), now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_s, self.wall_s = time.process_time() - self._cpu0, now() - self._wall0
        self.window.close()
        self.gc_monitor.stop()


def tick_metrics(
    window: TickWindow,
    n: int,
    cpu_s: float,
    wall_s: float,
    tick_min: float,
    tick_max: float,
    gc_monitor: GcMonitor,
    spawn_s: float,
) -> Metrics:
    """Turn a closed (and settled) tick window into the ticking workload's metrics.

    ``rate`` is ticks scheduled in the window and received by the end of the settle time,
    per second of window; CPU per tick divides the window's CPU time by those ticks.
    """
    ticks = len(window.lateness)
    ideal = ideal_rate(n, tick_min, tick_max)
    span = window.seconds
    rate = ticks / span if span > 0 else 0.0
    out: Metrics = {
        "cpu_per_tick_us": cpu_s / ticks * 1e6 if ticks else math.inf,
        "rate": rate,
        "ideal_rate": ideal,
        "rate_ratio": rate / ideal,
        "lateness_p50_ms": percentile(window.lateness, 50) * 1e3,
        "lateness_p99_ms": percentile(window.lateness, 99) * 1e3,
        "lateness_max_ms": max(window.lateness, default=math.nan) * 1e3,
        "cpu_percent": cpu_s / wall_s * 100.0 if wall_s > 0 else 0.0,
        "spawn_s": spawn_s,
    }
    out.update(gc_monitor.metrics())
    return out


def call_metrics(samples: list[float]) -> Metrics:
    """Per-call latency percentiles from a list of durations in seconds."""
    return {
        "us_per_call_p50": percentile(samples, 50) * 1e6,
        "us_per_call_p99": percentile(samples, 99) * 1e6,
    }


def spawn_metrics(n: int, to_pids: float, to_parked: float) -> Metrics:
    return {
        "time_to_pids_s": to_pids,
        "time_to_parked_s": to_parked,
        "us_per_spawn": to_parked / n * 1e6,
    }


def pingpong_metrics(rounds: int, elapsed: float) -> Metrics:
    return {"round_trips_per_s": rounds / elapsed, "us_per_round_trip": elapsed / rounds * 1e6}


def now() -> float:
    return time.perf_counter()
