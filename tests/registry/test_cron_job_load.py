"""``cron.job`` entries in index files are checked at load: a bad schedule stops the app."""

from __future__ import annotations

import argparse
import io
import re
import string
from collections.abc import Callable
from pathlib import Path

import pytest
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from registry import IndexFileError, load_app
from registry._app import run_app_cli

Write = Callable[..., Path]

JOBS = "def tick():\n    return 1\n"


def app_with(write: Write, meta: str, folder: str = "app") -> Path:
    write(f"{folder}/jobs.py", JOBS)
    index = write(
        f"{folder}/_index.yaml",
        f"""
        version: "1.0"
        namespace: app
        entries:
          - name: ok
            kind: function
            source: file://jobs.py
            method: tick
            meta: {{type: cron.job, interval: 1s}}
          - name: job
            kind: function
            source: file://jobs.py
            method: tick
            meta: {meta}
        """,
    )
    return index.parent


class TestLoad:
    @pytest.mark.parametrize(
        ("meta", "field", "needle"),
        [
            ('{type: cron.job, cron: "61 * * * *"}', "meta.cron", "'61 * * * *'"),
            ("{type: cron.job, interval: 5 sec}", "meta.interval", "'5 sec'"),
            ('{type: cron.job, cron: "* * * * *", tz: tz}', "meta.tz", "'tz'"),
            ("{type: cron.job}", "meta.interval", "give exactly one"),
            ("{type: cron.job, interval: 1s, overlap: often}", "meta.overlap", "'often'"),
        ],
    )
    def test_bad_schedule_names_file_entry_field_value(
        self, write: Write, meta: str, field: str, needle: str
    ) -> None:
        """The problem names the index file, the entry, the field and the bad value."""
        folder = app_with(write, meta)
        with pytest.raises(IndexFileError) as caught:
            load_app(folder)
        text = str(caught.value)
        assert f"{folder / '_index.yaml'}, entry app:job, field {field}: " in text
        assert needle in text
        assert "app:ok" not in text  # the good job is not blamed

    def test_the_message_is_the_triggers_own(self, write: Write) -> None:
        """The text is CronTrigger's / parse_duration's ValueError, not a paraphrase."""
        folder = app_with(write, '{type: cron.job, cron: "61 * * * *"}')
        with pytest.raises(ValueError) as expected:
            actors.CronTrigger("61 * * * *")
        with pytest.raises(IndexFileError, match=r"field meta\.cron") as caught:
            load_app(folder)
        assert str(expected.value) in str(caught.value)

    def test_non_function_cron_job_is_refused(self, write: Write) -> None:
        """Only ``function`` entries can be jobs."""
        write("app/jobs.py", "async def main(proc):\n    pass\n")
        write(
            "app/_index.yaml",
            """
            version: "1.0"
            namespace: app
            entries:
              - {name: p, kind: process, source: file://jobs.py, method: main,
                 meta: {type: cron.job, interval: 1s}}
            """,
        )
        with pytest.raises(IndexFileError, match=r"entry app:p, field kind: a cron\.job must be"):
            load_app(write("app/x.txt", "").parent)

    def test_good_jobs_load(self, write: Write) -> None:
        """Valid schedules load as before."""
        folder = app_with(write, '{type: cron.job, cron: "0 9 * * 1-5", tz: Europe/Berlin}')
        plan = load_app(folder)
        assert {entry.id for entry in plan.entries} == {"app:ok", "app:job"}

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(text=st.text(alphabet=string.ascii_letters + string.digits + " */-,", max_size=20))
    def test_any_interval_loads_or_names_the_field(self, write: Write, text: str) -> None:
        """Any interval text either loads or is one problem naming meta.interval; never a crash."""
        folder = app_with(write, f"{{type: cron.job, interval: {text!r}}}")
        problem: IndexFileError | None = None
        try:
            load_app(folder)
        except IndexFileError as error:
            problem = error
        if problem is None:
            assert actors.parse_duration(text) > 0
        else:
            assert "entry app:job, field meta.interval: " in str(problem)

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        text=st.text(alphabet="0123456789 */-,LW#?H", max_size=24),
        tz=st.sampled_from(["UTC", "Europe/Berlin", "Mars/Base", "tz"]),
    )
    def test_any_cron_loads_or_names_the_field(self, write: Write, text: str, tz: str) -> None:
        """Any cron text and zone: it loads, or the problem names meta.cron or meta.tz."""
        folder = app_with(write, f"{{type: cron.job, cron: {text!r}, tz: {tz}}}")
        problem: IndexFileError | None = None
        try:
            load_app(folder)
        except IndexFileError as error:
            problem = error
        if problem is None:
            actors.CronTrigger(text, tz=tz, hash_id="app:job")  # the same check passes
        else:
            assert re.search(r"entry app:job, field meta\.(cron|tz): ", str(problem))


def test_actors_run_exits_2_before_anything_starts(write: Write) -> None:
    """``actors run`` on an app with a bad cron: exit 2, the error paragraph, no 'App started'."""
    folder = app_with(write, '{type: cron.job, cron: "61 * * * *"}')
    out = io.StringIO()
    args = argparse.Namespace(dir=str(folder), grace=None, log_level="INFO")
    code = run_app_cli(args, stderr=out, clock=trio.testing.MockClock(autojump_threshold=0))
    text = out.getvalue()
    assert code == 2
    assert "entry app:job, field meta.cron: invalid cron expression '61 * * * *'" in text
    assert "App started" not in text and "Traceback" not in text
