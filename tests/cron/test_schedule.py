"""Per-job zones (``CRON_TZ=``) and interval jobs (``@every``): parsing, DST, catch-up."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import tempfile
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
from actors.cron import CronEvent, JobStore, cron_service
from actors.cron._schedule import format_schedule, schedule_trigger
from registry._cli import main

UTC = ZoneInfo("UTC")
T0 = dt.datetime(2030, 3, 30, 12, 0, tzinfo=dt.UTC)  # Berlin springs forward on the 31st


class Wall:
    def __init__(self, start: dt.datetime = T0) -> None:
        self.start = start

    def __call__(self) -> dt.datetime:
        try:
            return self.start + dt.timedelta(seconds=trio.current_time())
        except RuntimeError:
            return self.start


async def collect(proc: actors.Process, got: list[CronEvent]) -> None:
    proc.register("sink")
    while True:
        selected = await actors.select(proc.events, proc.inbox)
        if selected.source is proc.events:
            return
        got.append(selected.value.payload)


@asynccontextmanager
async def running(
    store: JobStore, wall: Wall, got: list[CronEvent], **options: Any
) -> AsyncIterator[None]:
    async with actors.open_node() as node:
        node.spawn(collect, got)
        node.spawn(partial(cron_service, data_dir=store.path, wall_clock=wall, **options))
        yield


class TestZones:
    async def test_job_zone_overrides_the_service_zone_across_dst(self, tmp_path: Path) -> None:
        """A CRON_TZ job fires by its own zone's wall clock: 02:30 Berlin on the spring-forward
        day (which does not exist) fires at 03:00 CEST, then 02:30 CEST the next day."""
        wall = Wall()
        store = JobStore(tmp_path / "data", clock=wall)
        store.add("nightly", "CRON_TZ=Europe/Berlin 30 2 * * *", "sink", prompt="p")
        got: list[CronEvent] = []
        async with running(store, wall, got, tz="America/New_York", poll_interval=600):
            await trio.sleep(2 * 86400)
        assert [e.scheduled_for for e in got] == [
            dt.datetime(2030, 3, 31, 1, 0, tzinfo=dt.UTC),
            dt.datetime(2030, 4, 1, 0, 30, tzinfo=dt.UTC),
        ]

    async def test_repeated_hour_fires_once(self, tmp_path: Path) -> None:
        """On the fall-back night 02:30 Berlin happens twice and fires once."""
        wall = Wall(dt.datetime(2030, 10, 26, 12, 0, tzinfo=dt.UTC))
        store = JobStore(tmp_path / "data", clock=wall)
        store.add("nightly", "CRON_TZ=Europe/Berlin 30 2 * * *", "sink", prompt="p")
        got: list[CronEvent] = []
        async with running(store, wall, got, poll_interval=600):
            await trio.sleep(86400)
        assert [e.scheduled_for for e in got] == [dt.datetime(2030, 10, 27, 0, 30, tzinfo=dt.UTC)]


class TestIntervals:
    async def test_every_fires_on_its_grid_and_keeps_it_across_a_restart(
        self, tmp_path: Path
    ) -> None:
        """@every 90s from a start fires at start + k * 90 s; after 10 minutes down with
        catch_up none the missed slots are skipped and the grid is kept."""
        wall = Wall()
        store = JobStore(tmp_path / "data", clock=wall)
        start = T0 + dt.timedelta(seconds=10)
        text = format_schedule(every="90s", start=start.isoformat())
        store.add("beat", text, "sink", prompt="p")
        got: list[CronEvent] = []
        async with running(store, wall, got, misfire_grace=5):
            await trio.sleep(200)  # slots at 10, 100, 190
        async with actors.open_node():
            await trio.sleep(600)  # down: slots at 280 ... 730 are missed
        async with running(store, wall, got, misfire_grace=5):
            await trio.sleep(200)  # slots at 820, 910, (1000 is after the window)
        offsets = [(e.scheduled_for - T0).total_seconds() for e in got if e.scheduled_for]
        assert offsets == [10, 100, 190, 820, 910]

    def test_jitter_is_a_fixed_delay_per_job_below_the_interval(self) -> None:
        """jitter moves all slots of a job by the same amount in [0, jitter], per job id."""
        text = format_schedule(every="1m", start="2030-01-01T00:00:00Z", jitter="30s")
        base = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        delays = set()
        for job_id in ("a", "b", "c", "d"):
            trigger = schedule_trigger(text, UTC, hash_id=job_id, created_at=base)
            first = trigger.next_fire(None)
            assert first is not None
            second = trigger.next_fire(first)
            assert second is not None
            assert second - first == dt.timedelta(minutes=1)
            assert dt.timedelta(0) <= first - base <= dt.timedelta(seconds=30)
            delays.add(first - base)
        assert len(delays) > 1  # jobs spread out

    @settings(max_examples=50, deadline=None)
    @given(
        job_id=st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
        period=st.integers(2, 86_400),
        share=st.floats(0, 0.99),
    )
    def test_jittered_slots_are_the_same_for_every_scheduler_and_restart(
        self, job_id: str, period: int, share: float
    ) -> None:
        """A slot's time is its identity (last_fired_at, the PostgreSQL ledger key): two
        schedulers, or one after a restart, must compute the same jittered slots."""
        jitter = int(period * share)
        text = format_schedule(
            every=f"{period}s", start="2030-01-01T00:00:00Z", jitter=f"{jitter}s"
        )
        base = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        runs = []
        for _ in range(2):
            trigger = schedule_trigger(text, UTC, hash_id=job_id, created_at=base)
            slots = [trigger.next_fire(None)]
            for _ in range(3):
                previous = slots[-1]
                assert previous is not None
                slots.append(trigger.next_fire(previous))
            runs.append(slots)
        assert runs[0] == runs[1]
        first = runs[0][0]
        assert first is not None and dt.timedelta(0) <= first - base <= dt.timedelta(seconds=jitter)
        gaps = {b - a for a, b in zip(runs[0], runs[0][1:], strict=False)}  # type: ignore[operator]
        assert gaps == {dt.timedelta(seconds=period)}  # a fixed offset keeps the interval exact

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"every": "0s"}, "--every must be from 1s to 3660 days, got '0s'"),
            ({"every": "soon"}, "invalid duration 'soon'"),
            ({"every": "1m", "jitter": "2m"}, "jitter '2m' must be shorter than the interval"),
            ({"every": "1m", "tz": "UTC"}, "--tz goes with --cron"),
            ({"cron": "* * * * *", "jitter": "1s"}, "--start and --jitter go with --every"),
            ({"cron": "* * * * *", "tz": "Moon/Base"}, "--tz: unknown time zone 'Moon/Base'"),
            ({"every": "1m", "start": "tomorrow"}, "field '--start' is not an ISO 8601 time"),
            ({"every": "1m", "start": "2030-01-01T00:00"}, "field '--start' has no timezone"),
            ({}, "give one of --cron EXPR and --every DURATION"),
        ],
    )
    def test_bad_options_name_the_option(self, options: dict[str, str], message: str) -> None:
        """Each bad combination or value is a ValueError naming the option and value."""
        cron = options.pop("cron", None)
        with pytest.raises(ValueError) as info:
            format_schedule(cron, **options)
        assert message in str(info.value)


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
_DURATIONS = st.sampled_from(["90s", "1m", "1h30m", "0s", "-5s", "10d", "100000d", "1.5s"])


@settings(max_examples=50, deadline=None)
@given(
    every=st.none() | _DURATIONS | _TEXT,
    cron=st.none() | st.sampled_from(["* * * * *", "0 0 31 2 *", "*/0 * * * *"]) | _TEXT,
    tz=st.none() | st.sampled_from(["UTC", "Europe/Berlin", "../etc/passwd", ""]) | _TEXT,
    start=st.none() | st.sampled_from(["2030-01-01T00:00:00Z", "2030-01-01"]) | _TEXT,
    jitter=st.none() | _DURATIONS | _TEXT,
)
def test_generated_add_arguments_exit_0_or_2_with_one_line(
    every: str | None, cron: str | None, tz: str | None, start: str | None, jitter: str | None
) -> None:
    """Whatever the --cron/--every/--tz/--start/--jitter values, add exits 0 or 2 with one
    error line naming an option, never a traceback."""
    argv = ["cron", "add", "--init", "--name", "j", "--target", "t", "--prompt", "p"]
    for option, value in (("--cron", cron), ("--every", every), ("--tz", tz)):
        if value is not None:
            argv += [option, value]
    for option, value in (("--start", start), ("--jitter", jitter)):
        if value is not None:
            argv += [f"{option}={value}"]
    err = io.StringIO()
    with tempfile.TemporaryDirectory() as folder:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main([*argv[:2], "--dir", folder, *argv[2:]])
            except SystemExit as exc:  # argparse: both or neither of --cron/--every
                code = int(exc.code or 0)
        if code == 0:
            [job] = JobStore(folder).list()
            schedule_trigger(job.cron, UTC, hash_id=job.id, created_at=job.created_at)
    assert code in (0, 2), err.getvalue()
    text = err.getvalue()
    assert "Traceback" not in text
    if code == 2 and text.startswith("actors cron add: error: "):
        assert len(text.splitlines()) == 1


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(_TEXT, st.builds(lambda a, b: f"@every {a} {b}", _DURATIONS, _TEXT),
                      st.builds(lambda z: f"CRON_TZ={z} * * * * *", _TEXT)))  # fmt: skip
def test_schedule_text_is_a_trigger_or_a_value_error(text: str) -> None:
    """Any schedule text in a job file is a trigger or a ValueError (a malformed job)."""
    with contextlib.suppress(ValueError):
        schedule_trigger(text, UTC, hash_id="x", created_at=T0)
