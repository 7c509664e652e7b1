"""The metrics example: a pool entry whose workers record metrics; the reporter and the CLI."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import actors
import helpers
import registry

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "metrics"


def values(node: actors.Node) -> dict[tuple[str, tuple[str, ...]], float]:
    found = {}
    for metric in actors.metrics(node).snapshot():
        for series in metric.series:
            found[metric.name, series.labels] = series.count or series.value
    return found


class TestVirtualTime:
    async def test_two_seconds_of_jobs(self, caplog: pytest.LogCaptureFixture) -> None:
        """20 jobs sent: finished + in flight = sent, jobs 7 and 17 failed, one observation
        per finished job; the reporter logged twice, then a final line."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            await registry.boot_app(node, APP)
            await trio.sleep(2.05)
            pool = actors.pool("app:workers", node)
            assert pool.routing == "smallest_mailbox" and None not in pool.workers()
            got = values(node)
            ok = got["jobs_total", ("ok",)]
            failed = got["jobs_total", ("failed",)]
            assert failed == 2
            assert ok + failed + got["jobs_in_flight", ()] == 20
            assert got["job_seconds", ()] == ok + failed
            assert ok >= 17
        lines = [r.getMessage() for r in caplog.records if r.name == "app.metrics"]
        reports = [line for line in lines if line.startswith("METRICS")]
        assert len(reports) == 3 and reports[-1].startswith("METRICS final")
        assert re.search(r"jobs_total_failed=1\b", reports[0])
        assert "Load stopped       sent=20" in lines


@pytest.mark.slow
class TestCommandLine:
    def test_run_read_with_actors_metrics_and_ctrl_c(self) -> None:
        """While it runs, `actors metrics --app` prints its metrics; Ctrl+C exits 0."""
        printed: list[str] = []

        def ask(seen: list[str]) -> bool:
            if not any(line.startswith("INFO  METRICS") for line in seen):
                return False
            command = [sys.executable, "-m", "registry._cli", "metrics", "--app", str(APP)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
            printed.extend(done.stdout.splitlines())
            return True

        code, out = helpers.run_app_until(APP, ask)
        assert code == 0, out
        assert "Traceback" not in "\n".join(out)
        assert "# TYPE jobs_total counter" in printed
        assert any(line.startswith('jobs_total{result="ok"} ') for line in printed)
        assert any(line.startswith('job_seconds_bucket{le="+Inf"} ') for line in printed)
        assert re.fullmatch(r"INFO  App stopped\s+clean=true", out[-1])
