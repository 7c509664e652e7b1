"""The event_bus example: glob subscriptions, FIFO per publisher, a slow subscriber drops."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import trio

import actors
import helpers
import registry

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "event_bus"


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.bus"]


def stopped(found: list[str]) -> dict[str, tuple[int, int]]:
    result = {}
    for line in found:
        if m := re.search(r"Subscriber stopped\s+name=(\w+) handled=(\d+) dropped=(\d+)", line):
            result[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return result


class TestVirtualTime:
    async def test_four_seconds_of_events(self, caplog: pytest.LogCaptureFixture) -> None:
        """20 events in 4.1 s: audit sees all in order, welcome the 5 creations, the slow
        mailer a few (the rest dropped by its mailbox of 3) and the publisher never waits."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            await registry.boot_app(node, APP)
            await trio.sleep(4.1)
            stats = actors.bus(node).statistics()
            assert (stats.published, stats.subscriptions, stats.dropped) == (20, 3, 0)
        found = lines(caplog)
        published = [line for line in found if line.startswith("PUBLISH")]
        assert len(published) == 20
        audit = [line.split("path=")[1] for line in found if line.startswith("EVENT audit")]
        assert audit == [line.split("path=")[1].split()[0] for line in published]
        counts = stopped(found)
        assert counts["audit"] == (20, 0)
        assert counts["welcome"] == (5, 0)
        handled, dropped = counts["slow_mailer"]
        assert handled + dropped + 3 >= 20 >= handled + dropped  # at most 3 left queued
        assert 4 <= handled <= 6 and dropped >= 10
        assert re.search(r"Publisher stopped\s+published=20", "\n".join(found))


@pytest.mark.slow
class TestCommandLine:
    def test_run_and_ctrl_c(self) -> None:
        """`actors run examples/event_bus` runs until SIGINT and exits 0."""
        code, out = helpers.run_app_until(
            APP, lambda seen: sum("EVENT welcome" in line for line in seen) >= 1
        )
        assert code == 0, out
        assert "Traceback" not in "\n".join(out)
        assert set(stopped(out)) == {"audit", "welcome", "slow_mailer"}
        assert re.fullmatch(r"INFO  App stopped\s+clean=true", out[-1])
