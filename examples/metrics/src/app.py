"""User metrics: counters, gauges and histograms recorded by processes, read by exporters.

- ``workers`` is a ``pool`` entry: three workers behind smallest-mailbox routing. A job takes
  10 to 80 ms; every tenth fails. Each worker records ``jobs_total{result="ok"|"failed"}`` (a
  counter), ``job_seconds`` (a histogram) and decrements ``jobs_in_flight`` (a gauge).
- ``load`` sends a job to the pool every 100 ms and increments ``jobs_in_flight``.
- ``reporter`` logs a summary every second from ``actors.metrics(proc).snapshot()``.

Recording is a plain attribute update: nothing is sent anywhere until an exporter asks.
``actors metrics --app examples/metrics`` prints them in Prometheus's text format, and
``actors run examples/metrics --metrics-port 9100`` serves them at ``/metrics``.
"""

from __future__ import annotations

import trio

import actors
from actors import Cancel, Message, Process

log = actors.get_logger("app.metrics")


async def worker(proc: Process) -> None:
    """Work on ``job`` messages: sleep, then record the result, the time and one fewer in flight."""
    m = actors.metrics(proc)
    jobs = m.counter("jobs_total", "Jobs finished, by result", ["result"])
    in_flight = m.gauge("jobs_in_flight", "Jobs sent and not finished")
    took = m.histogram("job_seconds", "Time per job", buckets=[0.025, 0.05, 0.1])
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if isinstance(got.value, Cancel):
            return
        if isinstance(got.value, Message) and got.value.topic == "job":
            job: int = got.value.payload
            started = trio.current_time()
            await proc.sleep(0.01 * (job % 8 + 1))
            took.observe(trio.current_time() - started)
            in_flight.dec()
            jobs.labels("failed" if job % 10 == 7 else "ok").inc()


async def load(proc: Process) -> int:
    """Send a job to the pool every 100 ms until cancelled; return how many were sent."""
    pool = actors.pool("app:workers", proc)
    in_flight = actors.metrics(proc).gauge("jobs_in_flight", "Jobs sent and not finished")
    ticks = proc.ticker("100ms", buffer=1)
    sent = 0
    while True:
        got = await actors.select(proc.events, ticks)
        if isinstance(got.value, Cancel):
            log.info("Load stopped", sent=sent)
            return sent
        if got.source is ticks:
            sent += 1
            in_flight.inc()
            pool.send("job", sent)


def summary(proc: Process) -> dict[str, float]:
    """The numbers the reporter logs, read from a snapshot of the node's metrics."""
    values: dict[str, float] = {}
    # A snapshot copies every series at once (what `actors metrics` and Prometheus read too).
    for metric in actors.metrics(proc).snapshot():
        for series in metric.series:
            if metric.kind == "histogram":
                values[f"{metric.name}_count"] = series.count
                fast = dict(series.buckets)[0.05]
                values[f"{metric.name}_le_50ms"] = fast
            else:
                name = metric.name + "".join(f"_{v}" for v in series.labels)
                values[name] = series.value
    return {k: int(v) if float(v).is_integer() else round(v, 3) for k, v in values.items()}


async def reporter(proc: Process) -> None:
    """Log the metrics every second, and once more when stopped."""
    ticks = proc.ticker("1s", buffer=1)
    while True:
        got = await actors.select(proc.events, ticks)
        if isinstance(got.value, Cancel):
            log.info("METRICS final", **summary(proc))
            return
        if got.source is ticks:
            log.info("METRICS", **summary(proc))
