"""Supervisors: restart types, strategies, backoff, intensity, trees, shutdown (virtual time)."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import actors
import helpers
from actors import (
    Backoff,
    Cancel,
    ChildSpec,
    ExitReason,
    Restart,
    Strategy,
    SupervisorEscalation,
    SupervisorSpec,
    delete_child,
    restart_child,
    select,
    start_child,
    start_supervisor,
    supervise,
    terminate_child,
    which_children,
)
from actors.testing import open_test_node

NO_DELAY = Backoff(initial=0, jitter=0)


@attrs.define
class Recorder:
    """What the test workers did: starts, stops and overlapping instances."""

    log: list[tuple[str, str]] = attrs.field(factory=list)
    starts: dict[str, list[float]] = attrs.field(factory=dict)
    live: dict[str, int] = attrs.field(factory=dict)
    overlaps: list[str] = attrs.field(factory=list)


async def worker(proc: actors.Process, child_id: str, rec: Recorder) -> str:
    """Run until Cancel ('stop'), a 'crash' message (raise) or a 'return' message."""
    rec.live[child_id] = rec.live.get(child_id, 0) + 1
    if rec.live[child_id] > 1:
        rec.overlaps.append(child_id)
    rec.log.append(("start", child_id))
    rec.starts.setdefault(child_id, []).append(trio.current_time())
    try:
        while True:
            got = await select(proc.events, proc.inbox)
            if isinstance(got.value, Cancel):
                rec.log.append(("stop", child_id))
                return "cancelled"
            if isinstance(got.value, actors.Message):
                if got.value.topic == "crash":
                    raise RuntimeError(f"{child_id} crashed")
                if got.value.topic == "return":
                    return "done"
    finally:
        rec.live[child_id] -= 1


def spec(child_id: str, rec: Recorder, **options: Any) -> ChildSpec:
    options.setdefault("backoff", NO_DELAY)
    return ChildSpec(child_id, worker, (child_id, rec), **options)


async def pids(node: actors.Node, sup: actors.PID) -> dict[str, actors.PID | None]:
    return {c.id: c.pid for c in await which_children(node, sup)}


async def _watch(proc: actors.Process, pid: actors.PID, box: list[actors.Exit]) -> None:
    proc.monitor(pid)
    event = await proc.events.receive()
    assert isinstance(event, actors.Exit)
    box.append(event)


def watch(node: actors.Node, pid: actors.PID) -> list[actors.Exit]:
    """Return a list that receives ``pid``'s Exit when it ends."""
    box: list[actors.Exit] = []
    node.spawn(_watch, pid, box)
    return box


async def poke(node: actors.Node, sup: actors.PID, child_id: str, topic: str = "crash") -> None:
    """Send ``topic`` to the child's current incarnation and let everything settle."""
    pid = (await pids(node, sup))[child_id]
    assert pid is not None
    node.send(pid, topic)
    await trio.testing.wait_all_tasks_blocked()


class TestSpecs:
    def test_child_spec_validates_fields(self) -> None:
        """A bad restart type, shutdown or id is a ValueError naming the field."""
        with pytest.raises(ValueError, match=r"^restart must be one of"):
            ChildSpec("a", helpers.idle, restart="sometimes")
        with pytest.raises(ValueError, match=r"^shutdown must be >= 0"):
            ChildSpec("a", helpers.idle, shutdown=-1)
        with pytest.raises(ValueError, match=r"^id must be a non-empty string"):
            ChildSpec("", helpers.idle)
        assert ChildSpec("a", helpers.idle, shutdown="1.5s").shutdown == 1.5

    def test_supervisor_spec_validates(self) -> None:
        """Duplicate ids, negative max_restarts and a zero period are refused."""
        with pytest.raises(ValueError, match=r"^duplicate child id 'a'$"):
            SupervisorSpec([ChildSpec("a", helpers.idle), ChildSpec("a", helpers.idle)])
        with pytest.raises(ValueError, match=r"^max_restarts must be an int >= 0"):
            SupervisorSpec([], max_restarts=-1)
        with pytest.raises(ValueError, match=r"^period must be > 0"):
            SupervisorSpec([], period=0)
        with pytest.raises(ValueError, match=r"^strategy must be one of"):
            SupervisorSpec([], strategy="all_for_none")


class TestRestartTypes:
    @pytest.mark.parametrize(
        ("restart", "topic", "restarted"),
        [
            ("permanent", "crash", True),
            ("permanent", "return", True),
            ("transient", "crash", True),
            ("transient", "return", False),
            ("temporary", "crash", False),
            ("temporary", "return", False),
        ],
    )
    async def test_restart_type_decides(self, restart: str, topic: str, restarted: bool) -> None:
        """permanent always restarts, transient only after an error, temporary never."""
        rec = Recorder()
        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec("a", rec, restart=restart)])
            await trio.testing.wait_all_tasks_blocked()
            await poke(node, sup, "a", topic)
            await trio.sleep(1)
            (info,) = await which_children(node, sup)
        assert (info.pid is not None) is restarted
        assert info.status == ("running" if restarted else "stopped")
        assert len(rec.starts["a"]) == (2 if restarted else 1)


class TestBackoff:
    async def test_sequence_of_instant_crashes(self) -> None:
        """A child crashing at once is restarted after 1, 2, 4, 8, 16, 32, 40, 40 s (capped)."""

        starts: list[float] = []

        async def crasher(proc: actors.Process) -> None:
            starts.append(trio.current_time())
            raise RuntimeError("boom")

        backoff = Backoff(initial=1, factor=2, max_delay=40, jitter=0)
        async with actors.open_node() as node:
            start_supervisor(node, [ChildSpec("a", crasher, backoff=backoff)], max_restarts=1000)
            await trio.sleep(1 + 2 + 4 + 8 + 16 + 32 + 40 + 40 + 0.5)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert gaps == [1, 2, 4, 8, 16, 32, 40, 40]

    async def test_default_backoff_doubles(self) -> None:
        """The default Backoff with jitter 0 gives the documented 1, 2, 4, 8 ... 90 s."""
        starts: list[float] = []

        async def crasher(proc: actors.Process) -> None:
            starts.append(trio.current_time())
            raise RuntimeError("boom")

        async with actors.open_node() as node:
            child = ChildSpec("a", crasher, backoff=Backoff(jitter=0))
            start_supervisor(node, [child], max_restarts=1000)
            await trio.sleep(1 + 2 + 4 + 8 + 16 + 32 + 64 + 90 + 90 + 0.5)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert gaps == [1, 2, 4, 8, 16, 32, 64, 90, 90]

    async def test_jitter_bounds(self) -> None:
        """With jitter 0.5 every delay lies within base * [0.5, 1.5]."""
        starts: list[float] = []

        async def crasher(proc: actors.Process) -> None:
            starts.append(trio.current_time())
            raise RuntimeError("boom")

        backoff = Backoff(initial=1, factor=2, max_delay=16, jitter=0.5)
        async with actors.open_node() as node:
            start_supervisor(node, [ChildSpec("a", crasher, backoff=backoff)], max_restarts=1000)
            await trio.sleep(500)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert len(gaps) >= 10
        for n, gap in enumerate(gaps, start=1):
            base = min(2 ** (n - 1), 16)
            assert base * 0.5 <= gap <= base * 1.5

    async def test_stable_run_resets_count(self) -> None:
        """A run of at least stable_threshold makes the next delay the initial one again."""
        rec = Recorder()
        backoff = Backoff(initial=1, factor=2, jitter=0, stable_threshold=5)
        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec("a", rec, backoff=backoff)], max_restarts=1000)
            await trio.testing.wait_all_tasks_blocked()
            for delay in (1, 2, 4):  # three quick failures (runs of 0.5 s)
                await poke(node, sup, "a")
                await trio.sleep(delay + 0.5)
            await trio.sleep(60)  # the current run becomes stable ...
            await poke(node, sup, "a")  # ... so this failure counts as the first again
            await trio.sleep(10)
        assert rec.starts["a"] == [0, 1, 3.5, 8, 69.5]

    async def test_max_attempts_escalates(self) -> None:
        """Reaching max_attempts stops retrying: the supervisor escalates after that many runs."""
        starts: list[float] = []

        async def crasher(proc: actors.Process) -> None:
            starts.append(trio.current_time())
            raise RuntimeError("boom")

        backoff = Backoff(initial=1, jitter=0, max_attempts=4)
        async with actors.open_node() as node:
            sup = start_supervisor(
                node, [ChildSpec("a", crasher, backoff=backoff)], max_restarts=99
            )
            exit = await node.wait_exit(sup)
        assert len(starts) == 4
        assert exit.reason is ExitReason.ERROR
        assert isinstance(exit.error, SupervisorEscalation)
        assert "max_attempts" in str(exit.error)


class TestStrategies:
    async def test_one_for_one_restarts_only_the_failed_child(self) -> None:
        """one_for_one restarts the failed child; its siblings keep their PIDs."""
        rec = Recorder()
        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec(c, rec) for c in "abc"])
            await trio.testing.wait_all_tasks_blocked()
            before = await pids(node, sup)
            await poke(node, sup, "b")
            after = await pids(node, sup)
            log = rec.log[3:]
        assert after["a"] == before["a"]
        assert after["c"] == before["c"]
        assert after["b"] not in (None, before["b"])
        assert log == [("start", "b")]

    async def test_one_for_all_restarts_everyone(self) -> None:
        """one_for_all stops the others in reverse order, then restarts all in order."""
        rec = Recorder()
        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec(c, rec) for c in "abcd"], strategy="one_for_all")
            await trio.testing.wait_all_tasks_blocked()
            before = await pids(node, sup)
            await poke(node, sup, "b")
            after = await pids(node, sup)
            log = rec.log[4:]
        assert all(after[c] not in (None, before[c]) for c in "abcd")
        assert log[:3] == [("stop", "d"), ("stop", "c"), ("stop", "a")]
        assert sorted(log[3:]) == [("start", c) for c in "abcd"]
        assert sorted("abcd", key=lambda c: after[c].seq) == list("abcd")  # type: ignore[union-attr]

    async def test_rest_for_one_restarts_the_later_children(self) -> None:
        """rest_for_one restarts the failed child and those started after it."""
        rec = Recorder()
        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec(c, rec) for c in "abcd"], strategy="rest_for_one")
            await trio.testing.wait_all_tasks_blocked()
            before = await pids(node, sup)
            await poke(node, sup, "b")
            after = await pids(node, sup)
            log = rec.log[4:]
        assert after["a"] == before["a"]
        assert all(after[c] not in (None, before[c]) for c in "bcd")
        assert log[:2] == [("stop", "d"), ("stop", "c")]
        assert sorted(log[2:]) == [("start", c) for c in "bcd"]
        assert sorted("bcd", key=lambda c: after[c].seq) == list("bcd")  # type: ignore[union-attr]

    async def test_group_restart_waits_for_the_failed_childs_backoff(self) -> None:
        """In one_for_all the whole group restarts together after the failed child's delay."""
        rec = Recorder()
        slow = Backoff(initial=3, jitter=0)
        async with actors.open_node() as node:
            children = [spec("a", rec), spec("b", rec, backoff=slow), spec("c", rec)]
            sup = start_supervisor(node, children, strategy="one_for_all")
            await trio.testing.wait_all_tasks_blocked()
            await poke(node, sup, "b")
            assert {c.status for c in await which_children(node, sup)} == {"restarting"}
            await trio.sleep(5)
        assert [rec.starts[c][1] for c in "abc"] == [3, 3, 3]

    async def test_temporary_sibling_is_not_restarted_by_the_group(self) -> None:
        """A temporary child stopped by a one_for_all restart stays stopped."""
        rec = Recorder()
        async with actors.open_node() as node:
            children = [spec("a", rec), spec("t", rec, restart="temporary"), spec("c", rec)]
            sup = start_supervisor(node, children, strategy=Strategy.ONE_FOR_ALL)
            await trio.testing.wait_all_tasks_blocked()
            await poke(node, sup, "a")
            after = await pids(node, sup)
        assert after["t"] is None
        assert after["a"] is not None
        assert after["c"] is not None


class TestIntensity:
    async def test_too_many_restarts_escalate(self) -> None:
        """More than max_restarts within period: children stopped, supervisor fails."""
        rec = Recorder()
        async with open_test_node() as tn:
            node, probe = tn.node, tn.probe()
            sup = start_supervisor(node, [spec(c, rec) for c in "abc"], max_restarts=2, period=10)
            probe.monitor(sup)
            await tn.settle()
            await poke(node, sup, "a")
            await tn.sleep(1)
            await poke(node, sup, "b")
            await tn.sleep(1)
            await probe.expect_no_message()
            await poke(node, sup, "c")
            exit = await probe.expect_exit(sup)
        assert exit.reason is ExitReason.ERROR
        assert isinstance(exit.error, SupervisorEscalation)
        assert "3 restarts within 10s (max_restarts=2)" in str(exit.error)
        assert rec.log[-2:] == [("stop", "b"), ("stop", "a")]
        assert all(n == 0 for n in rec.live.values())

    async def test_restarts_spread_out_do_not_escalate(self) -> None:
        """Restarts further apart than the period never exceed the intensity."""
        rec = Recorder()
        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec("a", rec)], max_restarts=1, period=5)
            await trio.testing.wait_all_tasks_blocked()
            for _ in range(10):
                await poke(node, sup, "a")
                await trio.sleep(6)
            assert node.is_alive(sup)
        assert len(rec.starts["a"]) == 11

    async def test_zero_max_restarts_escalates_on_first(self) -> None:
        """max_restarts=0 escalates on the first restart."""
        rec = Recorder()
        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec("a", rec)], max_restarts=0)
            await trio.testing.wait_all_tasks_blocked()
            await poke(node, sup, "a")
            assert not node.is_alive(sup)
        assert len(rec.starts["a"]) == 1


class TestTree:
    async def test_nested_supervisor_restarts_only_its_subtree(self) -> None:
        """A failure inside a child supervisor is handled there; the root does nothing."""
        rec = Recorder()
        async with actors.open_node() as node:
            sub = ChildSpec.supervisor(
                "sub", [spec("x", rec), spec("y", rec)], strategy="one_for_all", max_restarts=5
            )
            root = start_supervisor(node, [spec("w", rec), sub, spec("z", rec)])
            await trio.testing.wait_all_tasks_blocked()
            top_before = await pids(node, root)
            sub_pid = top_before["sub"]
            assert sub_pid is not None
            sub_before = await pids(node, sub_pid)
            await poke(node, sub_pid, "x")
            top_after = await pids(node, root)
            sub_after = await pids(node, sub_pid)
        assert top_after == top_before
        assert all(sub_after[c] not in (None, sub_before[c]) for c in "xy")
        assert len(rec.starts["w"]) == 1
        assert len(rec.starts["z"]) == 1

    async def test_escalation_restarts_the_child_supervisor(self) -> None:
        """A child supervisor that gives up is restarted by its parent with fresh children."""
        rec = Recorder()
        async with actors.open_node() as node:
            sub = ChildSpec.supervisor(
                "sub", [spec("x", rec), spec("y", rec)], max_restarts=0, backoff=NO_DELAY
            )
            root = start_supervisor(node, [spec("w", rec), sub], strategy="rest_for_one")
            await trio.testing.wait_all_tasks_blocked()
            top_before = await pids(node, root)
            sub_pid = top_before["sub"]
            assert sub_pid is not None
            await poke(node, sub_pid, "x")
            top_after = await pids(node, root)
        assert top_after["w"] == top_before["w"]
        assert top_after["sub"] not in (None, sub_pid)
        assert len(rec.starts["x"]) == 2
        assert len(rec.starts["y"]) == 2
        assert len(rec.starts["w"]) == 1
        assert not rec.overlaps

    async def test_supervisor_spawned_by_a_process_is_linked(self) -> None:
        """A supervisor started from a process dies with it, and stops its children."""
        rec = Recorder()

        async def owner(proc: actors.Process) -> None:
            start_supervisor(proc, [spec("a", rec)])
            await proc.inbox.receive()
            raise RuntimeError("owner failed")

        async with actors.open_node() as node:
            pid = node.spawn(owner)
            await trio.testing.wait_all_tasks_blocked()
            node.send(pid, "go")
            await trio.testing.wait_all_tasks_blocked()
            assert len(node) == 0
        assert rec.log == [("start", "a"), ("stop", "a")]

    async def test_stranger_link_failure_is_ignored(self) -> None:
        """A LinkDown from a process that is neither parent nor child does not stop it."""
        rec = Recorder()

        async def stranger(proc: actors.Process, sup: actors.PID) -> None:
            proc.link(sup)
            raise RuntimeError("stranger failed")

        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec("a", rec)])
            await trio.testing.wait_all_tasks_blocked()  # trapping starts when it runs
            node.spawn(stranger, sup)
            await trio.testing.wait_all_tasks_blocked()
            assert node.is_alive(sup)
            assert [c.status for c in await which_children(node, sup)] == ["running"]


class TestStopping:
    async def test_cancel_stops_children_in_reverse_order(self) -> None:
        """Cancel makes the supervisor stop c, b, a and return (reason shutdown)."""
        rec = Recorder()
        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec(c, rec) for c in "abc"])
            await trio.testing.wait_all_tasks_blocked()
            node.cancel(sup)
            exit = await node.wait_exit(sup)
        assert exit.reason is ExitReason.SHUTDOWN
        assert rec.log[3:] == [("stop", "c"), ("stop", "b"), ("stop", "a")]

    async def test_shutdown_timeout_then_terminate(self) -> None:
        """A child ignoring Cancel is terminated after its shutdown timeout."""
        exits: list[actors.Exit] = []

        async def watcher(proc: actors.Process, sup: actors.PID) -> None:
            (child,) = await which_children(proc, sup)
            assert child.pid is not None
            proc.monitor(child.pid)
            exits.append(await proc.events.receive())  # type: ignore[arg-type]

        async with actors.open_node() as node:
            sup = start_supervisor(node, [ChildSpec("f", helpers.forever, shutdown=2.5)])
            node.spawn(watcher, sup)
            await trio.testing.wait_all_tasks_blocked()
            node.cancel(sup)
            await node.wait_exit(sup)
            assert trio.current_time() == 2.5
        assert exits[0].reason is ExitReason.SHUTDOWN
        assert isinstance(exits[0].error, actors.Terminated)

    async def test_node_shutdown_stops_children_in_reverse_order(self) -> None:
        """Closing the node stops a top-level supervisor's children last to first."""
        rec = Recorder()
        async with actors.open_node() as node:
            start_supervisor(node, [spec(c, rec) for c in "abcd"])
            await trio.testing.wait_all_tasks_blocked()
        assert rec.log[4:] == [("stop", c) for c in "dcba"]
        assert all(len(rec.starts[c]) == 1 for c in "abcd")


class TestRequests:
    async def test_terminate_restart_start_delete(self) -> None:
        """Children can be stopped, restarted, added and deleted through calls."""
        rec = Recorder()
        async with actors.open_node() as node:
            sup = start_supervisor(node, [spec("a", rec), spec("b", rec)])
            await terminate_child(node, sup, "a")
            infos = await which_children(node, sup)
            assert [(c.id, c.status) for c in infos] == [("a", "stopped"), ("b", "running")]
            with pytest.raises(actors.CallFailed, match="is running"):
                await restart_child(node, sup, "b")
            new = await restart_child(node, sup, "a")
            assert (await pids(node, sup))["a"] == new
            added = await start_child(node, sup, spec("c", rec))
            assert node.is_alive(added)
            await terminate_child(node, sup, "c")
            await delete_child(node, sup, "c")
            assert [c.id for c in await which_children(node, sup)] == ["a", "b"]
            with pytest.raises(actors.CallFailed, match="no child with id 'zz'"):
                await terminate_child(node, sup, "zz")
            with pytest.raises(actors.CallFailed, match="unknown supervisor request"):
                await node.call(sup, "frobnicate", "a")

    async def test_supervise_can_be_spawned_directly(self) -> None:
        """supervise(proc, SupervisorSpec) is a plain process function."""
        rec = Recorder()
        async with actors.open_node() as node:
            sup = node.spawn(supervise, SupervisorSpec([spec("a", rec)]))
            await trio.testing.wait_all_tasks_blocked()
            assert [c.status for c in await which_children(node, sup)] == ["running"]

    async def test_spawn_failure_at_start_stops_started_children(self) -> None:
        """If a child cannot be spawned at start, the others are stopped and it fails."""
        rec = Recorder()
        async with actors.open_node() as node:
            children = [spec("a", rec), spec("b", rec, host="nowhere")]
            sup = start_supervisor(node, children)
            exit = await node.wait_exit(sup)
        assert isinstance(exit.error, ValueError)
        assert rec.log == [("start", "a"), ("stop", "a")]


# -- properties -------------------------------------------------------------------

RESTARTS = st.sampled_from(list(Restart))


@st.composite
def crash_schedules(draw: st.DrawFn) -> dict[str, Any]:
    """A supervisor configuration plus a schedule of (gap, child, topic) pokes."""
    n = draw(st.integers(3, 5))
    return {
        "restarts": draw(st.lists(RESTARTS, min_size=n, max_size=n)),
        "strategy": draw(st.sampled_from(list(Strategy))),
        "max_restarts": draw(st.integers(0, 4)),
        "period": draw(st.sampled_from([1.0, 5.0, 20.0])),
        "initial": draw(st.sampled_from([0.0, 0.5, 2.0])),
        "steps": draw(
            st.lists(
                st.tuples(
                    st.sampled_from([0.0, 0.25, 1.0, 3.0, 10.0]),
                    st.integers(0, n - 1),
                    st.sampled_from(["crash", "crash", "return"]),
                ),
                max_size=25,
            )
        ),
    }


class TestProperties:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(crash_schedules())
    def test_random_crash_schedules(self, case: dict[str, Any]) -> None:
        """Never two live instances, escalation exactly when intensity is exceeded,
        permanent children always come back."""
        trio.run(_run_schedule, case, clock=trio.testing.MockClock(autojump_threshold=0))


async def _run_schedule(case: dict[str, Any]) -> None:
    rec = Recorder()
    ids = [f"c{i}" for i in range(len(case["restarts"]))]
    backoff = Backoff(initial=case["initial"], jitter=0)
    children = [
        spec(cid, rec, restart=r, backoff=backoff)
        for cid, r in zip(ids, case["restarts"], strict=True)
    ]
    restart_of = dict(zip(ids, case["restarts"], strict=True))
    window: deque[float] = deque()
    escalated = False
    async with actors.open_node() as node:
        sup = start_supervisor(
            node,
            children,
            strategy=case["strategy"],
            max_restarts=case["max_restarts"],
            period=case["period"],
        )
        await trio.testing.wait_all_tasks_blocked()
        for gap, index, topic in case["steps"]:
            await trio.sleep(gap)
            await trio.testing.wait_all_tasks_blocked()
            current = await pids(node, sup)
            target = current[ids[index]]
            if target is None:
                continue
            reason = ExitReason.ERROR if topic == "crash" else ExitReason.NORMAL
            if restart_of[ids[index]].wanted(reason):
                now = trio.current_time()
                window.append(now)
                while window and window[0] <= now - case["period"]:
                    window.popleft()
                escalated = len(window) > case["max_restarts"]
            node.send(target, topic)
            await trio.testing.wait_all_tasks_blocked()
            assert node.is_alive(sup) is not escalated
            if escalated:
                event("escalated")
                break
        if not escalated:
            event("survived")
            await trio.sleep(1000)  # any pending backoff has passed
            for info in await which_children(node, sup):
                if info.restart is Restart.PERMANENT:
                    assert info.status == "running", info
                    assert info.pid is not None
                    assert node.is_alive(info.pid)
        else:
            assert all(n == 0 for n in rec.live.values())
    assert not rec.overlaps
