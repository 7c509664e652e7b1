"""The supervision example: a crashing worker service, restarted with backoff, gives up at 5."""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path

import pytest
import trio

import actors
import helpers
import registry

APP = Path(__file__).resolve().parents[2] / "examples" / "supervision"
ALWAYS = {"CRASH_CHANCE": "1"}  # crash on the first tick: the timeline is exact


def service_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "actors.service"]


async def test_backoff_doubles_and_gives_up_after_5(caplog: pytest.LogCaptureFixture) -> None:
    """Crash at 0.5 s each run; restarts after 1, 2, 4, 8 s; the 5th crash (17.5 s) is final."""
    caplog.set_level(logging.INFO)
    async with actors.open_node() as node:
        app = await registry.boot_app(node, APP, environ=ALWAYS)
        assert app.services is not None
        await trio.sleep(17.4)
        status = await app.services.status("app:worker")
        assert (status.state.value, status.failures) == ("running", 4)
        await trio.sleep(0.2)
        status = await app.services.status("app:worker")
        assert (status.state.value, status.failures, status.retry_at) == ("failed", 5, None)
        await trio.sleep(60)
        assert (await app.services.status("app:worker")).starts == 5  # nothing after giving up
    found = service_lines(caplog)
    retries = [re.search(r"retry_in=(\S+) attempt=(\d)", x) for x in found if "failed" in x]
    assert [(m.group(1), m.group(2)) for m in retries if m] == [
        ("1.000s", "1"),
        ("2.000s", "2"),
        ("4.000s", "3"),
        ("8.000s", "4"),
    ]
    gave_up = [x for x in found if x.startswith("service gave up")]
    assert gave_up == [
        "service gave up name=app:worker attempts=5 "
        "error=RuntimeError('something went wrong at tick 1')"
    ]


async def test_random_crashes_still_give_up(caplog: pytest.LogCaptureFixture) -> None:
    """With the default 30 % chance per tick the worker ticks a while each run, then crashes;
    five crashes and the service gives up (a seeded run)."""
    caplog.set_level(logging.INFO)
    random.seed(5)
    async with actors.open_node() as node:
        app = await registry.boot_app(node, APP, environ={})
        assert app.services is not None
        for _ in range(600):  # virtual seconds; a run lasting 60 s would reset the count
            status = await app.services.status("app:worker")
            if status.state.value == "failed" and status.retry_at is None:
                break
            await trio.sleep(1.0)
        else:
            pytest.fail(f"the service did not give up: {status}")
    worker = [r.getMessage() for r in caplog.records if r.name == "app.worker"]
    assert sum(x.startswith("Worker started") for x in worker) == 5
    assert any(x.startswith("Worker tick") for x in worker)
    assert sum(x.startswith("service gave up") for x in service_lines(caplog)) == 1


async def test_a_bad_crash_chance_is_an_error() -> None:
    """CRASH_CHANCE outside 0..1 fails the worker with a message naming the value."""
    async with actors.open_node() as node:
        app = await registry.boot_app(node, APP, environ={"CRASH_CHANCE": "3"})
        with pytest.raises(ValueError, match=r"CRASH_CHANCE must be in 0\.\.1, got '3'"):
            await node.exec(app.process("app:unstable_worker"), "500ms", "3")


@pytest.mark.slow
def test_run_until_it_gives_up_then_ctrl_c() -> None:
    """``actors run examples/supervision`` with fast settings: 5 crashes, gave up, exit 0.

    A service that gives up stops the app (exit 1) unless it is ``critical: false``, as the
    example declares it: the app runs on without it. The crash log shows the first crash's
    traceback only (the repeats of the streak are counted, not each logged).
    """
    env = {"TICK": "20ms", "CRASH_CHANCE": "1", "RESTART_DELAY": "20ms"}
    code, out = helpers.run_app_until(
        APP, lambda found: any("service gave up" in x for x in found), env=env
    )
    assert code == 0, out
    assert sum(x.startswith("ERROR process crashed") for x in out) == 1
    assert sum("Worker started" in x for x in out) == 5
    assert any(x.startswith("ERROR service gave up name=app:worker attempts=5") for x in out)
    assert re.fullmatch(r"INFO  App stopped\s+clean=true", out[-1])
