"""The cron service's start-up recovery over a trigger backlog: ``python -m bench._recover N``.

Writes N pending trigger files (and ``--jobs`` job files, each a few slots behind its latest
trigger, so that recovery rolls every job forward) in a temp folder, then runs the recovery
the cron service runs at start inside ``trio.run`` and prints, as one line (``--json``: one JSON
line): wall time, CPU time, and the longest time one trio task step held the loop (thread CPU
time, and wall time, which includes waiting for the disk), which is what every other process on
the node waits for.

It uses ``JobStore.recover_async`` when the checkout has it and the synchronous
``JobStore.recover`` otherwise (what the service called before), so it measures an older
checkout too: ``PYTHONPATH=/path/to/old python bench/_recover.py 100000``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio

from actors.cron import JobStore, TriggerFile
from actors.cron._triggerfiles import encode_trigger

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class _LongestStep(trio.abc.Instrument):
    def __init__(self) -> None:
        self.began: tuple[float, float] | None = None
        self.longest = 0.0
        self.longest_wall = 0.0
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.began = (time.thread_time(), time.perf_counter())

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.began is not None:
            self.longest = max(self.longest, time.thread_time() - self.began[0])
            self.longest_wall = max(self.longest_wall, time.perf_counter() - self.began[1])
            self.steps += 1


def populate(folder: Path, count: int, jobs: int) -> JobStore:
    """Write ``jobs`` job files and ``count`` trigger files spread over them."""
    store = JobStore(folder, clock=lambda: T0)
    for n in range(jobs):
        store.add(f"job {n}", "* * * * *", "inbox", prompt="p", id=f"job-{n}")
    for n in range(count):
        job = f"job-{n % jobs}"
        slot = T0 + timedelta(minutes=n // jobs + 1)
        trigger = TriggerFile(
            target="inbox", prompt="p", job_id=job, fired_at=slot, scheduled_for=slot
        )
        stamp = slot.strftime("%Y%m%dT%H%M%S.%fZ")
        (store.triggers_dir / f"{stamp}-{n:06d}-{job}.json").write_bytes(encode_trigger(trigger))
    return store


def measure(count: int, jobs: int) -> dict[str, object]:
    """Recover a folder of ``count`` trigger files; return its cost and longest loop step."""
    with tempfile.TemporaryDirectory() as tmp:
        store = populate(Path(tmp), count, jobs)
        meter = _LongestStep()
        found: list[object] = []

        async def recover() -> None:
            trio.lowlevel.add_instrument(meter)
            await trio.lowlevel.checkpoint()  # recovery starts a step of its own
            if hasattr(store, "recover_async"):
                found.append(await store.recover_async())
            else:
                found.append(store.recover())
            await trio.lowlevel.checkpoint()  # ends the last step, so the meter sees it
            trio.lowlevel.remove_instrument(meter)

        wall, cpu = time.perf_counter(), time.process_time()
        trio.run(recover)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rolled = len(getattr(found[0], "rolled_forward", ()))
        return {
            "case": f"recover {count} trigger files, {jobs} jobs",
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "longest_step_ms": round(meter.longest * 1e3, 2),
            "longest_step_wall_ms": round(meter.longest_wall * 1e3, 2),
            "steps": meter.steps,
            "rolled_forward": rolled,
        }


def main() -> None:
    """Parse the arguments, measure, print one line."""
    parser = argparse.ArgumentParser(prog="python -m bench._recover", description=__doc__)
    parser.add_argument("count", type=int, help="pending trigger files")
    parser.add_argument("--jobs", type=int, default=100, help="job files (default 100)")
    parser.add_argument("--json", action="store_true", help="one JSON line")
    args = parser.parse_args()
    logging.getLogger("actors.cron").setLevel(logging.ERROR)
    result = measure(args.count, max(1, args.jobs))
    print(json.dumps(result) if args.json else result, flush=True)


if __name__ == "__main__":
    main()
