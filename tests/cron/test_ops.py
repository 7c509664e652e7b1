"""Operating a data folder: dead letters, replay, run-now, history, pause, list (virtual time)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
from actors.cron import CronEvent, JobStore, RetryPolicy, cron_service
from actors.cron import _ops as ops
from actors.cron._deadletters import (
    HISTORY_KEEP,
    HISTORY_MAX_BYTES,
    MAX_DEAD_PER_JOB,
    DeadLetter,
    append_history,
    dead_letter,
    list_dead,
    read_history,
)
from actors.cron._triggerfiles import Trigger, list_pending, write_trigger
from registry._cli import main

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


class Wall:
    """T0 plus trio's virtual time (T0 outside trio, for the synchronous tests)."""

    def __call__(self) -> dt.datetime:
        try:
            return T0 + dt.timedelta(seconds=trio.current_time())
        except RuntimeError:
            return T0


async def collect(proc: actors.Process, got: list[CronEvent]) -> None:
    """Collect cron events until Cancel."""
    proc.register("sink")
    while True:
        selected = await actors.select(proc.events, proc.inbox)
        if selected.source is proc.events:
            return
        got.append(selected.value.payload)


@asynccontextmanager
async def service(store: JobStore, **options: Any) -> AsyncIterator[actors.Node]:
    async with actors.open_node() as node:
        node.spawn(partial(cron_service, data_dir=store.path, wall_clock=Wall(), **options))
        yield node


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["cron", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(name="store")
def fixture_store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "data", clock=Wall())


class TestDeadLetters:
    async def test_dead_after_max_attempts_then_replayed(
        self, store: JobStore, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
    ) -> None:
        """A trigger for a missing target is retried 3 times, then dead: the folder stays
        bounded, the job counts the failure, replay delivers it once the target exists."""
        store.add("tick", "* * * * *", "sink", prompt="p")
        retry = RetryPolicy(initial_delay=1, max_delay=4, max_attempts=3)
        with caplog.at_level(logging.WARNING, "actors.cron"):
            async with service(store, retry=retry) as node:
                await trio.sleep(60 + 1 + 2 + 0.5)  # fire at 60 s, attempts at 60, 61, 63
                assert list_pending(store.triggers_dir) == []
                [letter], _ = list_dead(store.triggers_dir)
                assert (letter.trigger.attempt, letter.trigger.job_id) == (3, "tick")
                assert "ProcessNotFound" in letter.reason
                assert store.get("tick").failures == 1
                await trio.sleep(180)  # three more slots, three more dead letters, no pile-up
                assert len(list_dead(store.triggers_dir)[0]) == 4
                assert len(list_pending(store.triggers_dir)) <= 1
                got: list[CronEvent] = []
                node.spawn(collect, got)
                await trio.sleep(0.1)
                code, out, err = cli(capsys, "dead-letters", "--dir", str(store.path), "--json")
                assert (code, err) == (0, "")
                listed = json.loads(out)
                assert [d["job_id"] for d in listed] == ["tick"] * 4
                name = listed[0]["name"]
                code, out, _ = cli(
                    capsys, "dead-letters", "--dir", str(store.path), "--replay", name
                )
                assert code == 0
                assert out.startswith(f"{name} -> ")
                await trio.sleep(1)
                assert [(e.scheduled_for, e.attempt) for e in got] == [(T0 + MIN, 1)]
                assert len(list_dead(store.triggers_dir)[0]) == 3
        warned = [r.getMessage() for r in caplog.records if "target not found" in r.getMessage()]
        assert warned == [
            "cron job target not found job=tick target=sink: no process is registered under "
            "this name (a typo, or not started yet); its triggers will fail and become dead "
            "letters after 3 attempts"
        ]
        results = [line["result"] for line in read_history(store.path, "tick")]
        assert results == ["dead"] * 4 + ["replayed", "delivered"]

    def test_dead_letters_are_bounded_per_job(self, store: JobStore) -> None:
        """Each job keeps its newest 100 dead letters; other jobs' are untouched."""
        for job_id, count in (("k", 2), ("j", MAX_DEAD_PER_JOB + 5)):
            for n in range(count):
                slot = T0 + n * MIN
                trigger = Trigger("sink", "p", job_id=job_id, scheduled_for=slot, fired_at=slot)
                path = write_trigger(store.triggers_dir, trigger)
                dead_letter(path, trigger, "boom", now=slot)
        letters, problems = list_dead(store.triggers_dir)
        assert problems == []
        slots = {job: [d.trigger.scheduled_for for d in letters if d.trigger.job_id == job]
                 for job in ("j", "k")}  # fmt: skip
        assert slots["k"] == [T0, T0 + MIN]
        assert slots["j"] == [T0 + n * MIN for n in range(5, MAX_DEAD_PER_JOB + 5)]
        assert list_pending(store.triggers_dir) == []

    def test_unknown_dead_letter_exits_1_and_bad_name_2(
        self, store: JobStore, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Replaying a name that is not there exits 1; a path-like name exits 2."""
        code, _, err = cli(capsys, "dead-letters", "--dir", str(store.path), "--replay", "x.json")
        assert code == 1
        assert "no dead letter named 'x.json'" in err
        code, _, err = cli(capsys, "dead-letters", "--dir", str(store.path), "--replay", "../j")
        assert code == 2
        assert "invalid dead letter name '../j'" in err

    @settings(max_examples=200, deadline=None)
    @given(
        data=st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["trigger", "reason", "failed_at", "target", "x"]), inner
                )
            ),
            max_leaves=12,
        )
    )
    def test_dead_letter_files_parse_or_fail_with_value_error(self, data: object) -> None:
        """Any JSON is a dead letter or a ValueError naming what is wrong, never a crash."""
        try:
            letter = DeadLetter.from_json("n.json", data)
        except ValueError as exc:
            message = str(exc)
            assert message
        else:
            assert letter.trigger.target


class TestRunNow:
    async def test_run_now_is_delivered_once_and_recorded(
        self, store: JobStore, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """run-now writes one trigger, the service delivers it, the job records the fire."""
        store.add("daily", "0 3 * * *", "sink", prompt="p")
        got: list[CronEvent] = []
        async with service(store) as node:
            node.spawn(collect, got)
            await trio.sleep(10)
            code, out, err = cli(capsys, "run-now", "--dir", str(store.path), "daily")
            assert (code, err) == (0, "")
            assert out.strip().endswith("-daily.json")
            await trio.sleep(1)
        assert len(got) == 1
        assert got[0].job_id == "daily"
        assert store.get("daily").last_fired_at == got[0].scheduled_for
        assert [line["result"] for line in read_history(store.path, "daily")] == ["delivered"]

    def test_run_now_refuses_disabled_and_unknown(
        self, store: JobStore, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A disabled job exits 2 naming it; an unknown id exits 1."""
        store.add("off", "* * * * *", "sink", prompt="p", enabled=False)
        code, _, err = cli(capsys, "run-now", "--dir", str(store.path), "off")
        assert (code, err.strip()) == (
            2,
            "actors cron run-now: error: job 'off' is disabled; enable it before run-now",
        )
        assert cli(capsys, "run-now", "--dir", str(store.path), "nope")[0] == 1
        assert list_pending(store.triggers_dir) == []


class TestPause:
    async def test_paused_store_fires_nothing_and_resumes_by_policy(
        self, store: JobStore, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """While paused no slot fires; on resume missed slots follow catch_up (once: one)."""
        store.add("every", "* * * * *", "sink", prompt="p", catch_up="once")
        got: list[CronEvent] = []
        async with service(store, misfire_grace=0) as node:
            node.spawn(collect, got)
            await trio.sleep(90)
            assert cli(capsys, "pause", "--dir", str(store.path))[:2] == (0, "paused\n")
            out = cli(capsys, "list", "--dir", str(store.path))[1]
            assert out.startswith("# paused since ")
            await trio.sleep(240)  # slots at 2, 3, 4, 5 min pass while paused
            assert [e.scheduled_for for e in got] == [T0 + MIN]
            assert cli(capsys, "resume", "--dir", str(store.path))[:2] == (0, "resumed\n")
            await trio.sleep(40)
        assert [e.scheduled_for for e in got] == [T0 + MIN, T0 + 5 * MIN, T0 + 6 * MIN]


class TestListAndHistory:
    def test_next_fire_in_the_zone_and_utc(self, store: JobStore) -> None:
        """list --tz shows the next slot in that zone with its UTC instant; DST applies."""
        store.add("nightly", "30 2 * * *", "sink", prompt="p")
        now = dt.datetime(2030, 3, 30, 12, 0, tzinfo=dt.UTC)  # Berlin springs forward on the 31st
        [status] = ops.statuses(store, tz=ZoneInfo("Europe/Berlin"), now=now)
        assert status.next_fire is not None
        assert status.to_json()["next_fire"] == "2030-03-31T03:00:00+02:00"  # 02:30 does not exist
        assert status.to_json()["next_fire_utc"] == "2030-03-31T01:00:00.000000Z"

    def test_list_shows_last_result_and_failures(
        self, store: JobStore, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The text listing names the last fire, its result and the failure count."""
        store.add("j", "* * * * *", "sink", prompt="p")
        store.fire("j", T0)
        store.record_failure("j")
        trigger = Trigger("sink", "p", job_id="j", scheduled_for=T0, attempt=20)
        append_history(store.path, trigger, "dead", now=T0, reason="boom")
        code, out, _ = cli(capsys, "list", "--dir", str(store.path), "--tz", "Asia/Tokyo")
        assert code == 0
        assert "last=2030-01-01T12:00:00.000000Z result=dead: boom failures=1" in out
        assert "+09:00 (" in out
        assert cli(capsys, "list", "--dir", str(store.path), "--tz", "Mars/X")[2] == (
            "actors cron list: error: --tz: unknown time zone 'Mars/X'\n"
        )

    def test_history_is_bounded(self, store: JobStore, capsys: pytest.CaptureFixture[str]) -> None:
        """A job's history file is cut to its newest lines; history prints the newest N."""
        store.add("j", "* * * * *", "sink", prompt="p")
        for n in range(2000):
            slot = T0 + n * MIN
            append_history(
                store.path,
                Trigger("sink", "p", job_id="j", scheduled_for=slot),
                "delivered",
                now=slot,
            )
        path = store.path / "history" / "j.jsonl"
        assert path.stat().st_size <= HISTORY_MAX_BYTES
        assert len(path.read_text().splitlines()) >= HISTORY_KEEP
        code, out, _ = cli(capsys, "history", "--dir", str(store.path), "j", "--limit", "2")
        assert code == 0
        assert [line.split()[0] for line in out.splitlines()] == [
            "2030-01-02T21:18:00.000000Z",
            "2030-01-02T21:19:00.000000Z",
        ]
        assert cli(capsys, "history", "--dir", str(store.path), "j", "--limit", "0")[0] == 2
        assert cli(capsys, "history", "--dir", str(store.path), "nope")[0] == 1
