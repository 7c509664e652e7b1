"""The mass-spawn app: in-process on virtual time (exact counts) and as `actors run` + SIGINT."""

from __future__ import annotations

import logging
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

import actors
import helpers
from registry import boot_app

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "mass_spawn"


def _fields(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", line))


def _load_app_module() -> Any:
    sys.path.insert(0, str(APP / "src"))
    try:
        import mass_spawn  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return mass_spawn


class TestVirtualTime:
    async def test_exact_tick_counts_and_shutdown_totals(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """100 workers ticking every second give 100 ticks a second, and the totals agree."""
        env = {"NUM_WORKERS": "100", "TICK_MIN": "1s", "TICK_MAX": "1s", "STATS_INTERVAL": "2s"}
        with caplog.at_level(logging.INFO, logger="app.mass_spawn"):
            async with actors.open_node() as node:
                await boot_app(node, APP, environ=env)
                await trio.sleep(10.5)
        lines = [r.getMessage() for r in caplog.records if r.name == "app.mass_spawn"]
        stats = [_fields(x) for x in lines if x.startswith("stats ")]
        # Stats at t=2k s count ticks t=1..2k-1: the tick due at the same instant as the stats
        # line reaches the spawner just after it.
        assert [s["total_ticks"] for s in stats[:5]] == ["100", "300", "500", "700", "900"]
        # The first interval is short of ticks: each worker's first tick is one period in.
        assert all(s["tick_rate"] == "100" and s["expected_rate"] == "100" for s in stats[1:])
        assert any(x.startswith("all workers running") and "count=100" in x for x in lines)
        (final,) = [_fields(x) for x in lines if x.startswith("shutting down")]
        assert final["workers_spawned"] == final["still_alive"] == final["stopped"] == "100"
        assert final["total_ticks"] == "1000"
        assert final["failed"] == "0"

    async def test_spawner_restart_leaves_one_set_of_workers(self) -> None:
        """A crashed spawner takes its linked workers down; the restart spawns one new set."""
        env = {"NUM_WORKERS": "20", "TICK_MIN": "1s", "TICK_MAX": "2s", "STATS_INTERVAL": "2s"}
        async with actors.open_node() as node:
            await boot_app(node, APP, environ=env)
            await trio.sleep(3)
            spawner = node.processes(host="app:processes")[0]
            node.terminate(spawner)
            await trio.sleep(5)  # backoff 1 s, then a new spawner and 20 new workers
            pids = node.processes(host="app:processes")
            assert spawner not in pids
            assert len(pids) == 21

    async def test_stats_lines_say_how_late_and_how_big(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Every stats line carries the lateness, RSS and CPU figures; on time, none is late."""
        env = {"NUM_WORKERS": "50", "TICK_MIN": "1s", "TICK_MAX": "1s", "STATS_INTERVAL": "2s"}
        with caplog.at_level(logging.INFO, logger="app.mass_spawn"):
            async with actors.open_node() as node:
                await boot_app(node, APP, environ=env)
                await trio.sleep(30.5)
        lines = [r.getMessage() for r in caplog.records if r.name == "app.mass_spawn"]
        stats = [_fields(x) for x in lines if x.startswith("stats ")]
        assert len(stats) == 15
        for s in stats:
            assert s["late_p99_ms"] == s["late_max_ms"] == "0"
            assert int(s["rss_mb"]) > 0 and int(s["cpu_pct"]) >= 0
        assert not any("cannot keep up" in x for x in lines)

    async def test_falling_behind_is_stated_plainly(self, caplog: pytest.LogCaptureFixture) -> None:
        """Past the settle time, a low rate or ticks later than an interval log a warning."""
        module = _load_app_module()
        with caplog.at_level(logging.INFO, logger="app.mass_spawn"):
            st = module._Stats(100, 1.0, 1.0, 2.0)
            st.alive = 100
            st.line()  # not settled yet: no warning however low the rate
            st.settled_at = trio.current_time()
            await trio.sleep(2)
            now = trio.current_time()
            st.ticks([now - 5.0] * 50, now)  # a quarter of the rate, 5 s late
            st.line()
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        fields = _fields(warnings[0])
        assert warnings[0].startswith("cannot keep up")
        assert fields["tick_rate"] == "25" and fields["expected_rate"] == "100"
        assert fields["share"] == "0.25" and fields["late_p99_ms"] == "5000"

    def test_expected_rate_formula(self) -> None:
        """The expected rate is N * ln(max/min) / (max - min), about 0.717 N for 0.5-3 s."""
        expected_rate = _load_app_module().expected_rate
        assert math.isclose(expected_rate(10000, 0.5, 3.0), 10000 * math.log(6) / 2.5)
        assert expected_rate(10, 2.0, 2.0) == 5


@pytest.mark.slow
class TestCommandLine:
    def test_run_and_ctrl_c(self) -> None:
        """`actors run examples/mass_spawn` logs stats, and Ctrl+C stops it with agreeing totals."""
        code, lines = helpers.run_app_until(
            APP,
            lambda lines: sum(" stats " in line for line in lines) >= 6,
            env={"NUM_WORKERS": "2000", "STATS_INTERVAL": "1s"},
        )
        assert code == 0, "\n".join(lines)
        text = "\n".join(lines)
        assert "mass spawn starting num_workers=2000 tick_min=500ms tick_max=3s" in text
        assert re.search(r"all workers spawned +count=2000 elapsed_s=\d", text)
        assert re.search(r"all workers running +count=2000", text)
        stats = [_fields(x) for x in lines if " stats " in x]
        assert len(stats) >= 6, text
        assert all(s["alive"] == "2000" and s["expected_rate"] == "1433" for s in stats)
        # Once every worker has ticked (periods are at most 3 s), the mean rate over three
        # one-second windows is within 10% of the expected rate.
        mean = sum(int(s["new_ticks"]) for s in stats[3:6]) / 3
        assert abs(mean - 1433) < 143, stats
        (final,) = [_fields(x) for x in lines if "shutting down " in x and "workers_spawned" in x]
        assert final["workers_spawned"] == final["still_alive"] == final["stopped"] == "2000"
        assert int(final["total_ticks"]) >= int(stats[-1]["total_ticks"])
