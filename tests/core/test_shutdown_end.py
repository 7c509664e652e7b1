"""Node shutdown always ends, and names the processes that keep it from ending."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator

import pytest
import trio
import trio.testing

import actors
import helpers
from actors import ExitReason
from actors._core import _shutdown


class TimedRecords(logging.Handler):
    """Log records of the ``actors`` logger with the trio time they were emitted at."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[float, logging.LogRecord]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((trio.current_time(), record))

    def at(self, needle: str) -> list[float]:
        return [t for t, r in self.records if needle in r.getMessage()]

    def messages(self, needle: str) -> list[str]:
        return [r.getMessage() for _, r in self.records if needle in r.getMessage()]


@pytest.fixture
def logs() -> Iterator[TimedRecords]:
    handler = TimedRecords()
    logger = logging.getLogger("actors")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.setLevel(level)
    logger.removeHandler(handler)


async def swallower(proc: actors.Process, stop_at: float) -> str:
    """Catch everything around a wait, in a loop, until ``stop_at`` (virtual time)."""
    swallowed = 0
    while trio.current_time() < stop_at:
        try:
            await trio.sleep(3600)
        except BaseException:  # the misbehaviour under test
            swallowed += 1
    return f"swallowed {swallowed}"


class TestShutdownEnds:
    async def test_a_swallower_is_reported_at_the_deadline_and_at_doubling_intervals(
        self, logs: TimedRecords
    ) -> None:
        """Terminated at the deadline; logged with pid, function and stack 0.1, 1.1, 3.1 s later.

        It runs past 51 s on purpose: the kill retries' backoff used to overflow there
        (``2 ** rounds`` as a float) and crash the node.
        """
        async with actors.open_node(shutdown_grace=2.0) as node:
            good = node.spawn(helpers.idle)
            bad = node.spawn(swallower, 70.0)
            start = trio.current_time()
        ended = trio.current_time() - start
        assert 70.0 <= ended < 70.2  # it ended when the swallower gave up
        assert logs.at("shutdown grace period over") == [pytest.approx(start + 2.0)]
        (over,) = logs.messages("shutdown grace period over")
        assert f"processes=1 pids={bad}" in over and str(good) not in over
        reports = [t - start for t in logs.at("process does not stop")]
        expected = [2.1, 3.1, 5.1, 9.1, 17.1, 33.1, 65.1]  # the intervals double: 1, 2, 4 ... s
        assert reports == [pytest.approx(t, abs=0.07) for t in expected]
        text = logs.messages("process does not stop")[0]
        assert f"pid={bad} function=tests.core.test_shutdown_end.swallower" in text
        assert "in swallower" in text and "await trio.sleep(3600)" in text  # its stack
        blocked = logs.messages("node shutdown blocked")[0]
        assert "processes=1 still run 0.1s after terminate" in blocked

    async def test_the_swallowers_exit_is_shutdown(self) -> None:
        """A swallower that finally returns ends with reason shutdown and its result."""
        async with actors.open_node(shutdown_grace=1.0) as node:
            pid = node.spawn(swallower, 5.0)
            exits: list[actors.Exit] = []
            node.watch_exits(exits.append)
        (exit,) = exits
        assert (exit.pid, exit.reason, exit.error) == (pid, ExitReason.SHUTDOWN, None)
        assert str(exit.result).startswith("swallowed ")

    async def test_a_process_that_stops_when_terminated_is_not_reported(
        self, logs: TimedRecords
    ) -> None:
        """Terminate ends a process that ignores Cancel: no 'does not stop' line."""
        async with actors.open_node(shutdown_grace=1.0) as node:
            pid = node.spawn(helpers.forever)
            exits: list[actors.Exit] = []
            node.watch_exits(exits.append)
        assert isinstance(exits[0].error, actors.Terminated) and exits[0].pid == pid
        assert logs.at("process does not stop") == []
        assert len(logs.at("shutdown grace period over")) == 1

    async def test_cooperative_processes_need_no_terminate(self, logs: TimedRecords) -> None:
        """Processes that read their events all return: nothing is terminated or logged."""
        exits: list[actors.Exit] = []
        async with actors.open_node(shutdown_grace=1.0) as node:
            for _ in range(1000):
                node.spawn(helpers.idle)
            node.watch_exits(exits.append)
            start = trio.current_time()
        assert trio.current_time() == start  # no virtual time passed
        assert len(exits) == 1000
        assert {(e.reason, e.error) for e in exits} == {(ExitReason.SHUTDOWN, None)}
        assert logs.at("terminat") == []

    async def test_the_report_names_at_most_ten(self, logs: TimedRecords) -> None:
        """Many blockers: one summary line with ten pids and '+N more', ten stacks."""
        async with actors.open_node(shutdown_grace=0.0) as node:
            for _ in range(12):
                node.spawn(swallower, 0.5)
            await trio.testing.wait_all_tasks_blocked()  # all started (else the kill wins)
        (summary,) = logs.messages("node shutdown blocked")
        assert "processes=12" in summary and "(+2 more)" in summary
        assert len(logs.messages("process does not stop")) == 10


class TestCancelledNode:
    async def test_a_process_that_swallows_cancellation_is_named(self, logs: TimedRecords) -> None:
        """The node block raised: processes are cancelled at once; a survivor is logged."""

        async def shielded(proc: actors.Process) -> None:
            with trio.CancelScope(shield=True):  # a wait that no cancellation reaches
                await trio.sleep_until(3.0)

        pids: list[actors.PID] = []
        start = trio.current_time()
        with pytest.raises(KeyError):
            await failing_node_body(lambda node: pids.append(node.spawn(shielded)))
        assert 3.0 <= trio.current_time() - start < 3.2
        reports = [t - start for t in logs.at("process does not stop")]
        assert reports == [pytest.approx(t, abs=0.07) for t in (0.1, 1.1)]
        assert f"pid={pids[0]}" in logs.messages("process does not stop")[0]

    async def test_no_delay_when_every_process_stops(self, logs: TimedRecords) -> None:
        start = trio.current_time()
        with pytest.raises(KeyError):
            await failing_node_body(lambda node: node.spawn(helpers.idle))
        assert trio.current_time() == start
        assert logs.at("does not stop") == []


async def failing_node_body(spawn: Callable[[actors.Node], object]) -> None:
    """Spawn an idle process and ``spawn(node)``, let them start, then raise in the block."""
    async with actors.open_node() as node:
        node.spawn(helpers.idle)
        spawn(node)
        await trio.testing.wait_all_tasks_blocked()
        raise KeyError("body failed")


class TestGcPause:
    async def test_the_automatic_gc_pauses_for_at_most_a_second_of_the_cancel_phase(
        self,
    ) -> None:
        """Paused while Cancel reaches everyone, running again after 1 s and after shutdown."""
        enabled: list[tuple[float, bool]] = []

        async def slow_cleanup(proc: actors.Process) -> None:
            await proc.events.receive()
            for _ in range(3):
                enabled.append((trio.current_time(), gc.isenabled()))
                await trio.sleep(0.75)

        assert gc.isenabled()
        async with actors.open_node(shutdown_grace=10.0) as node:
            node.spawn(slow_cleanup)
            start = trio.current_time()
        assert [(round(t - start, 2), on) for t, on in enabled] == [
            (0.0, False),
            (0.75, False),
            (1.5, True),
        ]
        assert gc.isenabled()

    async def test_a_disabled_gc_stays_disabled(self) -> None:
        gc.disable()
        try:
            async with actors.open_node() as node:
                node.spawn(helpers.idle)
            assert not gc.isenabled()
        finally:
            gc.enable()


class TestHelpers:
    def test_stack_of_a_task_not_started(self) -> None:
        assert _shutdown.task_stack(None) == "  (not started)"

    async def test_stack_shows_the_await_chain(self) -> None:
        async def inner() -> None:
            await trio.sleep_forever()

        async def outer() -> None:
            await inner()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(outer)
            await trio.testing.wait_all_tasks_blocked()
            (task,) = nursery.child_tasks
            stack = _shutdown.task_stack(task)
            nursery.cancel_scope.cancel()
        assert stack.index("in outer") < stack.index("in inner") < stack.index("sleep_forever")


class TestWatchExits:
    async def test_every_exit_until_stopped(self) -> None:
        seen: list[actors.PID] = []
        async with actors.open_node() as node:
            stop = node.watch_exits(lambda exit: seen.append(exit.pid))
            first = node.spawn(helpers.returns, 1)
            await node.wait_exit(first)
            stop()
            stop()  # harmless
            await node.wait_exit(node.spawn(helpers.returns, 2))
        assert seen == [first]

    async def test_a_failing_watcher_is_logged_and_the_exit_still_delivered(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        def broken(exit: actors.Exit) -> None:
            raise ValueError("watcher bug")

        async with actors.open_node() as node:
            node.watch_exits(broken)
            with caplog.at_level(logging.ERROR, logger="actors"):
                exit = await node.wait_exit(node.spawn(helpers.returns, 7))
        assert exit.result == 7
        assert "exit watcher failed" in caplog.text


class TestReport:
    def test_a_process_that_never_started_reports_running_and_no_stack(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        class Fake:
            pid = actors.PID("main", 7)
            _task = None
            _fn = swallower

        with caplog.at_level(logging.ERROR, logger="actors"):
            _shutdown.report_blocked([Fake()], 1.5)  # type: ignore[list-item]
        assert "processes=1 still run 1.5s after terminate pids={main|0x00007}" in caplog.text
        assert "state=running" in caplog.text and "(not started)" in caplog.text
