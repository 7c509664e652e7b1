"""A failing job or service informs once and does not flood the log (virtual time).

The issue's case: a ``cron.job`` that raises on every tick logged a WARNING, an ERROR naming
``spawn_main.<locals>.job`` and ~20 traceback lines per tick. Now: one traceback naming the
entry, a few summary lines with the count and the first failure's time, a recovery line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import trio

import actors
from actors import VirtualWallClock
from registry import Registry, function_entry
from registry._scheduler import start_cron_scheduler

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Shown(logging.Handler):
    """What ``actors run`` prints at its default level: INFO and up, tracebacks included."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.extend(self.format(record).splitlines())

    def having(self, *needles: str) -> list[str]:
        return [line for line in self.lines if all(n in line for n in needles)]


@pytest.fixture(name="shown")
def fixture_shown() -> Iterator[Shown]:
    handler = Shown()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


class Flaky:
    """A job function that fails its first ``failures`` calls, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"boom {self.calls}")
        return "ok"


async def test_a_job_failing_100_times_logs_one_traceback(shown: Shown) -> None:
    job = Flaky(100)
    entry = function_entry("app:job", job, meta={"type": "cron.job", "interval": "1s"})
    reg = Registry.from_entries([entry])
    async with actors.open_node() as node:
        pid = start_cron_scheduler(node, reg, wall_clock=VirtualWallClock(T0))
        await trio.sleep(102.5)
        node.cancel(pid)
        await node.wait_exit(pid)  # stopped before the node's shutdown cancels its runner
    assert job.calls == 102
    text = "\n".join(shown.lines)
    assert text.count("Traceback (most recent call last)") == 2  # the error and its cause, once
    assert "spawn_main" not in text and "<locals>" not in text.split("Traceback")[0]
    first = shown.having("ERROR process crashed pid=", "function=app:job")
    assert len(first) == 1 and "boom 1" in first[0]
    again = shown.having("ERROR process crashed again", "function=app:job")
    assert len(again) == 3  # failures 10, 70 (a minute after the last line), 100
    first_failure = again[0].split("first_failure=")[1]
    assert datetime.fromisoformat(first_failure).tzinfo is not None  # the node's wall clock
    assert all(line.endswith(f"first_failure={first_failure}") for line in again), again
    assert not shown.having("WARNING")  # no per-tick warning any more
    (recovered,) = shown.having("INFO process recovered", "function=app:job")
    assert recovered.endswith(f"failures=100 first_failure={first_failure}")
    crash_lines = [line for line in shown.lines if "crash" in line or "FAILED" in line]
    assert len(crash_lines) == 4
    assert len(shown.lines) < 80  # was ~20 lines per failure: ~2,000


async def test_a_crash_looping_service_logs_one_traceback_and_its_recovery(shown: Shown) -> None:
    """A restart loop: one traceback, one short line per retry, then ``service recovered``."""
    starts: list[float] = []

    async def service(proc: actors.Process) -> None:
        starts.append(trio.current_time())
        if len(starts) <= 5:
            raise RuntimeError("not yet")
        await proc.events.receive()

    actors_service: Any = actors.ServiceSpec(
        "app:svc", service, auto_start=True, backoff=actors.Backoff(jitter=0.0)
    )
    async with actors.open_node() as node:
        manager = await actors.start_services(node, [actors_service])
        await trio.sleep(60)
        status = await manager.status("app:svc")
        assert status.state is actors.ServiceState.RUNNING
    assert len(starts) == 6
    text = "\n".join(shown.lines)
    assert text.count("Traceback (most recent call last)") == 1
    assert len(shown.having("ERROR process crashed pid=")) == 1
    retries = shown.having("WARNING service failed name=app:svc")
    assert len(retries) == 5
    (recovered,) = shown.having("INFO service recovered name=app:svc")
    assert "failures=5" in recovered
    (kernel,) = shown.having("INFO process recovered")
    assert "failures=5" in kernel and "service" in kernel  # its function: ...<locals>.service
