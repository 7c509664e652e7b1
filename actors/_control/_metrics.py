"""Optional Prometheus metrics of a node (the ``actors[metrics]`` extra: ``prometheus_client``).

``serve_metrics(node, port)`` serves ``/metrics`` on a loopback port (prometheus_client's HTTP
server thread) and refreshes the values from a trio task every ``interval`` seconds (the HTTP
thread never touches the node):

- ``actors_processes{host}``: live processes per host;
- ``actors_mailbox_messages``, ``actors_mailbox_max_messages``: queued messages in all
  mailboxes, and in the fullest one;
- ``actors_timers_pending``, ``actors_dropped_ticks_total``: the timer service's counters;
- ``actors_tick_lateness_seconds``: how late the refresh timer itself fires (a histogram: the
  event loop's lateness as a timer sees it);
- ``actors_process_crashes_total``: processes that exited with an error (crashed, terminated,
  failed through a link), counted by the kernel's crash log whatever was logged (repeats of a
  failure streak are folded into summary lines, see ``actors._core._crashlog``);
- ``actors_gc_pause_seconds``: the garbage collector's pauses (a histogram, from ``gc.callbacks``);
- every user metric of ``actors.metrics(node)``, under its own name (copied at each refresh);
- ``actors_loop_stalls_total``, ``actors_loop_stall_longest_seconds``: loop stalls the watchdog
  saw (a task step that held the event loop longer than its threshold), and the longest
  (absent when the node runs without a watchdog).
"""

from __future__ import annotations

import gc
import time
from typing import Any

import trio

from .._core import _watchdog
from .._core._crashlog import crash_log
from .._core._node import Node
from .._time._service import timer_statistics
from ._errors import ControlError
from ._usermetrics import PrometheusCollector

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ControlError(
            "metrics need the prometheus_client package: pip install 'actors[metrics]'"
        ) from None
    return prometheus_client


async def serve_metrics(
    node: Node,
    port: int,
    *,
    host: str = "127.0.0.1",
    interval: float = 1.0,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``node``'s metrics on ``http://host:port/metrics`` until cancelled.

    ``task_status.started`` gets the bound port (pass ``port=0`` for a free one).

    Args:
        node: The node whose statistics, timers, crash counts and user metrics are exported.
        port: The TCP port to bind; 0 picks a free one, reported through ``task_status``.
        host: The address to bind: ``127.0.0.1``, ``::1`` or ``localhost`` only (the endpoint has no
            authentication).
        interval: Seconds between two refreshes of the exported values (> 0); a scrape reads
            the last refresh.
        task_status: Given by ``nursery.start``; receives the bound port once it listens.

    Raises:
        ControlError: If prometheus_client is missing, ``host`` is not a loopback address,
            ``interval`` is not > 0, or the port cannot be bound.
    """
    prom = _prometheus()
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ControlError(f"metrics are served on a loopback address only, got {host!r}")
    if not interval > 0:
        raise ControlError(f"metrics interval must be > 0 seconds, got {interval!r}")
    registry = prom.CollectorRegistry()
    processes = prom.Gauge("actors_processes", "Live processes", ["host"], registry=registry)
    queued = prom.Gauge("actors_mailbox_messages", "Messages queued", registry=registry)
    fullest = prom.Gauge("actors_mailbox_max_messages", "The fullest mailbox", registry=registry)
    pending = prom.Gauge("actors_timers_pending", "Timers waiting to fire", registry=registry)
    dropped = prom.Counter("actors_dropped_ticks", "Ticker ticks dropped", registry=registry)
    late = prom.Histogram(
        "actors_tick_lateness_seconds", "Lateness of a timer", buckets=_BUCKETS, registry=registry
    )
    crashes = prom.Counter("actors_process_crashes", "Error exits", registry=registry)
    pauses = prom.Histogram(
        "actors_gc_pause_seconds", "Garbage collector pauses", buckets=_BUCKETS, registry=registry
    )
    user = PrometheusCollector(prom, node)
    registry.register(user)
    stalls = stall_longest = None
    if node.watchdog is not None:
        stalls = prom.Counter("actors_loop_stalls", "Loop stalls", registry=registry)
        stall_longest = prom.Gauge(
            "actors_loop_stall_longest_seconds", "The longest loop stall", registry=registry
        )
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            pauses.observe(time.perf_counter() - gc_started[0])

    try:
        server, thread = prom.start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        raise ControlError(f"cannot serve metrics on {host}:{port}: {error}") from None
    gc.callbacks.append(on_gc)
    seen_dropped = seen_stalls = 0
    seen_crashes = crash_log(node).statistics().crashes
    try:
        task_status.started(server.server_port)
        while True:
            hosts = {h.name: h.count for h in node.hosts()}
            for name, count in hosts.items():
                processes.labels(name).set(count)
            depths = [p._depth() for p in node._procs.values()]
            queued.set(sum(depths))
            fullest.set(max(depths, default=0))
            timers = timer_statistics(node)
            pending.set(timers.pending)
            dropped.inc(max(timers.dropped_ticks - seen_dropped, 0))
            seen_dropped = timers.dropped_ticks
            crashed = crash_log(node).statistics().crashes
            crashes.inc(max(crashed - seen_crashes, 0))
            seen_crashes = crashed
            user.refresh()
            if stalls is not None and stall_longest is not None:
                _watchdog.settle(node)
                count, longest, _ = node._stalls.value
                stalls.inc(max(count - seen_stalls, 0))
                seen_stalls = count
                stall_longest.set(longest)
            due = trio.current_time() + interval
            await trio.sleep_until(due)
            late.observe(max(trio.current_time() - due, 0.0))
    finally:
        gc.callbacks.remove(on_gc)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
