"""Tests for ``actors run``: exit codes, error paragraphs and the stop sequence."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import helpers
from registry import _app

Write = Callable[..., Path]
ROOT = Path(__file__).resolve().parents[2]

GOOD_JOB = """
import actors

async def main(proc, name="job"):
    log = actors.get_logger("app.test")
    log.info("Started", name=name)
    while not isinstance(await proc.events.receive(), actors.Cancel):
        pass
    log.info("Stopped", name=name)


async def stubborn(proc):
    import trio
    proc.trap_cancel = True  # a Cancel only queues an event it never reads
    await trio.sleep_forever()


async def crash(proc):
    raise RuntimeError("no database")
"""


def header(*entries: str) -> str:
    lines = ['version: "1.0"', "namespace: app", "entries:"]
    lines.extend(f"  - {entry}" for entry in entries)
    return "\n".join(lines) + "\n"


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    folder: Path | str,
    *,
    signals_at: tuple[float, ...] = (),
    grace: float | None = None,
    log_level: str = "INFO",
) -> tuple[int, str]:
    """Run ``actors run`` in process on virtual time, raising SIGINT at the given times."""
    args = argparse.Namespace(dir=str(folder), grace=grace, log_level=log_level)
    return helpers.run_app_cli_virtual(monkeypatch, args, signals_at=signals_at)


class TestBadInput:
    """A bad app is one error paragraph naming the file and entry, and exit code 2."""

    def check(self, monkeypatch: pytest.MonkeyPatch, folder: Path, *needles: str) -> str:
        code, out = run_cli(monkeypatch, folder)
        assert code == 2
        assert "Traceback" not in out
        assert out.startswith(f"actors run: cannot load the app in {folder}:\n")
        for needle in needles:
            assert needle in out
        return out

    def test_malformed_yaml(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """Broken YAML names the file and line."""
        index = write("app/_index.yaml", 'version: "1.0"\nnamespace: app\nentries: [\n  {name: x\n')
        self.check(monkeypatch, index.parent, f"{index}:", "YAML")

    def test_unknown_kind(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """An unknown kind names the entry and lists the known kinds."""
        index = write("app/_index.yaml", header("{name: x, kind: process.magic}"))
        self.check(monkeypatch, index.parent, f"{index}:4, entry app:x", "process.magic")

    def test_lua_kind(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """A Wippy Lua kind points at the Python kind."""
        index = write("app/_index.yaml", header("{name: x, kind: process.lua, source: x.lua}"))
        self.check(monkeypatch, index.parent, "entry app:x", "use kind 'process'")

    def test_bad_import_path(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """A module that cannot be imported names the entry and the module."""
        index = write(
            "app/_index.yaml",
            header(
                "{name: p, kind: process, source: 'no_such_pkg_xyz.jobs:main'}",
                "{name: s, kind: service, process: p, lifecycle: {auto_start: true}}",
            ),
        )
        self.check(
            monkeypatch, index.parent, f"{index}, entry app:p, field source", "no_such_pkg_xyz"
        )

    def test_missing_function(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """A method missing from its file names the entry, the file and the method."""
        write("app/src/jobs.py", GOOD_JOB)
        index = write(
            "app/src/_index.yaml",
            header("{name: p, kind: process, source: file://jobs.py, method: heartbeat}"),
        )
        self.check(
            monkeypatch,
            index.parent.parent,
            f"{index}, entry app:p",
            "file://jobs.py has no attribute 'heartbeat'",
        )

    def test_missing_source_file(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """A file:// source that does not exist is reported at load."""
        index = write("app/_index.yaml", header("{name: p, kind: process, source: file://no.py}"))
        self.check(monkeypatch, index.parent, "entry app:p", "no.py")

    def test_bad_duration(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """A duration that does not parse names the entry and the field."""
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                "{name: p, kind: process, source: file://jobs.py}",
                "{name: s, kind: service, process: p, lifecycle: {stop_timeout: 10 seconds}}",
            ),
        )
        self.check(monkeypatch, index.parent, "entry app:s, field lifecycle.stop_timeout")

    def test_missing_env_variable(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """${env:X} with X unset and no default names the variable, entry and field."""
        monkeypatch.delenv("ACTORS_TEST_UNSET_VAR", raising=False)
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                "{name: p, kind: process, source: file://jobs.py}",
                "{name: s, kind: service, process: p, input: ['${env:ACTORS_TEST_UNSET_VAR}']}",
            ),
        )
        self.check(
            monkeypatch,
            index.parent,
            "entry app:s, field input",
            "variable ACTORS_TEST_UNSET_VAR is not set and has no default",
        )

    def test_sync_process(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """A process that is not async is refused before anything starts."""
        write("app/jobs.py", "def main(proc):\n    pass\n")
        index = write("app/_index.yaml", header("{name: p, kind: process, source: file://jobs.py}"))
        self.check(monkeypatch, index.parent, "entry app:p", "is not an async function")

    def test_several_problems(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """Every problem is listed, one line each."""
        index = write(
            "app/_index.yaml",
            header("{name: a, kind: nope}", "{name: b, kind: service, process: missing}"),
        )
        out = self.check(monkeypatch, index.parent, "problems in index files:")
        assert "entry app:a" in out
        assert "entry app:b" in out

    def test_missing_dir(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """A folder that does not exist is a clear error."""
        self.check(monkeypatch, tmp_path / "nope", "is not a directory")

    def test_no_index(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """A folder without _index.yaml says so."""
        self.check(monkeypatch, tmp_path, "no _index.yaml found")

    def test_bad_options(self, tmp_path: Path) -> None:
        """A bad --log-level or --grace is exit 2 with a message."""
        for options, needle in (
            ({"log_level": "LOUD", "grace": None}, "unknown --log-level 'LOUD'"),
            ({"log_level": "INFO", "grace": -1.0}, "--grace must be"),
        ):
            out = io.StringIO()
            code = _app.run_app_cli(argparse.Namespace(dir=str(tmp_path), **options), stderr=out)
            assert code == 2
            assert needle in out.getvalue()


class TestStop:
    """A signal stops the app gracefully; the exit code says whether it stopped cleanly."""

    def test_clean_stop(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """SIGINT stops services in reverse dependency order and exits 0."""
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                "{name: p, kind: process, source: file://jobs.py}",
                "{name: a, kind: service, process: p, input: [a], lifecycle: {auto_start: true}}",
                "{name: b, kind: service, process: p, input: [b],"
                " lifecycle: {auto_start: true, requires: [a]}}",
            ),
        )
        code, out = run_cli(monkeypatch, index.parent, signals_at=(5.0,))
        assert code == 0
        lines = [line.split() for line in out.splitlines()]
        started = [words[3] for words in lines if words[1:3] == ["service", "started"]]
        assert started == ["name=app:a", "name=app:b"]  # what it requires first
        stopped = [words[2] for words in lines if words[1] == "Stopped"]
        assert stopped == ["name=b", "name=a"]  # reverse order
        assert "INFO  Shutting down      signal=SIGINT grace=10s" in out
        assert out.splitlines()[-1] == "INFO  App stopped        clean=true"

    def test_terminated_process_is_exit_1(
        self, monkeypatch: pytest.MonkeyPatch, write: Write
    ) -> None:
        """A process still running after the grace period is terminated: exit 1."""
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                "{name: p, kind: process, source: file://jobs.py, method: stubborn}",
                "{name: s, kind: service, process: p, lifecycle: {auto_start: true}}",
            ),
        )
        code, out = run_cli(monkeypatch, index.parent, signals_at=(1.0,), grace=3.0)
        assert code == 1
        assert "grace=3s" in out
        # The service and its manager (waiting out the service's 10 s stop_timeout).
        stopped = 'clean=false terminated=2 pids="{main|0x00001} {main|0x00002}"'
        assert f"WARNING App stopped        {stopped}" in out

    def test_a_process_that_swallows_termination_is_named(
        self, monkeypatch: pytest.MonkeyPatch, write: Write
    ) -> None:
        """The processes still running after the grace period are named until they end."""
        write(
            "app/jobs.py",
            "import trio\n\n"
            "async def swallow(proc):\n"
            "    while trio.current_time() < 8.0:\n"
            "        try:\n"
            "            await trio.sleep(3600)\n"
            "        except BaseException:\n"
            "            pass\n",
        )
        index = write(
            "app/_index.yaml",
            header(
                "{name: p, kind: process, source: file://jobs.py, method: swallow}",
                "{name: s, kind: service, process: p, lifecycle: {auto_start: true}}",
            ),
        )
        code, out = run_cli(monkeypatch, index.parent, signals_at=(1.0,), grace=2.0)
        assert code == 1
        blocked = [line for line in out.splitlines() if "Exit blocked" in line]
        assert len(blocked) == 3  # at 3.1 s, then 4.1 s and 6.1 s (doubling); it ends at 8 s
        assert "Exit blocked       processes=1 pids={main|0x00002} functions=" in blocked[0]
        assert blocked[0].endswith("functions=app:p")  # the process entry's label
        assert "process does not stop pid={main|0x00002} function=" in out
        assert "await trio.sleep(3600)" in out  # the kernel's line shows where it waits
        stopped = 'clean=false terminated=1 blocked=1 pids="{main|0x00001} {main|0x00002}"'
        assert out.splitlines()[-1] == f"WARNING App stopped        {stopped}"

    def test_second_signal_forces_the_stop(
        self, monkeypatch: pytest.MonkeyPatch, write: Write
    ) -> None:
        """A second SIGINT during the shutdown stops at once: exit 1."""
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                "{name: p, kind: process, source: file://jobs.py, method: stubborn}",
                "{name: s, kind: service, process: p, lifecycle: {auto_start: true}}",
            ),
        )
        code, out = run_cli(monkeypatch, index.parent, signals_at=(1.0, 2.0))
        assert code == 1
        assert "Forcing stop       signal=SIGINT" in out
        assert out.splitlines()[-1] == "WARNING App stopped        clean=false forced=true"


class TestCritical:
    """A service that gives up stops the app (exit 1) unless it is declared optional."""

    CRASHING = (
        "{name: p, kind: process, source: file://jobs.py}",
        "{name: c, kind: process, source: file://jobs.py, method: crash}",
        "{name: a, kind: service, process: p, input: [a], lifecycle: {auto_start: true}}",
    )

    def test_give_up_stops_the_app(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """max_attempts reached: the other services stop, exit 1, the last line names it."""
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                *self.CRASHING,
                "{name: db, kind: service, process: c, lifecycle: {auto_start: true,"
                " restart: {initial_delay: 1s, jitter: 0, max_attempts: 3}}}",
            ),
        )
        code, out = run_cli(monkeypatch, index.parent, signals_at=(3600.0,))
        assert code == 1
        assert "service gave up name=app:db attempts=3" in out
        assert (
            "ERROR Critical service gave up error=\"critical service 'app:db' gave up after 3 "
            "attempts: RuntimeError('no database')\""
        ) in out
        assert "Stopped            name=a" in out  # the other service stopped gracefully
        assert out.splitlines()[-1] == "ERROR App stopped        clean=false service=app:db"

    def test_give_up_during_boot(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """A ready service that never starts gives up while the app boots: exit 1 too."""
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                *self.CRASHING,
                "{name: db, kind: service, process: c, lifecycle: {auto_start: true,"
                " restart: {max_attempts: 1}}}",
            ),
        )
        code, out = run_cli(monkeypatch, index.parent, signals_at=(3600.0,))
        assert code == 1
        assert out.splitlines()[-1] == "ERROR App stopped        clean=false service=app:db"

    def test_optional_service_does_not_stop_the_app(
        self, monkeypatch: pytest.MonkeyPatch, write: Write
    ) -> None:
        """critical: false: it stays failed, the app runs on and stops cleanly on SIGINT."""
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                *self.CRASHING,
                "{name: db, kind: service, process: c, lifecycle: {auto_start: true,"
                " critical: false, restart: {max_attempts: 2, initial_delay: 1s}}}",
            ),
        )
        code, out = run_cli(monkeypatch, index.parent, signals_at=(100.0,))
        assert code == 0
        assert "gave up" in out
        assert "Critical service gave up" not in out
        assert out.splitlines()[-1] == "INFO  App stopped        clean=true"

    def test_critical_must_be_a_bool(self, monkeypatch: pytest.MonkeyPatch, write: Write) -> None:
        """A bad critical value is a load error naming the entry and field: exit 2."""
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                *self.CRASHING[:1],
                "{name: s, kind: service, process: p, lifecycle: {critical: maybe}}",
            ),
        )
        code, out = run_cli(monkeypatch, index.parent)
        assert code == 2
        assert "entry app:s, field lifecycle.critical" in out


@pytest.mark.slow
class TestSubprocess:
    """The installed command line reports a bad app with exit code 2 and no traceback."""

    def test_bad_app_exit_2(self, write: Write) -> None:
        """python -m registry._cli run on a bad app prints the paragraph and exits 2."""
        index = write("app/_index.yaml", header("{name: x, kind: function.lua}"))
        done = subprocess.run(
            [sys.executable, "-m", "registry._cli", "run", str(index.parent)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert f"{index}:4, entry app:x" in done.stderr

    def test_bad_metrics_port_before_anything_starts(self, write: Write) -> None:
        """--metrics-port 99999 is one line and exit 2; the app is not even loaded."""
        index = write("app/_index.yaml", header("{name: x, kind: function.lua}"))
        done = _actors("run", str(index.parent), "--metrics-port", "99999")
        assert done.returncode == 2
        assert done.stderr == (
            "actors run: --metrics-port must be a TCP port from 0 to 65535, got 99999\n"
        )

    def test_critical_service_gives_up(self, write: Write) -> None:
        """A real `actors run`: the crashing service gives up, the app stops by itself, exit 1."""
        write("app/jobs.py", GOOD_JOB)
        index = write(
            "app/_index.yaml",
            header(
                *TestCritical.CRASHING,
                "{name: db, kind: service, process: c, lifecycle: {auto_start: true,"
                " restart: {initial_delay: 10ms, jitter: 0, max_attempts: 2}}}",
            ),
        )
        done = _actors("run", str(index.parent), "--no-control")
        assert done.returncode == 1
        assert done.stderr.splitlines()[-1] == (
            "ERROR App stopped        clean=false service=app:db"
        )


def _actors(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry._cli", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
