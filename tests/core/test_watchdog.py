"""The loop-stall watchdog: who held the loop, once per stall, counted; one thread, no leaks.

Stalls are real time (``time.sleep`` holds the loop whatever the trio clock says), so these
tests block for 0.3 s against a 50 ms threshold: the watchdog samples every 12.5 ms and needs
two samples 50 ms apart inside the stall, a wide margin even on a loaded machine. The negative
tests use a high threshold.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
from actors import WatchdogPolicy
from actors._core import _loopscan, _watchdog

FAST = WatchdogPolicy(threshold=0.05)
BLOCK = 0.3


def _watchdog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "actors-watchdog"]


def _stall_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "actors.watchdog" and r.levelno == logging.WARNING
    ]


async def blocker(proc: actors.Process) -> None:
    time.sleep(BLOCK)  # noqa: ASYNC251 - the bug the watchdog exists for


async def polite(proc: actors.Process, rounds: int) -> None:
    for _ in range(rounds):
        await actors.sleep(0.01)


class TestStalls:
    async def test_a_blocking_process_is_named_with_its_stack_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """One WARNING per stall: pid, registered name, function and the blocking line."""
        with caplog.at_level(logging.WARNING, logger="actors.watchdog"):
            async with actors.open_node(watchdog=FAST) as node:
                pid = node.spawn(blocker, name="sleepy")
                await node.wait_exit(pid)
                stats = node.statistics()
        [line] = _stall_lines(caplog)
        function = f"{blocker.__module__}.blocker"
        assert f"pid={pid} name=sleepy function={function} " in line
        assert "threshold=0.05s" in line
        stack = line.split("\n", 1)[1]
        assert stack.startswith(f'  File "{__file__}"')  # the process function first
        assert "in blocker\n    time.sleep(BLOCK)" in stack  # down to the blocking call
        assert "run_sync_in_thread" in line  # the way out
        assert stats.stall_threshold == 0.05
        assert stats.stalls == 1
        assert 0.15 < stats.longest_stall < 5
        last = stats.last_stall
        assert last is not None
        assert (last.pid, last.name, last.function) == (pid, "sleepy", function)
        assert last.duration == stats.longest_stall
        assert last.began.tzinfo is not None

    async def test_a_non_blocking_workload_reports_nothing(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Many short steps are not a stall: no line, no count."""
        with caplog.at_level(logging.WARNING, logger="actors.watchdog"):
            async with actors.open_node(watchdog=WatchdogPolicy(threshold=2.0)) as node:
                for _ in range(50):
                    node.spawn(polite, 200)
                await node.wait_all_exited()
                stats = node.statistics()
        assert _stall_lines(caplog) == []
        assert (stats.stalls, stats.longest_stall, stats.last_stall) == (0, 0.0, None)

    async def test_a_busy_process_that_yields_often_is_no_stall(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The same process on the loop at every sample, but in 8 ms steps: not a stall."""

        async def busy(proc: actors.Process) -> None:
            for _ in range(40):
                until = time.perf_counter() + 0.008
                while time.perf_counter() < until:
                    pass
                await trio.lowlevel.checkpoint()

        with caplog.at_level(logging.WARNING, logger="actors.watchdog"):
            async with actors.open_node(watchdog=FAST) as node:
                await node.exec(busy)
                assert node.statistics().stalls == 0
        assert _stall_lines(caplog) == []

    async def test_a_task_that_is_not_a_process_is_named_by_its_coroutine(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def plain_task() -> None:
            time.sleep(BLOCK)  # noqa: ASYNC251

        with caplog.at_level(logging.WARNING, logger="actors.watchdog"):
            async with actors.open_node(watchdog=FAST) as node:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(plain_task)
                assert node.statistics().stalls == 1
        [line] = _stall_lines(caplog)
        assert f"pid=- name=- function={__name__}." in line
        assert "plain_task held=" in line

    async def test_repeats_within_the_quiet_period_are_counted_not_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="actors.watchdog"):
            async with actors.open_node(watchdog=FAST) as node:
                for _ in range(2):
                    await node.exec(blocker)
                assert node.statistics().stalls == 2
        assert len(_stall_lines(caplog)) == 1

    async def test_quiet_period_zero_logs_every_stall(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        policy = WatchdogPolicy(threshold=0.05, quiet_period=0)
        with caplog.at_level(logging.WARNING, logger="actors.watchdog"):
            async with actors.open_node(watchdog=policy) as node:
                for _ in range(2):
                    await node.exec(blocker)
        assert len(_stall_lines(caplog)) == 2

    async def test_off_with_none(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="actors.watchdog"):
            async with actors.open_node(watchdog=None) as node:
                assert _watchdog_threads() == []
                await node.exec(blocker)
                stats = node.statistics()
        assert _stall_lines(caplog) == []
        assert (stats.stall_threshold, stats.stalls) == (None, 0)

    async def test_each_node_counts_only_stalls_over_its_own_threshold(self) -> None:
        """Two nodes of one run share the loop: a 0.3 s stall is one for 50 ms, not for 5 s."""
        async with (
            actors.open_node(name="a", watchdog=FAST) as a,
            actors.open_node(name="b", watchdog=WatchdogPolicy(threshold=5.0)) as b,
        ):
            await b.exec(blocker)
            assert a.statistics().stalls == 1
            assert b.statistics().stalls == 0
            assert len(_watchdog_threads()) == 1


class TestThread:
    async def test_one_thread_while_nodes_are_open_and_none_after(self) -> None:
        assert _watchdog_threads() == []
        async with actors.open_node():
            assert len(_watchdog_threads()) == 1
            async with actors.open_node():
                assert len(_watchdog_threads()) == 1
            assert len(_watchdog_threads()) == 1
        assert _watchdog_threads() == []
        assert _watchdog.WATCHDOG.loops == {}

    async def test_a_nested_run_in_a_thread_is_watched_too(self) -> None:
        """A trio run in a worker thread has its own loop: its stall is its own."""

        def inner() -> int:
            async def main() -> int:
                async with actors.open_node(watchdog=FAST) as node:
                    await node.exec(blocker)
                    return node.statistics().stalls

            return trio.run(main)

        async with actors.open_node(watchdog=FAST) as outer:
            inner_stalls = await trio.to_thread.run_sync(inner)
            assert inner_stalls == 1
            assert outer.statistics().stalls == 0  # the outer loop waited, it did not stall
            assert len(_watchdog_threads()) == 1
        assert _watchdog_threads() == []

    async def test_the_stalled_step_asking_counts_nothing_yet(self) -> None:
        """``statistics()`` from inside the stall does not end it: counted when it is over."""

        async def block_then_ask(proc: actors.Process) -> int:
            time.sleep(BLOCK)  # noqa: ASYNC251
            return proc.node.statistics().stalls

        async with actors.open_node(watchdog=FAST) as node:
            assert await node.exec(block_then_ask) == 0
            assert node.statistics().stalls == 1

    async def test_an_unknown_trio_turns_it_off_with_one_warning(
        self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_watchdog.WATCHDOG, "run_loop_code", None)
        monkeypatch.setattr(_watchdog.WATCHDOG, "warned", False)
        with caplog.at_level(logging.WARNING, logger="actors.watchdog"):
            for _ in range(2):
                async with actors.open_node() as node:
                    assert _watchdog_threads() == []
                    assert node.statistics().stall_threshold is None
        [line] = [r.getMessage() for r in caplog.records]
        version = trio.__version__
        assert line == f"loop-stall watchdog off: this trio ({version}) is not one it knows"

    def test_the_trio_internals_it_reads_are_there(self) -> None:
        """Pinned: a trio release that renames them fails here, not silently in production."""
        assert _loopscan.private_trio() is not None


class TestPolicy:
    def test_defaults(self) -> None:
        assert WatchdogPolicy() == WatchdogPolicy(threshold=0.1, quiet_period=10.0)

    @given(st.floats(min_value=0.001, max_value=3600), st.floats(min_value=0, max_value=1e9))
    @settings(max_examples=50, deadline=None)
    def test_values_in_range_are_accepted(self, threshold: float, quiet: float) -> None:
        assert WatchdogPolicy(threshold, quiet).threshold == threshold

    @given(
        st.one_of(
            st.floats().filter(lambda x: not 0.001 <= x <= 3600),
            st.booleans(),
            st.text(max_size=5),
            st.none(),
        )
    )
    @settings(max_examples=50, deadline=None)
    def test_a_bad_threshold_is_refused_by_name(self, value: object) -> None:
        with pytest.raises(ValueError, match=r"^WatchdogPolicy\.threshold must be"):
            WatchdogPolicy(threshold=value)  # type: ignore[arg-type]

    @given(
        st.one_of(
            st.floats().filter(lambda x: not (x >= 0 and x != float("inf"))),
            st.booleans(),
            st.text(max_size=5),
        )
    )
    @settings(max_examples=50, deadline=None)
    def test_a_bad_quiet_period_is_refused_by_name(self, value: object) -> None:
        with pytest.raises(ValueError, match=r"^WatchdogPolicy\.quiet_period must be"):
            WatchdogPolicy(quiet_period=value)  # type: ignore[arg-type]

    async def test_open_node_wants_a_policy_or_none(self) -> None:
        with pytest.raises(ValueError, match=r"^watchdog must be an actors.WatchdogPolicy or None"):
            async with actors.open_node(watchdog=0.1):  # type: ignore[arg-type]
                pass
