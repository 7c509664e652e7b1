"""Records, the side-by-side table with ratios against raw trio, the bars, and the JSON file.

Everything here is a pure function of a list of records, so a saved JSON file can be re-rendered
(``python -m bench --report PATH``) and the logic is unit-tested without running anything.

A record is ``{"system", "workload", "n", "metric", "value", "unit"}``.  A measurement that did
not produce numbers is one record with ``metric == "status"`` and a value starting with
``stopped:``, ``skipped:`` or ``not available:``.  One extra record holds the machine facts:
``{"system": "machine", "workload": "facts", "n": 0, "metric": "facts", "value": {...}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import UNITS
from bench.systems import ALL_SYSTEMS, BASELINE

Record = dict[str, Any]

#: Metrics shown in the table, per workload, in order.
DISPLAY: dict[str, tuple[str, ...]] = {
    "spawn": ("us_per_spawn", "time_to_pids_s", "time_to_parked_s"),
    "pingpong": ("us_per_round_trip", "round_trips_per_s"),
    "fanin": ("messages_per_s",),
    "call_reply": ("us_per_call_p50", "us_per_call_p99"),
    "ticker_accuracy": ("tick_error_ms",),
    "idle_memory": (
        "rss_per_actor_bytes",
        "tracemalloc_per_actor_bytes",
        "vm_process_bytes_per_actor",
    ),
    "ticking": (
        "rate_ratio",
        "cpu_per_tick_us",
        "cpu_percent",
        "lateness_p50_ms",
        "lateness_p99_ms",
        "max_gc_pause_ms",
        "spawn_s",
    ),
    "ticking_warm": ("cpu_per_tick_us", "cpu_percent", "lateness_p99_ms"),
}
STATUS_WORDS = {"stopped": "STOP", "skipped": "skip", "not available": "n/a"}


def records_for(
    system: str, workload: str, n: int, status: str, metrics: dict[str, float | None], reason: str
) -> list[Record]:
    """The records of one measurement outcome."""
    base = {"system": system, "workload": workload, "n": n}
    if status == "ok":
        return [
            {**base, "metric": m, "value": v, "unit": UNITS.get(m, "")} for m, v in metrics.items()
        ]
    word = "not available" if status == "unavailable" else status
    return [{**base, "metric": "status", "value": f"{word}: {reason}", "unit": ""}]


def _index(records: Iterable[Record]) -> dict[tuple[str, str, int, str], Any]:
    return {(r["system"], r["workload"], r["n"], r["metric"]): r["value"] for r in records}


def _groups(records: Sequence[Record]) -> list[tuple[str, int]]:
    seen: dict[tuple[str, int], None] = {}
    for r in records:
        if r["workload"] in DISPLAY:
            seen.setdefault((r["workload"], r["n"]), None)
    order = list(DISPLAY)
    return sorted(seen, key=lambda g: (order.index(g[0]), g[1]))


def systems_in(records: Sequence[Record]) -> list[str]:
    present = {r["system"] for r in records}
    return [s for s in ALL_SYSTEMS if s in present]


def ratio(
    records: Sequence[Record], system: str, workload: str, n: int, metric: str
) -> float | None:
    """value(system) / value(trio) for the same workload, size and metric; None if unknown."""
    idx = _index(records)
    mine, base = idx.get((system, workload, n, metric)), idx.get((BASELINE, workload, n, metric))
    if not isinstance(mine, int | float) or not isinstance(base, int | float) or base == 0:
        return None
    return float(mine) / float(base)


def fmt_value(value: Any) -> str:
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        return "-"
    v = float(value)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def fmt_ratio(r: float) -> str:
    """A ratio for the table; beyond 1000x either way the baseline or the peer has collapsed."""
    if r > 999:
        return ">999x"
    if 0 < r < 0.001:
        return "<0.001x"
    return f"{r:.2f}x"


def status_cell(value: str) -> str:
    for word, short in STATUS_WORDS.items():
        if value.startswith(word):
            if word == "stopped":
                kind = value.split(":", 2)[1].strip() if value.count(":") >= 2 else "error"
                return f"{short} {kind}"
            return short
    return value[:12]


def render_table(records: Sequence[Record]) -> str:
    """The side-by-side table: one row per (workload, n, metric), one column per system."""
    systems = systems_in(records)
    idx = _index(records)
    header = ["workload", "n", "metric", *systems]
    rows: list[list[str]] = []
    notes: list[str] = []
    for workload, n in _groups(records):
        for metric in DISPLAY[workload]:
            if not any((s, workload, n, metric) in idx for s in systems):
                continue
            row = [workload, f"{n:,}", f"{metric} [{UNITS.get(metric, '')}]"]
            for s in systems:
                value = idx.get((s, workload, n, metric))
                status = idx.get((s, workload, n, "status"))
                if value is not None:
                    cell = fmt_value(value)
                    r = ratio(records, s, workload, n, metric) if s != BASELINE else None
                    row.append(f"{cell} ({fmt_ratio(r)})" if r is not None else cell)
                elif isinstance(status, str):
                    row.append(status_cell(status))
                else:
                    row.append("-")
            rows.append(row)
        for s in systems:
            status = idx.get((s, workload, n, "status"))
            note = f"{s} {workload} n={n:,}: {status}"
            if isinstance(status, str) and note not in notes:
                notes.append(note)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append(f"(x) = ratio to {BASELINE} in the same run; STOP/skip/n/a: see notes")
    if notes:
        lines += ["", "Notes:", *(f"  {note}" for note in notes)]
    return "\n".join(lines)


@dataclass(frozen=True)
class Bar:
    name: str
    workload: str
    n: int | None  # None: whichever size was measured
    metric: str
    kind: str  # "ratio_max" | "ratio_min" | "abs_max" | "abs_min"
    threshold: float
    exact: bool = False  # True: only a measurement at exactly ``n`` counts (no nearest size)


BARS: tuple[Bar, ...] = (
    Bar("ticking 10k: CPU per tick <= 0.5x naive trio", "ticking", 10_000, "cpu_per_tick_us",
        "ratio_max", 0.5),
    Bar("ticking 10k, CPU kept busy: CPU per tick <= 0.5x trio", "ticking_warm", 10_000,
        "cpu_per_tick_us", "ratio_max", 0.5),
    Bar("ticking 10k: tick rate >= 95% of ideal", "ticking", 10_000, "rate_ratio", "abs_min", 0.95),
    Bar("spawn 10k: time to parked <= 1.5x trio start_soon", "spawn", 10_000, "time_to_parked_s",
        "ratio_max", 1.5),
    Bar("idle memory 100k: <= 2.5 KB per actor (RSS)", "idle_memory", 100_000,
        "rss_per_actor_bytes", "abs_max", 2500.0),
    Bar("ping-pong: >= 1.3x trio round trips/s", "pingpong", None, "round_trips_per_s",
        "ratio_min", 1.3),
    Bar("ticking 50k: tick rate >= 95% of ideal", "ticking", 50_000, "rate_ratio", "abs_min",
        0.95, exact=True),
    Bar("ticking 10k: lateness p99 < 5 ms", "ticking", 10_000, "lateness_p99_ms", "abs_max", 5.0),
    Bar("ticking 100k: tick rate >= 97% of ideal (ticks scheduled in the window)", "ticking",
        100_000, "rate_ratio", "abs_min", 0.97, exact=True),
    Bar("ticking 100k: lateness p99 <= 50 ms", "ticking", 100_000, "lateness_p99_ms", "abs_max",
        50.0, exact=True),
    Bar("10 ms real-time ticker: error of tick 1000 < 20 ms", "ticker_accuracy", 1_000,
        "tick_error_ms", "abs_max", 20.0),
)  # fmt: skip


@dataclass(frozen=True)
class BarResult:
    bar: Bar
    system: str
    measured: float | None  # the ratio (ratio_*) or the value (abs_*)
    passed: bool | None  # None: could not be evaluated
    note: str


def evaluate_bar(records: Sequence[Record], bar: Bar, system: str) -> BarResult:
    idx = _index(records)
    sizes = sorted({r["n"] for r in records if r["workload"] == bar.workload})
    measured_sizes = [n for n in sizes if (system, bar.workload, n, bar.metric) in idx]
    if bar.n is not None and bar.n in measured_sizes:
        n = bar.n
    elif bar.exact:
        return BarResult(bar, system, None, None, f"not measured at n={bar.n:,} (full mode only)")
    elif measured_sizes:
        target = bar.n if bar.n is not None else max(measured_sizes)
        n = min(measured_sizes, key=lambda m: (abs(math.log(m / target)), -m))
    else:
        status = next((idx[k] for k in idx if k[:2] == (system, bar.workload) and k[3] == "status"),
                      "not measured")  # fmt: skip
        return BarResult(bar, system, None, None, f"{system}: {status}")
    note = f"at n={n:,}" + ("" if bar.n in (None, n) else f" (bar is at n={bar.n:,})")
    value = float(idx[(system, bar.workload, n, bar.metric)])
    if bar.kind.startswith("abs"):
        measured = value
    else:
        r = ratio(records, system, bar.workload, n, bar.metric)
        if r is None:
            return BarResult(bar, system, None, None, f"no {BASELINE} value {note}")
        measured = r
        base = idx[(BASELINE, bar.workload, n, bar.metric)]
        note += f": {fmt_value(value)} vs {BASELINE} {fmt_value(base)} {UNITS.get(bar.metric, '')}"
    passed = measured <= bar.threshold if bar.kind.endswith("max") else measured >= bar.threshold
    return BarResult(bar, system, measured, passed, note)


def evaluate_bars(records: Sequence[Record], system: str = "actors") -> list[BarResult]:
    return [evaluate_bar(records, bar, system) for bar in BARS]


def render_bars(results: Sequence[BarResult]) -> str:
    if not results:
        return ""
    lines = [f"Bars for {results[0].system} (ratios against {BASELINE} in the same run):"]
    for res in results:
        verdict = {True: "PASS", False: "FAIL", None: "N/A "}[res.passed]
        if res.measured is None:
            shown = "-"
        elif res.bar.kind.startswith("ratio"):
            shown = f"{res.measured:.2f}x"
        else:
            shown = fmt_value(res.measured)
        lines.append(f"  {verdict}  {res.bar.name:<52} {shown:>8}  {res.note}")
    return "\n".join(lines)


def write_json(records: Sequence[Record], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(records), indent=1) + "\n")
    return path


def read_json(path: Path) -> list[Record]:
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of records")
    return data
