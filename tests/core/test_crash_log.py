"""Crash reports that inform and do not flood: one traceback per failure streak.

A function that crashes over and over (a job every tick, a service in a restart loop) logs its
traceback at the first failure, then one line with the count at 10, 100, 1000... failures or a
minute after the last line, and ``process recovered`` at its first clean return. On virtual time.
"""

from __future__ import annotations

import logging

import trio
import trio.lowlevel
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from actors._core._crashlog import REPEAT_INTERVAL, crash_log, function_label, set_label
from actors.testing import capture_logs


async def fails(proc: actors.Process, ok: bool = False) -> None:
    if not ok:
        raise RuntimeError("boom")


def tracebacks(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [record for record in records if record.exc_info]


class Records(logging.Handler):
    """Keep the records of the ``actors`` logger at INFO and up (what ``actors run`` shows)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, start: str) -> list[str]:
        return [m for r in self.records if (m := r.getMessage()).startswith(start)]


async def run_n(node: actors.Node, fn: object, n: int, every: float = 1.0) -> None:
    for _ in range(n):
        await node.wait_exit(node.spawn(fn))  # type: ignore[arg-type]
        await trio.sleep(every)


async def test_a_hundred_failures_log_one_traceback_bounded_lines_and_a_recovery() -> None:
    handler = Records()
    logging.getLogger("actors").addHandler(handler)
    previous = logging.getLogger("actors").level
    logging.getLogger("actors").setLevel(logging.INFO)
    try:
        async with actors.open_node() as node:
            await run_n(node, fails, 100)
            await node.wait_exit(node.spawn(fails, True))
            stats = crash_log(node).statistics()
    finally:
        logging.getLogger("actors").removeHandler(handler)
        logging.getLogger("actors").setLevel(previous)
    (first,) = tracebacks(handler.records)
    label = f"{__name__}.fails"
    assert first.getMessage().endswith(f"function={label} error=RuntimeError('boom')")
    again = handler.lines("process crashed again")
    # failures 10 and 100 (powers of ten), and one a minute after the last line (61, 1 s apart)
    counts = [int(line.split("failures=")[1].split()[0]) for line in again]
    assert counts == [10, 70, 100], again
    assert all(f"function={label}" in line and "first_failure=" in line for line in again)
    (recovered,) = handler.lines("process recovered")
    assert f"function={label} failures=100 first_failure=" in recovered
    assert len(handler.lines("process crashed")) == 4  # of 100 crashes
    assert (stats.crashes, stats.logged, stats.folded, stats.streaks) == (100, 4, 96, 0)


async def test_repeats_are_at_debug_and_a_new_streak_after_recovery_logs_a_traceback() -> None:
    with capture_logs("actors") as logs:
        async with actors.open_node() as node:
            await run_n(node, fails, 3)
            await node.wait_exit(node.spawn(fails, True))
            await run_n(node, fails, 1)
    crashed = logs.find("process crashed", level="ERROR")
    assert len(crashed) == 2  # the first of each streak
    assert len(logs.find("process crashed again", level="DEBUG")) == 2
    logs.assert_logged("process recovered", level="INFO", failures=3)


async def test_each_error_and_place_has_its_own_streak() -> None:
    """Another error type (or line) of the same function is news: its own traceback."""
    with capture_logs("actors") as logs:
        async with actors.open_node() as node:

            async def either(proc: actors.Process, key: bool) -> None:
                if key:
                    raise KeyError("k")
                raise RuntimeError("r")

            for key in (False, True, False, True):
                await node.wait_exit(node.spawn(either, key))
    records = [line for line in logs.lines if line.event == "process crashed"]
    assert len(records) == 2
    assert {line.fields["error"] for line in records} == {"KeyError('k')", "RuntimeError('r')"}


async def test_a_summary_at_least_once_per_interval() -> None:
    """A slow failure (every 2 minutes) is summarised at each repeat: never silent for long."""
    with capture_logs("actors") as logs:
        async with actors.open_node() as node:
            await run_n(node, fails, 4, every=2 * REPEAT_INTERVAL)
    assert [
        line.fields["failures"] for line in logs.find("process crashed again", level="ERROR")
    ] == [
        "2",
        "3",
        "4",
    ]


async def test_a_label_names_the_users_function_not_the_wrapper() -> None:
    async def wrapper(proc: actors.Process) -> None:
        await fails(proc)

    set_label(wrapper, "app:job")
    assert function_label(wrapper) == "app:job"
    with capture_logs("actors") as logs:
        async with actors.open_node() as node:
            await node.wait_exit(node.spawn(wrapper))
    line = logs.assert_logged("process crashed", function="app:job")
    assert "wrapper" not in line.text


async def test_linked_and_terminated_exits_are_counted() -> None:
    async with actors.open_node() as node:

        async def partner(proc: actors.Process) -> None:
            await trio.sleep_forever()

        quiet = node.spawn(partner)
        node.terminate(quiet)
        await trio.sleep(1)  # virtual: the kill is delivered and the exit reported
        stats = crash_log(node).statistics()
    assert stats.crashes == 1 and stats.logged == 0


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(outcomes=st.lists(st.sampled_from(["boom", "other", "ok"]), max_size=40))
def test_streak_invariants(outcomes: list[str]) -> None:
    """One traceback per streak start; a recovery line exactly when a success ends a streak,
    carrying the failures since the last success; every crash counted."""

    async def main() -> tuple[list[logging.LogRecord], int]:
        handler = Records()
        actors_logger = logging.getLogger("actors")
        actors_logger.addHandler(handler)
        previous = actors_logger.level
        actors_logger.setLevel(logging.INFO)
        try:
            async with actors.open_node() as node:

                async def job(proc: actors.Process, outcome: str) -> None:
                    if outcome == "boom":
                        raise RuntimeError("boom")
                    if outcome == "other":
                        raise KeyError("other")

                set_label(job, "job")
                for outcome in outcomes:
                    await node.wait_exit(node.spawn(job, outcome))
                    await trio.sleep(1)
                crashes = crash_log(node).statistics().crashes
        finally:
            actors_logger.removeHandler(handler)
            actors_logger.setLevel(previous)
        return handler.records, crashes

    records, crashes = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert crashes == sum(outcome != "ok" for outcome in outcomes)
    starts, recoveries = 0, []
    seen: set[str] = set()
    failures = 0
    for outcome in outcomes:
        if outcome == "ok":
            if failures:
                recoveries.append(failures)
            seen, failures = set(), 0
        else:
            starts += outcome not in seen
            seen.add(outcome)
            failures += 1
    assert len(tracebacks(records)) == starts
    got = [
        int(r.getMessage().split("failures=")[1].split()[0])
        for r in records
        if r.getMessage().startswith("process recovered")
    ]
    assert got == recoveries


async def test_a_wrapped_error_is_keyed_by_its_root_cause() -> None:
    """``raise Wrapper(...) from cause`` at one place: each distinct cause is its own streak."""

    class Wrapper(Exception):
        pass

    async def wrapped(proc: actors.Process, kind: type[Exception]) -> None:
        try:
            raise kind("inner")
        except Exception as error:
            raise Wrapper("wrapped") from error

    with capture_logs("actors") as logs:
        async with actors.open_node() as node:
            for kind in (KeyError, ValueError, KeyError, ValueError):
                await node.wait_exit(node.spawn(wrapped, kind))
    firsts = [line for line in logs.lines if line.text.startswith("process crashed pid=")]
    assert len(firsts) == 2
    assert len([line for line in logs.lines if line.text.startswith("process crashed again")]) == 2


async def test_memory_is_bounded() -> None:
    """More failing functions than MAX_STREAKS, more distinct errors than MAX_KINDS: bounded."""
    from actors._core._crashlog import MAX_KINDS, MAX_STREAKS

    async def numbered(proc: actors.Process, line: int) -> None:
        # a distinct root-cause line per call: exec'd code raising at line ``line``
        exec(compile("\n" * line + "raise RuntimeError('x')", "<gen>", "exec"))

    with capture_logs("actors"):
        async with actors.open_node() as node:
            for index in range(MAX_STREAKS + 10):

                async def fn(proc: actors.Process) -> None:
                    raise RuntimeError("x")

                await node.wait_exit(node.spawn(set_label(fn, f"f{index}")))
            log = crash_log(node)
            assert log.statistics().streaks == MAX_STREAKS
            for line in range(MAX_KINDS + 5):
                await node.wait_exit(node.spawn(set_label(numbered, "many"), line))
            assert len(log._streaks["many"]) == MAX_KINDS
            assert log.statistics().logged == MAX_STREAKS + 10 + MAX_KINDS + 5
