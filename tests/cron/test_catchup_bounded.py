"""The cron service stays responsive while it catches up a job that last fired in 1970 (#24),
and while its start-up recovery reads a large backlog of trigger files.

Virtual time here is made faithful to CPU work: an instrument measures each task step's CPU time
(``time.thread_time``) and moves the MockClock forward by as much, so a step that holds the loop
for 5 s of CPU makes every other task 5 s late in virtual time, exactly as on a real clock. A
10 ms ticker in the same node then measures what a user would see.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import time
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing
from croniter import croniter

import actors
from actors.cron import CRON_TOPIC, CronEvent, JobStore, TriggerFile, cron_service
from actors.cron._triggerfiles import encode_trigger

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
STEP_LIMIT = 50_000
"""Croniter steps after which the test stops a runaway planner (a regression) instead of hanging."""


class CpuIsTime(trio.abc.Instrument):
    """Advance the MockClock by the CPU time of each task step; remember the longest step.

    Garbage-collector pauses are left out: they depend on what the test session allocated
    before, not on the code under test (the GC has its own tests and benchmark).
    """

    def __init__(self, clock: trio.testing.MockClock) -> None:
        self.clock = clock
        self.began: float | None = None  # None: added in the middle of a step
        self.longest = 0.0
        self.gc_began = 0.0
        self.gc_spent = 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gc_began = time.thread_time()
        else:
            self.gc_spent += time.thread_time() - self.gc_began

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.began = time.thread_time()
        self.gc_spent = 0.0

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.began is None:
            return
        spent = max(0.0, time.thread_time() - self.began - self.gc_spent)
        self.longest = max(self.longest, spent)
        self.clock.jump(spent)


class Wall:
    """The wall clock: T0 plus trio's (virtual) time."""

    def __call__(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=trio.current_time())


async def sink(proc: actors.Process, got: list[CronEvent]) -> None:
    proc.trap_cancel = False  # a shutdown ends the loop
    async for msg in proc.inbox:
        assert msg.topic == CRON_TOPIC
        got.append(msg.payload)


async def tick(period: float, lateness: list[float], stop: trio.Event) -> None:
    """A 10 ms fixed-rate ticker: record how late each tick wakes up."""
    deadline = trio.current_time()
    while not stop.is_set():
        deadline += period
        await trio.sleep_until(deadline)
        lateness.append(trio.current_time() - deadline)


@pytest.fixture(name="steps")
def fixture_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count croniter steps; past STEP_LIMIT, fail the planning step instead of walking on."""
    count = [0]
    original = croniter._get_next

    def counting(self: croniter, *args: object, **kwargs: object) -> object:
        count[0] += 1
        if count[0] > STEP_LIMIT:
            raise RuntimeError("catch-up planning walks the missed slots one by one")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(croniter, "_get_next", counting)
    return count


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
async def test_a_job_from_1970_is_caught_up_without_stalling_the_node(
    tmp_path: Path, steps: list[int], zone: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An every-second job created in 1970 that never fired: the ticker stays on time."""
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock)
    cpu = CpuIsTime(clock)
    store = JobStore(tmp_path / "data", clock=lambda: EPOCH)
    store.add("old", "* * * * * 0-59", "inbox", prompt="p", catch_up="once")
    got: list[CronEvent] = []
    lateness: list[float] = []
    stop = trio.Event()
    caplog.set_level(logging.INFO, logger="actors.cron")
    trio.lowlevel.add_instrument(cpu)
    gc.callbacks.append(cpu.on_gc)
    try:
        async with actors.open_node() as node, trio.open_nursery() as nursery:
            nursery.start_soon(tick, 0.01, lateness, stop)
            node.spawn(sink, got, name="inbox")
            service = partial(cron_service, data_dir=store.path, wall_clock=Wall(), tz=zone)
            node.spawn(service, name="cron")
            await trio.sleep(3)
            stop.set()
    finally:
        gc.callbacks.remove(cpu.on_gc)
        trio.lowlevel.remove_instrument(cpu)
    assert len(lateness) >= 250
    assert max(lateness) < 0.05, f"a 10 ms ticker was {max(lateness) * 1e3:.1f} ms late"
    assert cpu.longest < 0.05, f"one task step held the loop for {cpu.longest * 1e3:.1f} ms"
    assert steps[0] < 5_000
    slots = [event.scheduled_for for event in got]
    assert slots[0] == T0  # the on-time slot covers the 1.9 billion missed ones
    assert slots == [T0 + dt.timedelta(seconds=n) for n in range(len(slots))]
    assert len(slots) >= 3
    skipped = [r.getMessage() for r in caplog.records if "cron fires skipped" in r.getMessage()]
    expected = int((T0 - EPOCH).total_seconds()) - 1  # every second but the one that ran
    count = f"count={expected}" if zone == "UTC" else "count=>="  # a lower bound, and says so
    assert len(skipped) == 1 and count in skipped[0], skipped


def _backlog(store: JobStore, job_id: str, count: int) -> dt.datetime:
    """Write ``count`` pending trigger files of ``job_id`` (a crash left them), each with a
    40 KB payload that takes about 1 ms of CPU to read; return the last slot."""
    slot = T0
    payload = list(range(4_000))
    for n in range(count):
        slot = T0 + dt.timedelta(minutes=n)
        trigger = TriggerFile(
            target="inbox", prompt="p", payload=payload, job_id=job_id, scheduled_for=slot
        )
        name = f"{slot.strftime('%Y%m%dT%H%M%S.%fZ')}-000000-{job_id}.json"
        (store.triggers_dir / name).write_bytes(encode_trigger(trigger))
    return slot


async def test_start_up_recovery_of_a_large_backlog_does_not_stall_the_node(
    tmp_path: Path,
) -> None:
    """120 large pending trigger files are read at start (about 0.13 s of CPU in one step
    before): now in steps of about 5 ms, so a 10 ms ticker on the node stays on time."""
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock)
    cpu = CpuIsTime(clock)
    store = JobStore(tmp_path / "data", clock=lambda: T0)
    store.add("job", "0 0 1 1 *", "inbox", prompt="p")
    last = _backlog(store, "job", 120)
    lateness: list[float] = []
    stop = trio.Event()
    trio.lowlevel.add_instrument(cpu)
    gc.callbacks.append(cpu.on_gc)
    try:
        async with actors.open_node() as node, trio.open_nursery() as nursery:
            nursery.start_soon(tick, 0.01, lateness, stop)
            # role "schedule": recovery, then no delivery of the files (not measured here)
            service = partial(cron_service, data_dir=store.path, wall_clock=Wall(), role="schedule")
            node.spawn(service, name="cron")
            await trio.sleep(1)  # recovery needs about 0.13 s of CPU, so of virtual time
            stop.set()
    finally:
        gc.callbacks.remove(cpu.on_gc)
        trio.lowlevel.remove_instrument(cpu)
    assert store.get("job").last_fired_at == last  # rolled forward: the fire is not repeated
    assert len(lateness) >= 90
    assert max(lateness) < 0.05, f"a 10 ms ticker was {max(lateness) * 1e3:.1f} ms late"
    assert cpu.longest < 0.05, f"one task step held the loop for {cpu.longest * 1e3:.1f} ms"
