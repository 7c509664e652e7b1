"""A supervised child in a restart loop: one traceback, then ``child recovered`` (virtual time)."""

from __future__ import annotations

import trio

import actors
from actors.testing import capture_logs


async def test_a_crash_looping_child_logs_one_traceback_and_its_recovery() -> None:
    starts: list[float] = []

    async def child(proc: actors.Process) -> None:
        starts.append(trio.current_time())
        if len(starts) <= 3:
            raise RuntimeError("not yet")
        await proc.events.receive()

    spec = actors.ChildSpec("worker", child, backoff=actors.Backoff(jitter=0.0))
    with capture_logs("actors") as logs:
        async with actors.open_node() as node:
            actors.start_supervisor(node, [spec], max_restarts=10, period=60)
            await trio.sleep(4.0)  # restarts at 1, 3 (1 + 2) and 7 s: not stable yet
            logs.assert_not_logged("child recovered")
            await trio.sleep(10.0)  # started at 7 s, stable (5 s) at 12 s
    assert len(starts) == 4
    texts = [(line.level, line.text) for line in logs.lines]
    crashed = [text for level, text in texts if text.startswith("process crashed pid=")]
    assert len(crashed) == 1 and crashed[0].endswith("error=RuntimeError('not yet')")
    again = [level for level, text in texts if text.startswith("process crashed again")]
    assert again == ["DEBUG", "DEBUG"]  # the repeats: counted, no traceback
    line = logs.assert_logged("child recovered", level="INFO", id="worker", failures=3)
    assert line.fields["failing_for"] == "7.000s"
    recovered = logs.assert_logged("process recovered", level="INFO", failures=3)
    assert recovered.fields["function"].endswith("child")
