"""The crontab example: four job services on one shared file, in process and end to end."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import pytest
import trio

import actors
import helpers
import registry

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "crontab"
INTERVALS = {"heartbeat": 1, "cleanup": 3, "report": 5, "backup": 7}


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.jobs"]


def ticks(lines: list[str]) -> Counter[str]:
    return Counter(m.group(1) for line in lines if (m := re.search(r"TICK (\w+)\s+run=", line)))


def stopped(lines: list[str]) -> dict[str, int]:
    found = (re.search(r"Job stopped\s+name=(\w+) runs=(\d+)", line) for line in lines)
    return {m.group(1): int(m.group(2)) for m in found if m}


class TestVirtualTime:
    """Booted in process on virtual time, the jobs tick at exact counts."""

    async def test_counts_after_21_seconds(self, caplog: pytest.LogCaptureFixture) -> None:
        """After 21 s: heartbeat 21, cleanup 7, report 4, backup 3; each stops with its count."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            await trio.sleep(21.5)
            assert ticks(messages(caplog)) == {
                "heartbeat": 21,
                "cleanup": 7,
                "report": 4,
                "backup": 3,
            }
            assert app.services is not None
            assert {s.state.value for s in await app.services.statuses()} == {"running"}
        lines = messages(caplog)
        assert stopped(lines) == {"heartbeat": 21, "cleanup": 7, "report": 4, "backup": 3}
        started = [line.split() for line in lines if line.startswith("Job started")]
        assert sorted(words[2] for words in started) == [
            f"name={name}" for name in sorted(INTERVALS)
        ]
        for words in started:
            name = words[2].removeprefix("name=")
            assert words[3] == f"interval={INTERVALS[name]}s"
            assert re.fullmatch(r"pid=\{app:processes\|0x0000\d\}", words[4])

    async def test_runs_are_numbered_in_order(self, caplog: pytest.LogCaptureFixture) -> None:
        """Each job's TICK lines count 1, 2, 3 ... with no gap."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            await registry.boot_app(node, APP)
            await trio.sleep(15.5)
        runs: dict[str, list[int]] = {}
        for line in messages(caplog):
            if m := re.search(r"TICK (\w+)\s+run=(\d+)", line):
                runs.setdefault(m.group(1), []).append(int(m.group(2)))
        for name, seen in runs.items():
            assert seen == list(range(1, 15 // INTERVALS[name] + 1))

    async def test_restarted_service_starts_counting_again(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Restarting one service stops that job (with its count) and starts a fresh one."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            await trio.sleep(3.5)
            assert app.services is not None
            await app.services.restart("app:heartbeat")
            await trio.sleep(2.5)
            lines = messages(caplog)
            assert stopped(lines) == {"heartbeat": 3}
            assert ticks(lines)["heartbeat"] == 5


@pytest.mark.slow
class TestCommandLine:
    """``actors run examples/crontab`` as a subprocess, stopped with SIGINT."""

    def test_run_and_ctrl_c(self) -> None:
        """It ticks until SIGINT, then every job logs its run count and the exit code is 0."""
        code, lines = helpers.run_app_until(
            APP,
            lambda lines: any("TICK backup" in line for line in lines),
            args=("--grace", "5"),
        )
        assert code == 0, lines
        assert "Traceback" not in "\n".join(lines)
        counted = ticks(lines)
        assert stopped(lines) == dict(counted)  # every tick seen, and nothing after the stop
        assert counted["backup"] >= 1
        assert counted["heartbeat"] >= 7
        assert counted["heartbeat"] >= 2 * counted["cleanup"]
        assert sum("Job started" in line for line in lines) == 4
        assert any(re.search(r"INFO  Shutting down\s+signal=SIGINT grace=5s", x) for x in lines)
        assert re.fullmatch(r"INFO  App stopped\s+clean=true", lines[-1])
