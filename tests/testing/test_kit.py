"""actors.testing: probes, stubs, time travel, faults, log capture, trigger fires, the plugin."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
from actors.testing import (
    ExpectationFailed,
    TestNode,
    capture_logs,
    open_test_node,
    run_test,
    trigger_fires,
)
from actors.testing._logs import parse_line

BERLIN = ZoneInfo("Europe/Berlin")


async def echo(proc: actors.Process) -> None:
    async for message in proc.inbox:
        proc.send(message.sender, "echo", message.payload)


class TestProbe:
    async def test_expect_message_by_topic_glob_and_match(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()
        pid = actors_node.spawn(echo)
        probe.send(pid, "ping", 1)
        probe.send(pid, "ping", 2)
        assert (await probe.expect_message("echo", match=1)).payload == 1
        got = await probe.expect_message("ec*", match=lambda p: p > 1)
        assert got.sender == pid

    async def test_a_failure_lists_what_arrived(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()
        actors_node.node.send(probe.pid, "hello", {"n": 1})
        with pytest.raises(ExpectationFailed) as caught:
            await probe.expect_message("bye", within=0.5)
        text = str(caught.value)
        assert "expected a message with topic='bye' within 0.5s" in text
        assert "message topic='hello' payload={'n': 1}" in text

    async def test_a_failure_says_why_a_peer_died(self, actors_node: TestNode) -> None:
        """The README's echo replies to a plain send and crashes: the failure names the error."""

        async def replying_echo(proc: actors.Process) -> None:
            async for msg in proc.inbox:
                proc.reply(msg, msg.payload)  # ValueError: not sent with call()

        probe = actors_node.probe()
        pid = actors_node.spawn(replying_echo)
        probe.send(pid, "ping", 1)
        with pytest.raises(ExpectationFailed) as caught:
            await probe.expect_message("ping", within=0.5)
        text = str(caught.value)
        assert "nothing arrived" in text
        assert f"peer {pid} (sent to by this probe) exited: reason=error error=ValueError(" in text

    async def test_nothing_arrived_says_so_and_takes_the_time(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()
        start = trio.current_time()
        with pytest.raises(ExpectationFailed, match="nothing arrived"):
            await probe.expect_message(within=2.0)
        assert trio.current_time() - start == pytest.approx(2.0)

    async def test_expect_no_message(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()
        await probe.expect_no_message(within=1.0)
        actors_node.node.send(probe.pid, "late", None)
        with pytest.raises(ExpectationFailed, match="got message topic='late'"):
            await probe.expect_no_message()

    async def test_fish_for_skips_and_receive_all_drains(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()
        for i in range(5):
            actors_node.node.send(probe.pid, "n", i)
        actors_node.node.send(probe.pid, "tail", None)
        assert (await probe.fish_for("n", match=3)).payload == 3
        rest = probe.receive_all()
        assert [m.topic for m in rest] == ["n", "tail"]
        assert probe.receive_all() == []
        assert len(probe.history) == 6
        with pytest.raises(ExpectationFailed, match="none came"):
            await probe.fish_for("never", within=0.1)

    async def test_expect_exit_with_reason(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()

        async def fails(proc: actors.Process) -> None:
            await proc.sleep(1)
            raise ValueError("boom")

        pid = actors_node.spawn(fails)
        actors_node.node.send(probe.pid, "kept", None)
        exit = await probe.expect_exit(pid, reason="error", within=2)
        assert isinstance(exit.error, ValueError)
        assert (await probe.expect_message("kept")).topic == "kept"  # not skipped
        other = actors_node.spawn(fails)
        with pytest.raises(ExpectationFailed, match="it ended with error"):
            await probe.expect_exit(other, reason="normal", within=2)

    async def test_probe_call_and_reply(self, actors_node: TestNode) -> None:
        server, client = actors_node.probe(), actors_node.probe()
        async with trio.open_nursery() as nursery:
            result: list[object] = []

            async def ask() -> None:
                result.append(await client.call(server.pid, "q", 2))

            nursery.start_soon(ask)
            request = await server.expect_message("q")
            server.reply(request, 4)
        assert result == [4]


class TestFaults:
    async def test_crash_is_an_error_exit_seen_by_links(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()
        pid = actors_node.spawn(echo)
        probe.link(pid)
        probe.monitor(pid)
        actors_node.crash(pid, KeyError("k"))
        exit = await probe.expect_exit(pid, reason="error")
        assert isinstance(exit.error, KeyError)
        assert any(isinstance(e, actors.LinkDown) for e in probe.history)

    async def test_terminate(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()
        pid = actors_node.spawn(echo)
        probe.monitor(pid)
        actors_node.terminate(pid)
        exit = await probe.expect_exit(pid, reason="error")
        assert isinstance(exit.error, actors.Terminated)

    async def test_drop_then_remove(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()
        pid = actors_node.spawn(echo)
        rule = actors_node.drop(pid, "pi*")
        probe.send(pid, "ping", 1)
        probe.send(pid, "other", 2)
        assert (await probe.expect_message("echo")).payload == 2
        await probe.expect_no_message()
        assert rule.hits == 1
        rule.remove()
        probe.send(pid, "ping", 3)
        assert (await probe.expect_message("echo")).payload == 3

    async def test_delay_with_limit(self, actors_node: TestNode) -> None:
        probe = actors_node.probe()
        pid = actors_node.spawn(echo)
        actors_node.delay(pid, "ping", "5s", limit=1)
        start = trio.current_time()
        probe.send(pid, "ping", "slow")
        probe.send(pid, "ping", "fast")
        assert (await probe.expect_message("echo")).payload == "fast"
        assert (await probe.expect_message("echo", within=10)).payload == "slow"
        assert trio.current_time() - start == pytest.approx(5.0)

    async def test_bad_rules_are_refused(self, actors_node: TestNode) -> None:
        pid = actors_node.spawn(echo)
        with pytest.raises(ValueError, match="limit must be >= 1"):
            actors_node.drop(pid, "x", limit=0)
        with pytest.raises(actors.ProcessNotFound):
            actors_node.drop("nobody", "x")

    async def test_stub_answers_from_its_table(self, actors_node: TestNode) -> None:
        stub = actors_node.stub(
            {"get": 42, "double": lambda x: 2 * x, "fail": ValueError("no")}, name="db"
        )
        node = actors_node.node
        assert await node.call("db", "get") == 42
        assert await node.call("db", "double", 21) == 42
        with pytest.raises(actors.CallFailed, match="ValueError"):
            await node.call("db", "fail")
        with pytest.raises(actors.CallFailed, match="stub has no answer for 'put'"):
            await node.call("db", "put", 1)
        node.send("db", "note", "x")
        await actors_node.settle()
        assert stub.topics() == ["get", "double", "fail", "put", "note"]
        assert stub.payloads("double") == [21]


class TestTimeTravel:
    async def test_jump_moves_both_clocks_and_fires_late(self, actors_node: TestNode) -> None:
        ticks: list[float] = []

        async def tick(proc: actors.Process) -> None:
            async for at in proc.ticker(1.0):
                ticks.append(at)

        actors_node.spawn(tick)
        await actors_node.settle()
        before_wall, before = actors_node.now(), trio.current_time()
        await actors_node.jump("10s")
        assert trio.current_time() - before == pytest.approx(10.0)
        assert actors_node.now() - before_wall == timedelta(seconds=10)
        assert len(ticks) >= 1  # the ticker saw the stall at once

    async def test_suspend_moves_the_wall_clock_alone(self, actors_node: TestNode) -> None:
        before = trio.current_time()
        actors_node.suspend("1h")
        assert trio.current_time() == before
        assert actors_node.now() == datetime(2024, 1, 1, 1, tzinfo=UTC)
        actors_node.step_wall(-60)
        assert actors_node.now() == datetime(2024, 1, 1, 0, 59, tzinfo=UTC)
        actors_node.set_wall(datetime(2030, 5, 5, tzinfo=UTC))
        assert actors_node.now().year == 2030

    async def test_a_dst_case_of_a_schedule_is_one_line(self) -> None:
        """A daily 02:30 Berlin job on the spring-forward day fires once, at 03:00 local."""
        fired: list[datetime] = []

        async def job(proc: actors.Process, fire: actors.Fire) -> None:
            fired.append(fire.scheduled.astimezone(BERLIN))

        async with open_test_node(wall=datetime(2024, 3, 30, 12, tzinfo=BERLIN)) as tn:
            trigger = actors.CronTrigger("30 2 * * *", tz="Europe/Berlin")
            actors.start_schedule(tn.node, actors.Schedule(trigger, job), wall_clock=tn.wall)
            await tn.advance_to(datetime(2024, 4, 1, 12, tzinfo=BERLIN))
        assert [f.isoformat() for f in fired] == [
            "2024-03-31T03:00:00+02:00",
            "2024-04-01T02:30:00+02:00",
        ]

    async def test_jump_to_and_bad_targets(self, actors_node: TestNode) -> None:
        await actors_node.jump_to(datetime(2024, 1, 2, 1, tzinfo=BERLIN))
        assert actors_node.now() == datetime(2024, 1, 2, 0, tzinfo=UTC)
        with pytest.raises(ValueError, match="is before the wall clock"):
            await actors_node.jump_to(datetime(2023, 1, 1, tzinfo=UTC))
        with pytest.raises(ValueError, match="when"):
            await actors_node.advance_to(datetime(2025, 1, 1))

    @pytest.mark.real_time
    async def test_jump_on_a_real_clock_is_a_clear_error(self) -> None:
        async with open_test_node() as tn:
            with pytest.raises(RuntimeError, match="needs trio's virtual clock"):
                await tn.jump(1)

    async def test_a_failure_in_the_block_is_not_wrapped(self) -> None:
        with pytest.raises(ExpectationFailed, match="nothing arrived"):
            async with open_test_node() as tn:
                await tn.probe().expect_message(within=0.1)

    def test_run_test_for_other_runners(self) -> None:
        async def body(tn: TestNode) -> float:
            probe = tn.probe()
            await probe.expect_no_message(within=3600)
            return trio.current_time()

        assert run_test(body) >= 3600


class TestTriggerFires:
    def test_cron_fires_across_fall_back(self) -> None:
        trigger = actors.CronTrigger("30 2 * * *", tz="Europe/Berlin")
        start = datetime(2024, 10, 26, tzinfo=BERLIN)
        fires = trigger_fires(trigger, start, start + timedelta(days=3), tz=BERLIN)
        assert [f.isoformat() for f in fires] == [
            "2024-10-26T02:30:00+02:00",
            "2024-10-27T02:30:00+02:00",
            "2024-10-28T02:30:00+01:00",
        ]

    def test_window_start_is_inclusive_and_limit(self) -> None:
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        trigger = actors.IntervalTrigger(timedelta(minutes=1), start=t0)
        assert trigger_fires(trigger, t0, t0 + timedelta(minutes=3)) == [
            t0 + timedelta(minutes=i) for i in range(3)
        ]
        assert len(trigger_fires(trigger, t0, t0 + timedelta(days=9), limit=5)) == 5
        with pytest.raises(ValueError, match="is before start"):
            trigger_fires(trigger, t0, t0 - timedelta(1))
        with pytest.raises(ValueError, match="start"):
            trigger_fires(trigger, datetime(2024, 1, 1), t0)


def test_the_plugin_is_an_entry_point() -> None:
    """pip install gives pytest the plugin (and so the fixtures) with no conftest line."""
    import importlib.metadata

    (plugin,) = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "actors"]
    assert plugin.value == "actors.testing._plugin"


class TestLogs:
    def test_assert_logged_in_key_value_style(self) -> None:
        log = actors.get_logger("app.jobs")
        with capture_logs() as logs:
            log.info("Job started", name="heartbeat", interval="1s")
            log.warning("Job failed", name="x y", error='"quoted"')
        logs.assert_logged("Job started", name="heartbeat")
        line = logs.assert_logged("Job failed", level="warning", name="x y")
        assert line.fields["error"] == '"quoted"'
        logs.assert_not_logged("Job started", name="other")
        with pytest.raises(AssertionError, match=r"(?s)no log line 'Job done'.*Job started"):
            logs.assert_logged("Job done")

    async def test_the_fixture_captures_the_runtime_logs(
        self, actors_node: TestNode, actors_logs: actors.testing.LogCapture
    ) -> None:
        async def bad(proc: actors.Process) -> None:
            raise ValueError("x")

        actors_node.spawn(bad)
        await actors_node.settle()
        assert any(line.level == "ERROR" for line in actors_logs.lines)
        assert logging.getLogger().level != logging.DEBUG or True

    @settings(max_examples=60, deadline=None)
    @given(
        event=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1).map(
            lambda s: "Ev " + s
        ),
        fields=st.dictionaries(
            st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
            st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
            max_size=4,
        ),
    )
    def test_parse_inverts_format(self, event: str, fields: dict[str, str]) -> None:
        from actors._core._logging import format_fields

        assert parse_line(format_fields(event, fields)) == (event, fields)


async def test_the_fixture_runs_on_virtual_time(actors_node: TestNode) -> None:
    assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)


@pytest.mark.slow
def test_a_user_project_gets_the_fixture_with_no_conftest(tmp_path: Path) -> None:
    """A fresh project (no conftest, no trio_mode) uses actors_node and runs on virtual time."""
    (tmp_path / "test_user.py").write_text(
        "import trio, trio.testing\n"
        "async def test_day(actors_node):\n"
        "    probe = actors_node.probe()\n"
        "    await probe.expect_no_message(within=86400)\n"
        "    assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)\n"
        "    assert trio.current_time() >= 86400\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
