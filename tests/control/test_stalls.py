"""Loop stalls in ``ps``/``top``/``stats`` replies and the metrics (the watchdog's counters)."""

from __future__ import annotations

import time
import urllib.request

import pytest
import trio

import actors
from actors._control import _snapshot
from actors._control._cli import format_ps
from actors._control._protocol import PsRequest, decode_reply, frame

FAST = actors.WatchdogPolicy(threshold=0.05)


async def blocker(proc: actors.Process) -> None:
    time.sleep(0.3)  # noqa: ASYNC251 - the stall under test


async def test_ps_and_stats_carry_the_stall_counters() -> None:
    async with actors.open_node(watchdog=FAST) as node:
        pid = node.spawn(blocker, name="sleepy")
        await node.wait_exit(pid)
        ps = _snapshot.ps(node, PsRequest(), None, 0.0)
        stats = _snapshot.stats(node, 0.0)
    assert ps.stalls is not None and stats.stalls == ps.stalls
    assert (ps.stalls.threshold, ps.stalls.count) == (0.05, 1)
    assert ps.stalls.last_pid == str(pid)
    assert ps.stalls.last_function == f"{__name__}.blocker"
    assert 0.15 < ps.stalls.longest == ps.stalls.last_duration < 5
    again = decode_reply(frame(ps)[4:])  # what the CLI receives over the socket
    assert again == ps
    text = format_ps(ps, header=True)
    head, *_, tail = text.splitlines()
    longest = f"{ps.stalls.longest * 1000:.0f}ms"
    assert head.endswith(f"loop stalls 1 over 50ms, longest {longest}")
    assert tail == (
        f"loop stalls 1 over 50ms, longest {longest}; last {longest} by {pid} "
        f"{__name__}.blocker (the log has its stack)"
    )


async def test_no_stall_line_without_stalls_and_off_without_a_watchdog() -> None:
    async with actors.open_node() as node:
        text = format_ps(_snapshot.ps(node, PsRequest(), None, 0.0), header=True)
        assert text.splitlines()[0].endswith("loop stalls 0 over 100ms")
        assert "last" not in text
    async with actors.open_node(watchdog=None) as node:
        ps = _snapshot.ps(node, PsRequest(), None, 0.0)
        assert ps.stalls is None
        assert format_ps(ps, header=True).splitlines()[0].endswith("watchdog off")


async def test_metrics_count_stalls() -> None:
    pytest.importorskip("prometheus_client")
    from actors.lowlevel import serve_metrics

    def scrape(port: int) -> str:
        url = f"http://127.0.0.1:{port}/metrics"
        return urllib.request.urlopen(url, timeout=10).read().decode()  # type: ignore[no-any-return]

    async with actors.open_node(watchdog=FAST) as node, trio.open_nursery() as nursery:
        port = await nursery.start(serve_metrics, node, 0)
        await node.exec(blocker)
        await trio.sleep(2)  # a refresh or two (virtual time)
        text = await trio.to_thread.run_sync(scrape, port)
        nursery.cancel_scope.cancel()
    assert "actors_loop_stalls_total 1.0" in text
    longest = next(
        line for line in text.splitlines() if line.startswith("actors_loop_stall_longest_seconds ")
    )
    assert 0.15 < float(longest.split()[1]) < 5
