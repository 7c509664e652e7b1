"""``python -m bench [--quick] [--json PATH] [--only WORKLOAD]... [--systems S ...]``.

Runs the plan (each measurement in a fresh subprocess), prints the side-by-side table and the
bars, writes the JSON records (default ``bench/results/<timestamp>.json``) and a PNG of the scale
curve next to it.  ``--report PATH`` re-renders a saved JSON file without running anything.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import _erlang, _plan, _plot, _report, _runner
from bench.systems import ALL_SYSTEMS

RESULTS = Path(__file__).parent / "results"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _meminfo_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def machine_facts(
    plan: _plan.Plan, started: str, wall_s: float, load_start: float
) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "started": started,
        "wall_s": round(wall_s, 1),
        "loadavg_1min_start": round(load_start, 2),
        "loadavg_1min_end": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "mem_total_bytes": _meminfo_total(),
        "erlang_otp": _erlang.otp_release(),
    }
    for dist in ("trio", "pykka", "thespian", "actors", "matplotlib", "psutil"):
        facts[dist] = _version(dist)
    with contextlib.suppress(OSError, ValueError):
        facts["pid_max"] = int(Path("/proc/sys/kernel/pid_max").read_text())
    facts.update(plan.settings)
    return facts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    p.add_argument("--quick", action="store_true", help="small sizes, short windows (< 1 min)")
    p.add_argument("--json", type=Path, help="where to write the records (default: bench/results/)")
    p.add_argument(
        "--only",
        action="append",
        metavar="WORKLOAD",
        help=f"repeatable; one of {', '.join((*_plan.WORKLOADS, *_plan.ALIASES))}",
    )
    p.add_argument(
        "--systems",
        nargs="+",
        metavar="SYSTEM",
        help=f"subset of {', '.join(ALL_SYSTEMS)} (commas also accepted)",
    )
    p.add_argument("--bars-for", default="actors", metavar="SYSTEM", help="default: actors")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--report", type=Path, metavar="JSON", help="re-render a saved run and exit")
    return p.parse_args(argv)


def render(records: list[_report.Record], bars_for: str) -> str:
    facts: dict[str, Any] = next((r["value"] for r in records if r["system"] == "machine"), {})
    head = ", ".join(
        f"{k} {facts.get(k)}"
        for k in ("mode", "python", "trio", "cpu_count", "loadavg_1min_start", "loadavg_1min_end")
        if k in facts
    )
    measured = [r for r in records if r["system"] != "machine"]
    parts = [f"actors benchmark ({head})" if head else "actors benchmark", ""]
    parts += [_report.render_table(measured), ""]
    parts.append(_report.render_bars(_report.evaluate_bars(measured, bars_for)))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(render(_report.read_json(args.report), args.bars_for))
        return 0
    systems = [s for item in args.systems or () for s in item.split(",") if s] or None
    try:
        plan = _plan.build_plan(args.quick, args.only, systems)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "erlang" in (systems or ALL_SYSTEMS) and _erlang.available() is None:
        print("note: erl not found, Erlang rows are skipped (apt-get install erlang-base)",
              file=sys.stderr)  # fmt: skip
    started = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    load_start = os.getloadavg()[0]
    if load_start > 0.7:
        warning = f"warning: load average {load_start:.2f} before the run: other processes "
        warning += "are using the CPU, figures will be noisy (loadavg is in the machine facts)"
        print(warning, file=sys.stderr)
    print(f"running {len(plan.jobs)} measurements ({plan.settings['mode']} mode, "
          f"budget {plan.budget_s:.0f}s), one fresh process each", file=sys.stderr)  # fmt: skip
    t0 = time.perf_counter()
    outcomes = _runner.merge_repeats(_runner.execute(plan))
    wall = time.perf_counter() - t0
    records = [
        rec
        for o in outcomes
        for rec in _report.records_for(
            o.job.system, o.job.workload, o.job.n, o.status, o.metrics, o.reason
        )
    ]
    facts = machine_facts(plan, started, wall, load_start)
    records.append(
        {"system": "machine", "workload": "facts", "n": 0, "metric": "facts", "value": facts,
         "unit": ""}
    )  # fmt: skip
    path = _report.write_json(records, args.json or RESULTS / f"{started}.json")
    print(render(records, args.bars_for))
    print()
    print(f"records written to {path}")
    if not args.no_plot:
        print(_plot.plot(records, path.with_suffix(".png"), f"actors benchmark {started}"))
    print(f"wall time {wall:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
