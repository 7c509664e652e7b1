"""The tests of first_app, on a virtual clock (sleeps take no real time)."""

from pathlib import Path

import pytest

import actors
import registry
from actors.testing import TestNode, capture_logs

APP = Path(__file__).parent / "src"


def test_the_app_loads() -> None:
    plan = registry.load_app(APP)  # a bad field, import or schedule raises here
    assert [spec.name for spec in plan.services] == ["app:counter", "app:scheduler"]


async def test_the_counter_counts_and_ranks(actors_node: TestNode) -> None:
    await registry.boot_app(actors_node.node, APP, environ={})
    probe = actors_node.probe()
    assert await probe.call("app:counter", "hit", "home") == 1
    assert await probe.call("app:counter", "hit", "home") == 2
    assert await probe.call("app:counter", "hit", "about") == 1
    assert await probe.call("app:counter", "count", "home") == 2
    assert await probe.call("app:counter", "top") == [("home", 2), ("about", 1)]


async def test_a_bad_request_fails_only_that_call(actors_node: TestNode) -> None:
    await registry.boot_app(actors_node.node, APP, environ={})
    probe = actors_node.probe()
    counter = actors_node.node.lookup("app:counter")
    await probe.call("app:counter", "hit", "home")
    with pytest.raises(actors.CallFailed) as failed:
        await probe.call("app:counter", "hit", 42)
    assert "a page is a string" in str(failed.value.__cause__)
    assert actors_node.node.lookup("app:counter") == counter  # the same process, still up
    assert await probe.call("app:counter", "count", "home") == 1


async def test_max_pages_comes_from_the_environment(actors_node: TestNode) -> None:
    await registry.boot_app(actors_node.node, APP, environ={"COUNTER_MAX_PAGES": "2"})
    probe = actors_node.probe()
    await probe.call("app:counter", "hit", "a")
    await probe.call("app:counter", "hit", "b")
    with pytest.raises(actors.CallFailed):
        await probe.call("app:counter", "hit", "c")
    assert await probe.call("app:counter", "hit", "a") == 2  # known pages still count


async def test_the_heartbeat_job_hits_every_five_seconds(actors_node: TestNode) -> None:
    with capture_logs() as logs:
        await registry.boot_app(actors_node.node, APP, environ={})
        await actors_node.sleep(16)  # runs at 5, 10 and 15 s
    ticks = logs.find("TICK", entry="app:job.heartbeat")
    assert [tick.fields["result"] for tick in ticks] == ["1", "2", "3"]


async def test_a_crash_restarts_the_counter_empty(actors_node: TestNode) -> None:
    await registry.boot_app(actors_node.node, APP, environ={})
    probe = actors_node.probe()
    first = actors_node.node.lookup("app:counter")
    probe.monitor(first)  # before the crash: its Exit comes to the probe
    await probe.call("app:counter", "hit", "home")
    actors_node.crash("app:counter")
    await probe.expect_exit(first, reason="error")
    await actors_node.sleep(2)  # the service manager restarts it after about 1 s
    assert actors_node.node.lookup("app:counter") not in (None, first)
    assert await probe.call("app:counter", "count", "home") == 0  # the state was the process's
