"""``actors cron serve``, the ``cron.durable`` entry kind and the service roles."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
import registry
from actors.cron import CronEvent, JobStore, RunRetention, cron_service, write_trigger
from actors.cron import TriggerFile as Trigger
from actors.cron._triggerfiles import list_pending
from registry._cli import main

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)

AGENT = """
import actors


async def main(proc, out):
    proc.register("agent")
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if isinstance(got.value, actors.Cancel):
            return
        if got.source is proc.inbox:
            event = got.value.payload
            with open(out, "a") as f:
                slot = event.scheduled_for and event.scheduled_for.isoformat()
                f.write(f"{event.job_id} {slot} {event.trigger}\\n")
"""


def write_app(folder: Path, *extra: str, out: Path | None = None) -> Path:
    """An app whose service 'agent' appends each cron event to ``out``, plus ``extra`` entries."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.py").write_text(AGENT)
    entries = [
        "{name: agent, kind: process, source: file://agent.py}",
        f"{{name: agent-svc, kind: service, process: agent, input: [{str(out)!r}], "
        "lifecycle: {auto_start: true}}",
        *extra,
    ]
    lines = ['version: "1.0"', "namespace: app", "entries:", *(f"  - {e}" for e in entries)]
    (folder / "_index.yaml").write_text("\n".join(lines) + "\n")
    return folder


class TestEntryKind:
    def test_cron_entry_is_a_service_that_requires_its_targets(self, tmp_path: Path) -> None:
        """A cron.durable entry becomes an auto-started, readiness-reporting service spec."""
        app = write_app(
            tmp_path / "app",
            "{name: cron, kind: cron.durable, store: data, tz: Europe/Berlin, "
            "lifecycle: {requires: [agent-svc]}}",
            out=tmp_path / "out",
        )
        plan = registry.load_app(app)
        spec = {s.name: s for s in plan.services}["app:cron"]
        assert (spec.auto_start, spec.ready, spec.requires) == (True, True, ("app:agent-svc",))
        assert spec.fn.keywords["data_dir"] == str(app / "data")  # type: ignore[attr-defined]
        assert spec.fn.keywords["tz"] == "Europe/Berlin"  # type: ignore[attr-defined]

    def test_retention_of_a_postgres_entry(self, tmp_path: Path) -> None:
        """``retention`` becomes the service's RunRetention; ``null`` lifts a limit."""
        app = write_app(
            tmp_path / "app",
            "{name: cron, kind: cron.durable, store: 'postgresql://h/db', "
            "retention: {keep_runs: 1000, keep_dead: null, max_age: 2160h}}",
            "{name: plain, kind: cron.durable, store: 'postgresql://h/other'}",
            out=tmp_path / "out",
        )
        specs = {s.name: s for s in registry.load_app(app).services}
        keywords = specs["app:cron"].fn.keywords  # type: ignore[attr-defined]
        assert keywords["retention"] == RunRetention(1000, None, 90 * 86400.0)
        assert "retention" not in specs["app:plain"].fn.keywords  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("fields", "needle"),
        [
            ("store: data, tz: Mars/Base", "field tz: unknown time zone 'Mars/Base'"),
            ("store: data, role: fire", "field role: expected one of all, schedule, deliver"),
            ("store: 'postgresql://x/y', role: deliver", "field role: 'deliver' reads"),
            ("store: data, trigger_dir: t", "field trigger_dir: only for role 'schedule'"),
            ("store: 'postgresql://x/y', role: schedule", "field trigger_dir: required"),
            ("store: data, poll_interval: -1s", "field poll_interval"),
            ("store: data, retention: {keep_runs: 5}", "field retention: only for a postgresql"),
            ("store: 'postgresql://x/y', retention: {keep_runs: -1}", "field retention.keep_runs"),
            ("store: 'postgresql://x/y', retention: {max_age: 0s}", "field retention.max_age"),
            ("store: 'postgresql://x/y', retention: {keep: 5}", "unknown key 'keep'"),
            ("store: data, lifecycle: {requires: [nope]}", "nope"),
            ("store: data, color: red", "color"),
            ("tz: UTC", "store"),
        ],
    )
    def test_bad_entry_names_the_field(self, tmp_path: Path, fields: str, needle: str) -> None:
        """A bad cron.durable entry is a load error naming the entry and the field."""
        app = write_app(tmp_path / "app", f"{{name: cron, kind: cron.durable, {fields}}}")
        with pytest.raises(registry.IndexFileError) as info:
            registry.load_app(app)
        assert "entry app:cron" in str(info.value)
        assert needle in str(info.value)

    async def test_actors_run_delivers_through_the_entry(self, tmp_path: Path) -> None:
        """Booted with the app, the cron service delivers a dropped trigger to its process."""
        out = tmp_path / "out"
        app = write_app(
            tmp_path / "app",
            "{name: cron, kind: cron.durable, store: data, lifecycle: {requires: [agent-svc]}}",
            out=out,
        )
        JobStore(app / "data")
        async with actors.open_node() as node:
            await registry.boot_app(node, app)
            write_trigger(app / "data" / "triggers", Trigger(target="agent", prompt="hi"))
            await trio.sleep(1)
            assert [line.split()[0] for line in out.read_text().splitlines()] == ["None"]
            assert list_pending(app / "data" / "triggers") == []


class Wall:
    def __call__(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=trio.current_time())


async def collect(proc: actors.Process, got: list[CronEvent]) -> None:
    async for msg in proc.inbox:
        got.append(msg.payload)


class TestRoles:
    async def test_schedule_fires_and_deliver_delivers(self, tmp_path: Path) -> None:
        """role=schedule only writes trigger files; role=deliver only delivers them."""
        store = JobStore(tmp_path / "data", clock=lambda: T0 - dt.timedelta(minutes=2))
        store.add("late", "* * * * *", "sink", prompt="p", catch_up="once")
        got: list[CronEvent] = []
        async with actors.open_node() as node:
            node.spawn(collect, got, name="sink")
            options = {"data_dir": store.path, "wall_clock": Wall()}
            fire = node.spawn(partial(cron_service, role="schedule", **options))
            await trio.sleep(0.1)
            assert len(list_pending(store.triggers_dir)) == 1
            await trio.sleep(60)
            assert got == []
            assert len(list_pending(store.triggers_dir)) == 2
            node.cancel(fire)
            node.spawn(partial(cron_service, role="deliver", **options))
            await trio.sleep(60)
            assert len(got) == 2
            assert list_pending(store.triggers_dir) == []
            assert store.get("late").last_fired_at == T0 + dt.timedelta(minutes=1)

    async def test_bad_role_is_a_value_error(self, tmp_path: Path) -> None:
        """An unknown role, or deliver on PostgreSQL, fails the process with a clear error."""
        async with actors.open_node() as node:
            for options, needle in (
                ({"data_dir": tmp_path, "role": "fire"}, "role must be one of all"),
                ({"data_dir": "postgresql://h/db", "role": "deliver"}, "role 'deliver'"),
                ({"data_dir": "postgresql://h/db", "role": "schedule"}, "needs trigger_dir"),
            ):
                pid = node.spawn(partial(cron_service, **options))
                exit = await node.wait_exit(pid)
                assert isinstance(exit.error, ValueError)
                assert needle in str(exit.error)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


class TestServeInput:
    @pytest.mark.parametrize(
        ("extra", "needle"),
        [
            ((), "--store 'STORE' is not a cron data folder (it has no jobs/); pass --init"),
            (("--init", "--tz", "Nowhere/Land"), "--tz: unknown time zone 'Nowhere/Land'"),
            (("--init", "--poll-interval", "0"), "--poll-interval must be in (0, 3600]"),
            (("--init", "--triggers", "t"), "--triggers is for a PostgreSQL store"),
            (("--init", "--app", "no-such-app"), "--app 'no-such-app' is not a folder"),
            (("--init", "--keep-runs", "5"), "--keep-runs, --keep-dead and --max-age are for"),
        ],
    )
    def test_bad_serve_input_exits_2(
        self,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        extra: tuple[str, ...],
        needle: str,
    ) -> None:
        """Bad serve options exit 2 with one line naming the option, before anything runs."""
        monkeypatch.chdir(tmp_path)
        code, err = run(capsys, "cron", "serve", "--store", "STORE", *extra)
        assert code == 2
        assert err == f"actors cron serve: error: {needle}" + err.split(needle, 1)[1]
        assert len(err.splitlines()) == 1

    @pytest.mark.parametrize(
        ("extra", "needle"),
        [
            (("--keep-runs", "many"), "--keep-runs must be a count of runs or 'none', got 'many'"),
            (("--keep-dead", "-1"), "--keep-dead must be a count of runs or 'none', got '-1'"),
            (("--keep-runs", "99999999999"), "--keep-runs must be a count of runs or 'none'"),
            (("--keep-runs", "9999999999"), "--keep-runs must be None or an integer in 0.."),
            (("--max-age", "0s"), "--max-age must be None or a finite number of seconds > 0"),
            (("--max-age", "soon"), "--max-age: "),
        ],
    )
    def test_bad_retention_options_exit_2(
        self,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        extra: tuple[str, ...],
        needle: str,
    ) -> None:
        monkeypatch.chdir(tmp_path)
        store = ("--store", "postgresql://h/db", "--triggers", "t", "--init")
        code, err = run(capsys, "cron", "serve", *store, *extra)
        assert code == 2
        assert err.startswith(f"actors cron serve: error: {needle}")
        assert len(err.splitlines()) == 1

    def test_retention_options_become_the_services_retention(self) -> None:
        from registry._cronserve import _retention

        def parsed(**given: str | None) -> RunRetention | None:
            options = {"keep_runs": None, "keep_dead": None, "max_age": None, **given}
            return _retention(argparse.Namespace(store="postgresql://h/db", **options))

        assert parsed() is None  # the service's default, RunRetention()
        assert parsed(keep_runs="none", max_age="48h") == RunRetention(None, 100, 172800.0)
        assert parsed(keep_dead="0", max_age="NONE") == RunRetention(200, 0, None)

    def test_postgres_without_app_needs_triggers(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without --app a PostgreSQL scheduler needs a folder to fire into."""
        code, err = run(capsys, "cron", "serve", "--store", "postgresql://h/db")
        assert code == 2
        assert "needs --triggers DIR" in err

    def test_add_refuses_a_folder_that_is_not_a_store(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """add --dir on a typo exits 2 and creates nothing; --init creates the store."""
        argv = ["--name", "x", "--cron", "* * * * *", "--target", "t", "--prompt", "p"]
        typo = tmp_path / "dtaa"
        code, err = run(capsys, "cron", "add", "--dir", str(typo), *argv)
        assert code == 2
        assert f"--dir {str(typo)!r} is not a cron data folder" in err
        assert "pass --init" in err
        assert not typo.exists()
        code, err = run(capsys, "cron", "add", "--dir", str(typo), "--init", *argv)
        assert (code, err) == (0, "")
        assert (typo / "jobs" / "x.json").is_file()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.slow
def test_serve_survives_kill_9(tmp_path: Path) -> None:
    """serve --app delivers every second; after kill -9 and a restart it goes on from the
    last fired slot, and run-now through the CLI is delivered once."""
    out = tmp_path / "out"
    app = write_app(tmp_path / "app", out=out)
    data = str(tmp_path / "data")
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    actors_cmd = [sys.executable, "-c", "from registry._cli import console; console()"]

    def actors_run(*argv: str) -> tuple[int, str]:
        """The CLI in process (the commands only touch files; serve is the real process)."""
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(list(argv))
        return code, buffer.getvalue().strip()

    for name, cron in (("tick", "* * * * * *"), ("nightly", "0 3 * * *")):
        added = actors_run("cron", "add", "--dir", data, "--init", "--name", name,
                           "--cron", cron, "--target", "agent", "--prompt", "t")  # fmt: skip
        assert added == (0, name)
    serve = [*actors_cmd, "cron", "serve", "--store", data, "--app", str(app), "--no-control"]
    first = subprocess.Popen(serve, env=env, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(_lines(out)) >= 1)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    before = len(_lines(out))
    second = subprocess.Popen(serve, env=env, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(_lines(out)) >= before + 1)
        ran = actors_run("cron", "run-now", "--dir", data, "nightly")
        assert ran[0] == 0
        _wait_for(lambda: any(line.startswith("nightly ") for line in _lines(out)))
        second.send_signal(signal.SIGINT)
        _, log = second.communicate(timeout=20)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    assert second.returncode == 0, log
    assert [line.split()[2] for line in _lines(out) if line.startswith("nightly ")] == [
        ran[1]
    ]  # run-now: delivered once
    ticks = [line for line in _lines(out) if line.startswith("tick ")]
    slots = sorted({dt.datetime.fromisoformat(line.split()[1]) for line in ticks})
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    # Every second, except at most one gap across the restart: the slots due while it was
    # down fire coalesced into the latest (a file store coalesces on-time slots).
    assert sum(1 for gap in gaps if gap != 1) <= 1, gaps
    assert "App stopped" in log


def test_serve_without_app_only_fires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve without --app fires due jobs into trigger files, delivers nothing, serves the
    control socket and stops cleanly (exit 0) on SIGINT, logging like actors run."""
    from registry import _app

    data = tmp_path / "data"
    store = JobStore(data, clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3))
    store.add("late", "* * * * *", "agent", prompt="p", catch_up="once")
    real_main = _app._main

    async def main_then_sigint(*args: object) -> int:
        async def later() -> None:
            for _ in range(500):  # up to 10 s
                if list_pending(data / "triggers"):
                    break
                await trio.sleep(0.02)
            signal.raise_signal(signal.SIGINT)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(later)
            code = await real_main(*args)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()
        return code

    monkeypatch.setattr(_app, "_main", main_then_sigint)
    code, err = run(capsys, "cron", "serve", "--store", str(data))
    assert code == 0, err
    assert "service started name=cron:serve" in err
    assert "Control socket" in err  # actors ps DATA
    assert "cron fired job=late" in err
    assert "App stopped" in err
    assert len(list_pending(data / "triggers")) == 1  # fired, not delivered (no app)
    assert store.get("late").last_fired_at is not None


EXAMPLE_APP = ROOT / "examples" / "durable_cron" / "app"


async def test_example_app_runs_the_durable_cron(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/durable_cron/app: `actors run` boots the agent and the cron on ../data, which
    delivers a job's fire and a dropped trigger to the agent."""
    app = tmp_path / "durable_cron" / "app"
    shutil.copytree(EXAMPLE_APP, app)
    added = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)  # the service's clock is real
    store = JobStore(tmp_path / "durable_cron" / "data", clock=lambda: added)
    store.add("hello", "* * * * *", "agent", prompt="hello", catch_up="once")
    plan = registry.load_app(app)
    assert [spec.name for spec in plan.services] == ["app:agent-svc", "app:cron"]
    async with actors.open_node() as node:
        await registry.boot_app(node, plan)
        write_trigger(store.triggers_dir, Trigger(target="agent", prompt="wake up"))
        await trio.sleep(1)
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == [
        "cron event job=external attempt=1 prompt=wake up",
        "cron event job=hello attempt=1 prompt=hello",
    ]


def test_serve_refuses_a_store_the_app_already_serves(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """serve --app on the store the app's own cron.durable entry runs would fire each slot
    twice: exit 2 naming the entry."""
    app = tmp_path / "durable_cron" / "app"
    shutil.copytree(EXAMPLE_APP, app)
    data = tmp_path / "durable_cron" / "data"
    JobStore(data)
    code, err = run(capsys, "cron", "serve", "--store", str(data), "--app", str(app))
    assert code == 2
    assert "entry app:cron" in err
    assert "already runs a durable cron on" in err


_FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["data", "postgresql://h/db", "1s", "-1s", "0s", "Europe/Berlin", "Mars/X"]),
    st.sampled_from(["all", "schedule", "deliver", "90 years", "../../etc"]),
    st.lists(st.text(max_size=5), max_size=2),
    st.dictionaries(st.sampled_from(["requires", "auto_start", "restart"]), st.text(max_size=5)),
    st.dictionaries(
        st.sampled_from(["keep_runs", "keep_dead", "max_age", "keep"]),
        st.none() | st.integers(-2, 10**10) | st.sampled_from(["1h", "0s", "x"]),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["store", "role", "tz", "poll_interval", "misfire_grace", "ack_timeout",
             "max_attempts", "trigger_dir", "retention", "lifecycle", "colour"]
        ),
        _FIELD_VALUES,
        max_size=6,
    )
)  # fmt: skip
def test_generated_cron_entries_load_or_name_the_entry(
    tmp_path: Path, fields: dict[str, object]
) -> None:
    """Any cron.durable entry loads as a service spec or is an IndexFileError naming the
    entry: never another exception."""
    folder = tmp_path / f"app{abs(hash(repr(fields)))}"
    folder.mkdir(exist_ok=True)
    entry = {"name": "cron", "kind": "cron.durable", **fields}
    index = {"version": "1.0", "namespace": "app", "entries": [entry]}
    (folder / "_index.yaml").write_text(json.dumps(index))  # JSON is YAML
    try:
        plan = registry.load_app(folder)
    except registry.IndexFileError as error:
        message = str(error)
        assert "entry app:cron" in message, message
        return
    [spec] = plan.services
    assert spec.name == "app:cron"
