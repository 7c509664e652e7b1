"""The cross-node bench runs (a tiny size, two real processes) and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_tiny_run_reports_every_figure_and_its_ratios() -> None:
    argv = [sys.executable, "-m", "bench._dist", "--rounds", "60", "--messages", "50"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert (line["workload"], line["transport"], line["rounds"]) == ("dist", "unix", 60)
    metrics = line["metrics"]
    assert set(metrics) == {
        "raw_pingpong_us",
        "floor_pingpong_us",
        "cross_vs_raw",
        "cross_vs_floor",
        "cross_pingpong_us",
        "cross_pingpong_us_min",
        "cross_pingpong_us_max",
        "cross_pingpong_cpu_us",
        "cross_call_us",
        "local_pingpong_us",
        "cross_fanin_msgs_per_s",
        "cross_fanin_msgs_per_s_min",
        "cross_fanin_msgs_per_s_max",
        "cross_fanin_cpu_us",
    }
    assert all(value > 0 for value in metrics.values())
    cross = metrics["cross_pingpong_us"]
    assert metrics["cross_vs_raw"] == pytest.approx(cross / metrics["raw_pingpong_us"])
    assert metrics["cross_vs_floor"] == pytest.approx(cross / metrics["floor_pingpong_us"])
    assert metrics["cross_pingpong_us_min"] <= cross <= metrics["cross_pingpong_us_max"]
    fanin = metrics["cross_fanin_msgs_per_s"]
    assert metrics["cross_fanin_msgs_per_s_min"] <= fanin <= metrics["cross_fanin_msgs_per_s_max"]
