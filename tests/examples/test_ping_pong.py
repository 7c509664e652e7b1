"""The ping_pong example: a pinger finds the ponger by name and they exchange messages."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import trio

import actors
import helpers
import registry

APP = Path(__file__).resolve().parents[2] / "examples" / "ping_pong"


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name in ("app.pinger", "app.ponger")]


def rounds(found: list[str], what: str) -> list[int]:
    return [int(m.group(1)) for x in found if (m := re.fullmatch(rf"{what}\s+round=(\d+)", x))]


async def test_rounds_every_second(caplog: pytest.LogCaptureFixture) -> None:
    """The pinger starts first, polls for the name, then one round per second; Cancel stops it."""
    caplog.set_level(logging.INFO)
    async with actors.open_node() as node:
        await registry.boot_app(node, APP)
        await trio.sleep(4.5)
        found = lines(caplog)
        assert rounds(found, "Pinger received pong") == [1, 2, 3, 4, 5]
        assert rounds(found, "Ponger received ping") == [1, 2, 3, 4, 5]
        ponger = node.lookup("ponger")
        assert node.lookup("app:ponger") == ponger  # the service's name and its own
        assert f"Pinger found ponger ponger={ponger}" in found
    assert lines(caplog)[-2:] == ["Ponger stopping", "Pinger stopping    rounds=5"]


async def test_pinger_finds_a_restarted_ponger(caplog: pytest.LogCaptureFixture) -> None:
    """Kill the ponger: its service restarts it (1 s), it registers again, the rounds go on."""
    caplog.set_level(logging.INFO)
    async with actors.open_node() as node:
        await registry.boot_app(node, APP)
        await trio.sleep(2.5)
        first = node.lookup("ponger")
        assert first is not None
        node.terminate(first)
        await trio.sleep(6.0)
        second = node.lookup("ponger")
        assert second is not None and second != first
        found = lines(caplog)
        assert [x for x in found if x.startswith("Pinger found ponger")] == [
            f"Pinger found ponger ponger={first}",
            f"Pinger found ponger ponger={second}",
        ]
        received = rounds(found, "Pinger received pong")
        assert received == list(range(1, len(received) + 1)) and len(received) >= 6
        assert any(x.startswith(("Ponger gone", "No pong")) for x in found)


@pytest.mark.slow
def test_run_and_ctrl_c() -> None:
    """``actors run examples/ping_pong`` until the first pong, then SIGINT: both stop, exit 0."""
    code, out = helpers.run_app_until(
        APP, lambda found: any("Pinger received pong round=1" in x for x in found)
    )
    assert code == 0, out
    assert "Traceback" not in "\n".join(out)
    assert any(
        re.fullmatch(r"INFO  Ponger ready\s+pid=\{app:processes\|0x0000\d\}", x) for x in out
    )
    assert any(x.startswith("INFO  Pinger stopping") for x in out)
    assert "INFO  Ponger stopping" in out
    assert re.fullmatch(r"INFO  App stopped\s+clean=true", out[-1])
