"""PNG of the scale curve: tick rate vs ideal, CPU per tick, and idle memory per actor, vs N.

matplotlib is a benchmark extra; without it the plot is skipped with a note.  Sizes where a
system stopped are marked with an ``x`` on the axis and labelled with the stop reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench._report import Record, systems_in

PANELS = (
    ("ticking", "rate_ratio", "tick rate / ideal", False),
    ("ticking", "cpu_per_tick_us", "CPU per tick [us]", True),
    ("idle_memory", "rss_per_actor_bytes", "idle RSS per actor [bytes]", True),
)


def series(
    records: Sequence[Record], system: str, workload: str, metric: str
) -> tuple[list[int], list[float], list[tuple[int, str]]]:
    """(sizes, values, stops) of one system's curve; stops are (n, short reason)."""
    points: dict[int, float] = {}
    stops: dict[int, str] = {}
    for r in records:
        if r["system"] != system or r["workload"] != workload:
            continue
        if r["metric"] == metric and isinstance(r["value"], int | float):
            points[r["n"]] = float(r["value"])
        elif r["metric"] == "status" and str(r["value"]).startswith("stopped"):
            parts = str(r["value"]).split(":")
            stops[r["n"]] = parts[1].strip() if len(parts) > 2 else "stopped"
    xs = sorted(points)
    return xs, [points[x] for x in xs], sorted(stops.items())


def plot(records: Sequence[Record], path: Path, title: str = "") -> str:
    """Write the PNG; return a one-line note saying where (or why not)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install -e '.[bench]')"
    systems = systems_in(records)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(16, 5))
    drew = False
    for ax, (workload, metric, label, logy) in zip(axes, PANELS, strict=True):
        for system in systems:
            xs, ys, stops = series(records, system, workload, metric)
            if not xs and not stops:
                continue
            (line,) = ax.plot(xs, ys, marker="o", label=system)
            drew = drew or bool(xs)
            for n, why in stops:
                ax.plot(
                    [n], [ys[-1] if ys else 1.0], marker="x", markersize=12, color=line.get_color()
                )
                ax.annotate(f"{system}: {why}", (n, ys[-1] if ys else 1.0), fontsize=7,
                            xytext=(4, 4), textcoords="offset points")  # fmt: skip
        if metric == "rate_ratio":
            ax.axhline(0.95, color="grey", linestyle="--", linewidth=0.8)
            ax.set_ylim(0.0, max(1.1, ax.get_ylim()[1]))
        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("N actors")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if not drew:
        plt.close(fig)
        return "plot skipped: no ticking or idle-memory points in this run"
    fig.suptitle(title or "actors benchmark: scale curve")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot written to {path}"
