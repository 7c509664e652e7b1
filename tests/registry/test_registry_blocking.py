"""``blocking: true`` function entries: run in a worker thread, abandoned when the caller stops.

What ``blocking`` is for, shown with the watchdog: the same sleeping function stalls the loop
when called on it and does not when the entry says ``blocking: true``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from registry import IndexFileError, Registry, funcs, function_entry, load_file


def nap() -> str:
    time.sleep(0.3)
    return "rested"


class TestBlockingEntries:
    async def test_blocking_keeps_the_loop_free_and_plain_does_not(self) -> None:
        registry = Registry.from_entries(
            [function_entry("app:nap", nap, blocking=True), function_entry("app:stall", nap)]
        )
        policy = actors.WatchdogPolicy(threshold=0.05)
        async with actors.open_node(watchdog=policy) as node:
            assert await funcs.call(registry, "app:nap") == "rested"
            assert node.statistics().stalls == 0
            assert await funcs.call(registry, "app:stall") == "rested"  # and no checkpoint:
            await trio.lowlevel.checkpoint()  # the stalled step ends here, and is counted
            assert node.statistics().stalls == 1

    async def test_a_stopped_caller_does_not_wait_for_the_thread(self) -> None:
        """Cancelling the caller ends the call at once; the thread finishes on its own."""
        release, returned = threading.Event(), threading.Event()

        def hold() -> None:
            release.wait(10)
            returned.set()

        registry = Registry.from_entries([function_entry("app:hold", hold, blocking=True)])
        scope = trio.CancelScope()

        async def call() -> None:
            with scope:
                await funcs.call(registry, "app:hold")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(call)
            await trio.testing.wait_all_tasks_blocked()  # the caller waits for its thread
            scope.cancel()
        assert scope.cancelled_caught
        assert not returned.is_set()
        release.set()
        assert await trio.to_thread.run_sync(returned.wait, 10)

    async def test_a_process_terminated_in_a_blocking_call_exits_at_once(self) -> None:
        release = threading.Event()
        registry = Registry.from_entries(
            [function_entry("app:hold", lambda: release.wait(10), blocking=True)]
        )

        async def caller(proc: actors.Process) -> None:
            await funcs.Funcs(registry).call("app:hold")

        async with actors.open_node() as node:
            pid = node.spawn(caller)
            await trio.testing.wait_all_tasks_blocked()
            node.terminate(pid)
            exit = await node.wait_exit(pid)
            assert isinstance(exit.error, actors.Terminated)
            release.set()


VALUES = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.none(),
    st.lists(st.booleans(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.booleans(), max_size=2),
)


@given(VALUES)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_blocking_must_be_a_boolean(tmp_path: Path, value: object) -> None:
    """Anything but true/false is refused, naming the file, line, entry and field."""
    path = tmp_path / "_index.yaml"
    entry = {"name": "f", "kind": "function", "source": "m:f", "blocking": value}
    path.write_text(f'version: "1.0"\nnamespace: app\nentries:\n  - {json.dumps(entry)}\n')
    with pytest.raises(IndexFileError) as caught:
        load_file(path)
    assert str(caught.value).startswith(
        f"{path}:4, entry app:f, field blocking: expected true or false, got "
    )
