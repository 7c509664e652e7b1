"""actors.testing.thread_time: how much virtual time a blocking call takes in a test."""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import timedelta

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import actors
from actors.testing import TestNode, thread_time


def quick() -> str:
    time.sleep(0.01)
    return "done"


class TestThreadTime:
    async def test_a_declared_duration_passes_in_virtual_time(self, actors_node: TestNode) -> None:
        async def main(proc: actors.Process) -> tuple[str, float]:
            start = trio.current_time()
            result = await actors.run_sync_in_thread(quick)
            return result, trio.current_time() - start

        with thread_time("2s"):
            assert await actors_node.node.exec(main) == ("done", 2.0)
        assert await actors_node.node.exec(main) == ("done", 0.0)  # the default again

    async def test_a_shorter_timeout_abandons_a_declared_call(
        self, actors_node: TestNode, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A slow call against a timeout: the caller stops waiting, the warning is logged."""

        async def main(proc: actors.Process) -> bool:
            with trio.move_on_after(1) as scope:
                await actors.run_sync_in_thread(quick)
            return scope.cancelled_caught

        with (
            caplog.at_level(logging.WARNING, logger="actors.threads"),
            thread_time(timedelta(seconds=2)),
        ):
            assert await actors_node.node.exec(main) is True
        (record,) = caplog.records
        assert record.getMessage().startswith("blocking call abandoned pid={main|")
        assert f" function={__name__}.quick: " in record.getMessage()

    async def test_none_lets_the_clock_jump_while_a_thread_works(
        self, actors_node: TestNode
    ) -> None:
        """trio's own behaviour: the autojump fires a 1 s timeout during a held thread."""
        release = threading.Event()

        async def main(proc: actors.Process) -> bool:
            with trio.move_on_after(1) as scope:
                await actors.run_sync_in_thread(release.wait, 10)
            return scope.cancelled_caught

        with thread_time(None):
            assert await actors_node.node.exec(main) is True
        release.set()

    async def test_a_registry_blocking_entry_in_an_app_process(self, actors_node: TestNode) -> None:
        """A ``blocking: true`` entry called by a process, under a 1 s call timeout."""
        from registry import Registry, funcs, function_entry

        registry = Registry.from_entries([function_entry("app:quick", quick, blocking=True)])

        async def server(proc: actors.Process) -> None:
            async for message in proc.inbox:
                proc.reply(message, await funcs.call(registry, "app:quick"))

        pid = actors_node.spawn(server)
        assert await actors_node.node.call(pid, "run", timeout=1) == "done"
        with thread_time("1.5s"), pytest.raises(actors.CallTimeout):
            await actors_node.node.call(pid, "run", timeout=1)


NOT_DURATIONS = st.one_of(
    st.floats(max_value=-1e-9),
    st.sampled_from([math.inf, -math.inf, math.nan, "-1s", "1 parsec", "", "1h-", "nan"]),
    st.text(max_size=12),
)


@given(NOT_DURATIONS)
def test_bad_durations_are_refused_with_their_value(value: object) -> None:
    """Anything but a finite duration >= 0 (or None) is a ValueError naming the value.

    A good one gets as far as the run variable, which wants a trio run (RuntimeError here).
    """
    with pytest.raises((ValueError, RuntimeError)) as caught, thread_time(value):  # type: ignore[arg-type]
        pass
    if isinstance(caught.value, ValueError):
        assert repr(value) in str(caught.value) or str(value) in str(caught.value)
    else:
        assert isinstance(value, str) and value.strip()
