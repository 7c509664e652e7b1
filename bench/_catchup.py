"""CPU time of one catch-up plan after an outage: ``python -m bench._catchup``.

Plans a durable cron job's missed slots with ``actors.lowlevel.plan_catch_up`` and the default
:class:`~actors.CatchUpPolicy` (``--no-coalesce``: the PostgreSQL service's ``coalesce=False``)
the way the cron service does after a restart, and prints the CPU time of one plan
(``time.process_time()``, median of ``--repeat`` runs) with what the plan says: the fires to
run, the misfire count and whether that count is exact or a lower bound (printed
``misfires>=N``). Cases:

- every-second job (``* * * * * *``) down 1 hour, 1 day, and since 1970 (a job file whose
  ``created_at`` is 1970-01-01 and which never fired);
- every-minute job (``* * * * *``) down 30 days;
- the same every-second outages in a daylight-saving zone (Europe/Berlin), where the count is
  not computed by arithmetic;
- every 15 minutes on weekdays (``*/15 9-17 * * MON-FRI``) since 1970.

Each plan must cost milliseconds, whatever the outage (issue #24); a plan is never allowed to
walk the missed slots one by one. One JSON line per case with ``--json``.

``--drain N`` measures the trigger-file side instead: N trigger files for one target that is
down, then two delivery passes (``actors.cron._triggerdrain.drain``): the first reads every file,
the second finds them all still backing off. For each pass: wall and CPU time, and the longest
time one trio task step held the loop (thread CPU), which is what other processes wait for.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio

from actors import CatchUpPolicy, CronTrigger
from actors.lowlevel import plan_catch_up

NOW = datetime(2026, 6, 1, 12, 0, 0, 500_000, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CASES: tuple[tuple[str, str, str, datetime], ...] = (
    ("every second, down 1 h", "* * * * * 0-59", "UTC", NOW - timedelta(hours=1)),
    ("every second, down 1 day", "* * * * * 0-59", "UTC", NOW - timedelta(days=1)),
    ("every second, since 1970", "* * * * * 0-59", "UTC", EPOCH),
    ("every minute, down 30 days", "* * * * *", "UTC", NOW - timedelta(days=30)),
    ("every second, down 1 day, Berlin", "* * * * * 0-59", "Europe/Berlin", NOW - timedelta(1)),
    ("every second, since 1970, Berlin", "* * * * * 0-59", "Europe/Berlin", EPOCH),
    ("*/15 9-17 weekdays, since 1970", "*/15 9-17 * * MON-FRI", "UTC", EPOCH),
)


def measure(expr: str, tz: str, anchor: datetime, coalesce: bool, repeat: int) -> dict[str, object]:
    """Plan one case ``repeat`` times; return the median CPU time and the plan's figures."""
    policy = CatchUpPolicy(coalesce=coalesce)
    samples = []
    plan = None
    for _ in range(repeat):
        trigger = CronTrigger(expr, tz)  # fresh: nothing cached between runs
        began = time.process_time()
        plan = plan_catch_up(trigger, anchor, NOW, policy)
        samples.append(time.process_time() - began)
    assert plan is not None
    return {
        "cpu_ms": round(statistics.median(samples) * 1e3, 3),
        "cpu_ms_max": round(max(samples) * 1e3, 3),
        "fires": len(plan.fires),
        "misfires": plan.misfires,
        "exact": getattr(plan, "exact", True),
        "refused": plan.refused,
    }


class _LongestStep(trio.abc.Instrument):
    def __init__(self) -> None:
        self.began: float | None = None
        self.longest = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.began = time.thread_time()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.began is not None:
            self.longest = max(self.longest, time.thread_time() - self.began)


def measure_drain(count: int) -> list[dict[str, object]]:
    """Two drain passes over ``count`` files whose target is down; their cost and longest step."""
    from actors.cron import TriggerFile
    from actors.cron._triggerdrain import DeliveryLedger, drain
    from actors.cron._triggerfiles import encode_trigger

    async def down(trigger: object) -> None:
        raise ConnectionError("target down")

    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = encode_trigger(TriggerFile(target="inbox", prompt="p", job_id="job", fired_at=NOW))
        for n in range(count):
            (folder / f"20260601T120000.000000Z-{n:06d}-job.json").write_bytes(data)

        async def passes() -> None:
            ledger = DeliveryLedger()
            for name in ("first pass (reads every file)", "second pass (all backing off)"):
                meter = _LongestStep()
                trio.lowlevel.add_instrument(meter)
                await trio.lowlevel.checkpoint()  # the drain starts a step of its own
                wall, cpu = time.perf_counter(), time.process_time()
                await drain(folder, down, ledger=ledger)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                trio.lowlevel.remove_instrument(meter)
                results.append(
                    {
                        "case": f"drain {count} files, {name}",
                        "wall_s": round(wall, 3),
                        "cpu_s": round(cpu, 3),
                        "longest_step_ms": round(meter.longest * 1e3, 2),
                    }
                )

        logging.getLogger("actors.cron").setLevel(logging.ERROR)  # one warning per failure
        trio.run(passes)
    return results


def main() -> None:
    """Run every case and print one line (or one JSON line) each."""
    parser = argparse.ArgumentParser(prog="python -m bench._catchup", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median)")
    parser.add_argument(
        "--no-coalesce", action="store_true", help="the PostgreSQL service's policy"
    )
    parser.add_argument("--json", action="store_true", help="one JSON line per case")
    parser.add_argument("--skip-slow", action="store_true", help="skip the since-1970 cases")
    parser.add_argument("--drain", type=int, metavar="N", help="measure a backlog of N files")
    args = parser.parse_args()
    if args.drain:
        for result in measure_drain(args.drain):
            print(json.dumps(result) if args.json else result, flush=True)
        return
    for name, expr, tz, anchor in CASES:
        if args.skip_slow and anchor == EPOCH:
            continue
        result = measure(expr, tz, anchor, not args.no_coalesce, args.repeat)
        if args.json:
            print(json.dumps({"case": name, "expr": expr, "tz": tz, **result}), flush=True)
        else:
            bound = "" if result["exact"] else ">"
            print(
                f"{name:36} {result['cpu_ms']:10.3f} ms  (max {result['cpu_ms_max']:.3f})  "
                f"fires={result['fires']} misfires{bound}={result['misfires']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
