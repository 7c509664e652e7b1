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
from actors.cluster import MemoryNetwork, open_node_group
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

    async def test_a_node_group_shares_the_workers_and_merges_stats(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Two nodes split NUM_WORKERS, count their own ticks, and the first merges the lines."""
        env = {
            "NUM_WORKERS": "101",
            "TICK_MIN": "1s",
            "TICK_MAX": "1s",
            "STATS_INTERVAL": "2s",
            "ACTORS_NODES": "a,b",
        }
        network = MemoryNetwork()
        with caplog.at_level(logging.INFO, logger="app.mass_spawn"):
            async with (
                actors.open_node(name="a") as a,
                open_node_group(a, network.transport("a")),
                actors.open_node(name="b") as b,
                open_node_group(b, network.transport("b")) as gb,
            ):
                await boot_app(a, APP, environ=env)
                await boot_app(b, APP, environ=env)
                await trio.sleep(1.0)  # the nodes met and exchanged their names and groups
                joined = gb.statistics().frames_sent
                await trio.sleep(9.5)
                # Every tick stays on its own node: no tick frame crossed the group.
                sent = gb.statistics().frames_sent - joined
                assert sent == 5  # b's stats lines at 2, 4, 6, 8, 10 s
                assert len(a.processes(host="app:processes")) == 1 + 51
                assert len(b.processes(host="app:processes")) == 1 + 50
        lines = [r.getMessage() for r in caplog.records if r.name == "app.mass_spawn"]
        by_node = {
            node: [_fields(x) for x in lines if x.startswith("stats ") and f"node={node} " in x]
            for node in "ab"
        }
        assert [s["alive"] for s in by_node["a"]] == ["51"] * 5
        assert [s["alive"] for s in by_node["b"]] == ["50"] * 5
        assert by_node["a"][-1]["tick_rate"] == "51" and by_node["b"][-1]["tick_rate"] == "50"
        merged = [_fields(x) for x in lines if x.startswith("cluster stats")]
        assert len(merged) == 5  # only the first node logs it
        # b's line of an interval reaches a just after a's own tick: a merges b's previous one.
        assert merged[0]["nodes"] == "1/2"
        last = merged[-1]
        assert last["nodes"] == "2/2" and last["alive"] == "101"
        assert last["tick_rate"] == last["expected_rate"] == "101"
        assert last["share"] == "1.000"
        assert int(last["total_ticks"]) == int(by_node["a"][-1]["total_ticks"]) + int(
            by_node["b"][-2]["total_ticks"]
        )

    async def test_the_merge_follows_membership(self, caplog: pytest.LogCaptureFixture) -> None:
        """No ACTORS_NODES: the first live member merges; when it is lost, the next one does."""
        env = {"NUM_WORKERS": "10", "TICK_MIN": "1s", "TICK_MAX": "1s", "STATS_INTERVAL": "2s"}
        network = MemoryNetwork()
        with caplog.at_level(logging.INFO, logger="app.mass_spawn"):
            async with (
                actors.open_node(name="a") as a,
                open_node_group(a, network.transport("a")),
                actors.open_node(name="b") as b,
                open_node_group(b, network.transport("b")),
                actors.open_node(name="c") as c,
                open_node_group(c, network.transport("c")),
            ):
                for node in (a, b, c):
                    await boot_app(node, APP, environ=env)
                await trio.sleep(6.5)
                network.cut("a", "test cut")  # a now sees itself alone; b and c see b first
                await trio.sleep(6)
        lines = [r.getMessage() for r in caplog.records if r.name == "app.mass_spawn"]
        merged = [_fields(x) for x in lines if x.startswith("cluster stats")]
        of_three = [m for m in merged if m["nodes"].endswith("/3")]  # a merges a, b, c
        of_two = [m for m in merged if m["nodes"].endswith("/2")]  # then b merges b, c
        assert of_three[-1]["nodes"] == "3/3" and of_three[-1]["alive"] == "30"
        assert of_two[-1]["nodes"] == "2/2" and of_two[-1]["alive"] == "20"
        assert merged.index(of_three[-1]) < merged.index(of_two[0])

    def test_group_share(self) -> None:
        """Workers are split as evenly as possible; a node outside the list runs them all."""
        share = _load_app_module().group_share
        assert share(10, "w1,w2,w3", "w1") == (4, ["w1", "w2", "w3"])
        assert share(10, "w1, w2,w3", "w3") == (3, ["w1", "w2", "w3"])
        assert share(10, "", "w1") == (10, [])
        assert share(10, "w1,w2", "x") == (10, [])
        assert share(10, "w1,w2", None) == (10, [])

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

    def test_two_worker_nodes_share_the_workers(self) -> None:
        """`--workers 2`: each node runs half, w1 logs merged lines, Ctrl+C stops both cleanly."""

        def merged_twice(lines: list[str]) -> bool:
            return sum("cluster stats" in x and "nodes=2/2" in x for x in lines) >= 2

        code, lines = helpers.run_app_until(
            APP,
            merged_twice,
            args=["--workers", "2", "--grace", "3"],
            env={"NUM_WORKERS": "1001", "STATS_INTERVAL": "1s"},
            timeout=60,
        )
        text = "\n".join(lines)
        assert code == 0, text
        assert re.search(r"mass spawn starting +num_workers=501 .*node=w1 group=w1,w2", text)
        assert re.search(r"mass spawn starting +num_workers=500 .*node=w2 group=w1,w2", text)
        merged = [_fields(x) for x in lines if "cluster stats" in x and "nodes=2/2" in x]
        assert all(m["alive"] == "1001" and m["expected_rate"] == "717" for m in merged), text
        finals = [_fields(x) for x in lines if "shutting down " in x and "workers_spawned" in x]
        assert sorted(f["stopped"] for f in finals) == ["500", "501"], text
        assert re.search(r"Workers stopped +clean=true", text), text
