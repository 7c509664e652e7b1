"""``actors.run_sync_in_thread``: blocking code off the loop, and what a stop does to it.

The worker threads are held with ``threading.Event``s the test releases, so nothing depends
on how fast a thread runs; real sleeps appear only where the loop must stay free meanwhile.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
from actors import WatchdogPolicy
from actors._core._threads import HOLD_REAL_LIMIT


def _wait_for(event: threading.Event) -> str:
    if not event.wait(10):
        raise AssertionError("the test never released the thread")
    return "released"


class TestRunSyncInThread:
    async def test_returns_the_result_and_keeps_the_loop_free(self) -> None:
        """A 0.3 s blocking call in a thread is no stall: the watchdog counts nothing."""

        async def main(proc: actors.Process) -> int:
            return await actors.run_sync_in_thread(functools.partial(time.sleep, 0.3)) or 7

        async with actors.open_node(watchdog=WatchdogPolicy(threshold=0.05)) as node:
            assert await node.exec(main) == 7
            assert node.statistics().stalls == 0

    async def test_the_error_of_the_function_is_raised_in_the_process(self) -> None:
        def fail(text: str) -> None:
            raise ValueError(text)

        async def main(proc: actors.Process) -> None:
            await actors.run_sync_in_thread(fail, "disk full")

        async with actors.open_node() as node:
            with pytest.raises(ValueError, match="disk full"):
                await node.exec(main)

    async def test_the_thread_is_named_after_the_process_and_function(self) -> None:
        names: list[str] = []

        def work() -> None:
            names.append(threading.current_thread().name)

        async def main(proc: actors.Process) -> None:
            await actors.run_sync_in_thread(work)

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await node.wait_exit(pid)
            await actors.run_sync_in_thread(work)  # from plain trio code: no pid
        qualname = f"{__name__}.{work.__qualname__}"
        assert names == [f"actors {pid} {qualname}", f"actors - {qualname}"]

    async def test_terminate_abandons_the_thread_at_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The process exits without waiting; the thread runs on and its end is logged."""
        release = threading.Event()
        returned: list[str] = []

        def hold() -> None:
            returned.append(_wait_for(release))

        async def main(proc: actors.Process) -> None:
            await actors.run_sync_in_thread(hold)

        function = f"{__name__}.{hold.__qualname__}"
        with caplog.at_level(logging.INFO, logger="actors.threads"):
            async with actors.open_node() as node:
                pid = node.spawn(main)
                await trio.testing.wait_all_tasks_blocked()
                node.terminate(pid)
                exit = await node.wait_exit(pid)
                assert isinstance(exit.error, actors.Terminated)
                assert returned == []  # trio cannot kill the thread: abandoned, still running
                release.set()
                end = f"abandoned blocking call returned pid={pid} function={function} after="
                for _ in range(1000):  # until the thread logs its end (off the loop)
                    if any(r.getMessage().startswith(end) for r in caplog.records):
                        break
                    await trio.to_thread.run_sync(time.sleep, 0.01)
        messages = [
            (r.levelno, r.getMessage()) for r in caplog.records if r.name == "actors.threads"
        ]
        assert len(messages) == 2
        assert messages[0][0] == logging.WARNING
        assert messages[0][1].startswith(f"blocking call abandoned pid={pid} function={function}")
        assert messages[1][0] == logging.INFO
        assert messages[1][1].startswith(end)
        assert returned == ["released"]

    async def test_a_cancel_it_does_not_trap_ends_the_wait(self) -> None:
        release = threading.Event()

        async def main(proc: actors.Process) -> str:
            proc.trap_cancel = False
            return await actors.run_sync_in_thread(_wait_for, release)

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await trio.testing.wait_all_tasks_blocked()
            node.cancel(pid, "stop")
            exit = await node.wait_exit(pid)
            assert exit.reason is actors.ExitReason.SHUTDOWN
            release.set()

    async def test_a_trapped_cancel_waits_for_the_call_then_arrives_as_an_event(self) -> None:
        release = threading.Event()

        async def main(proc: actors.Process) -> tuple[str, str]:
            proc.trap_cancel = True
            result = await actors.run_sync_in_thread(_wait_for, release)
            event = await proc.events.receive()
            assert isinstance(event, actors.Cancel)
            return result, event.reason

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await trio.testing.wait_all_tasks_blocked()
            node.cancel(pid, "stop")
            await trio.testing.wait_all_tasks_blocked()
            assert node.is_alive(pid)
            release.set()
            exit = await node.wait_exit(pid)
            assert exit.result == ("released", "stop")

    async def test_the_function_can_notice_its_caller_stopped(self) -> None:
        """``trio.from_thread.check_cancelled()`` raises in the thread once it is abandoned."""
        started, stopped = threading.Event(), threading.Event()

        def poll() -> None:
            started.set()
            try:
                for _ in range(2000):
                    trio.from_thread.check_cancelled()
                    time.sleep(0.005)
            except BaseException:
                stopped.set()
                raise

        async def main(proc: actors.Process) -> None:
            await actors.run_sync_in_thread(poll)

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await trio.to_thread.run_sync(started.wait, 10)
            node.terminate(pid)
            await node.wait_exit(pid)
            assert await trio.to_thread.run_sync(stopped.wait, 10)

    async def test_a_limiter_bounds_the_threads(self) -> None:
        limiter = trio.CapacityLimiter(1)
        release = threading.Event()
        results: list[str] = []

        async def main(proc: actors.Process) -> None:
            results.append(await actors.run_sync_in_thread(_wait_for, release, limiter=limiter))

        async with actors.open_node() as node:
            node.spawn(main)
            node.spawn(main)
            await trio.testing.wait_all_tasks_blocked()
            assert limiter.statistics().borrowed_tokens == 1
            assert limiter.statistics().tasks_waiting == 1
            release.set()
            await node.wait_all_exited()
        assert results == ["released", "released"]

    async def test_an_async_function_is_refused(self) -> None:
        async def coroutine_function() -> None:
            pass

        with pytest.raises(TypeError, match=r"coroutine_function is async: await it directly"):
            await actors.run_sync_in_thread(coroutine_function)  # type: ignore[arg-type]


async def _blocking_server(proc: actors.Process) -> None:
    """Answers each call after a real 50 ms blocking sleep in a worker thread."""
    async for message in proc.inbox:
        await actors.run_sync_in_thread(time.sleep, 0.05)
        proc.reply(message, message.payload)


class TestVirtualTime:
    """Under the autojump MockClock (every test here) a blocking call takes no virtual time."""

    async def test_a_call_timeout_does_not_fire_during_a_blocking_call(self) -> None:
        """Before the hold, the autojump fired the 1 s timeout while the thread slept 50 ms."""
        async with actors.open_node() as node:
            server = node.spawn(_blocking_server)
            start = trio.current_time()
            assert await node.call(server, "work", 7, timeout=1) == 7
            assert trio.current_time() == start

    async def test_timers_around_a_blocking_call_keep_their_order(self) -> None:
        async def main(proc: actors.Process) -> list[float]:
            late = proc.after(0.5)
            await actors.run_sync_in_thread(time.sleep, 0.05)
            early = proc.after(0.25)  # set after the call, due before ``late``
            fired = [await early.receive(), trio.current_time()]
            return [*fired, await late.receive(), trio.current_time()]

        async with actors.open_node() as node:
            start = trio.current_time()
            fired = await node.exec(main)
        assert [t - start for t in fired] == [0.25, 0.25, 0.5, 0.5]

    async def test_the_autojump_comes_back_when_the_last_call_returns(self) -> None:
        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, trio.testing.MockClock)
        first, second = threading.Event(), threading.Event()

        async def main(proc: actors.Process, release: threading.Event) -> str:
            return await actors.run_sync_in_thread(_wait_for, release)

        async with actors.open_node() as node:
            a, b = node.spawn(main, first), node.spawn(main, second)
            await trio.testing.wait_all_tasks_blocked()
            assert clock.autojump_threshold == HOLD_REAL_LIMIT
            first.set()
            assert (await node.wait_exit(a)).result == "released"
            assert clock.autojump_threshold == HOLD_REAL_LIMIT  # b still waits
            second.set()
            assert (await node.wait_exit(b)).result == "released"
            assert clock.autojump_threshold == 0
            start = trio.current_time()
            await trio.sleep(3600)  # the clock jumps again
            assert trio.current_time() == start + 3600

    async def test_an_abandoned_thread_does_not_hold_the_clock(self) -> None:
        release = threading.Event()

        async def main(proc: actors.Process) -> str:
            return await actors.run_sync_in_thread(_wait_for, release)

        async with actors.open_node() as node:
            pid = node.spawn(main)
            await trio.testing.wait_all_tasks_blocked()
            node.terminate(pid)
            await node.wait_exit(pid)
            with trio.fail_after(3600):  # fires in virtual time: the thread holds nothing
                await trio.sleep(60)
            assert not release.is_set()
            release.set()

    async def test_a_clock_without_autojump_is_left_alone(self) -> None:
        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, trio.testing.MockClock)
        clock.autojump_threshold = float("inf")
        seen: list[float] = []

        def look() -> None:
            seen.append(trio.from_thread.run_sync(lambda: clock.autojump_threshold))

        await actors.run_sync_in_thread(look)
        assert seen == [float("inf")]
        assert clock.autojump_threshold == float("inf")

    async def test_a_thread_that_waits_for_the_loop_does_not_hang(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The held clock still jumps after HOLD_REAL_LIMIT of real time, and says so."""
        from actors._core import _threads

        monkeypatch.setattr(_threads, "HOLD_REAL_LIMIT", 0.05)
        ready = threading.Event()

        async def set_later() -> None:
            await trio.sleep(1)  # virtual: only a jump gets here
            ready.set()

        async def main(proc: actors.Process) -> str:
            return await actors.run_sync_in_thread(_wait_for, ready)

        async with actors.open_node() as node, trio.open_nursery() as nursery:
            nursery.start_soon(set_later)
            start = trio.current_time()
            assert await node.exec(main) == "released"
            assert trio.current_time() == start + 1
        (record,) = [r for r in caplog.records if r.name == "actors.threads"]
        assert record.getMessage().startswith("virtual time moved during a blocking call pid=")
        assert " by=1.000s: a held clock still jumps after 0.05s of real time" in str(
            record.getMessage()
        )


@given(st.integers(1, 4).flatmap(lambda n: st.permutations(range(n))))
@settings(max_examples=20, deadline=None)
def test_overlapping_calls_hold_the_clock_until_the_last_returns(order: list[int]) -> None:
    """Calls that overlap, released in any order: held while any waits, no virtual time."""

    async def main(proc: actors.Process, release: threading.Event) -> str:
        return await actors.run_sync_in_thread(_wait_for, release)

    async def body() -> None:
        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, trio.testing.MockClock)
        releases = [threading.Event() for _ in order]
        fired: list[float] = []

        async def timer() -> None:
            await trio.sleep(0.5)
            fired.append(trio.current_time())

        async with actors.open_node() as node, trio.open_nursery() as nursery:
            pids = [node.spawn(main, release) for release in releases]
            nursery.start_soon(timer)
            await trio.testing.wait_all_tasks_blocked()
            start = trio.current_time()
            for index in order:
                assert clock.autojump_threshold == HOLD_REAL_LIMIT
                releases[index].set()
                assert (await node.wait_exit(pids[index])).result == "released"
            assert clock.autojump_threshold == 0
            assert trio.current_time() == start
        assert fired == [start + 0.5]

    trio.run(body, clock=trio.testing.MockClock(autojump_threshold=0))
