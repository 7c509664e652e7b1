"""Tests for ``actors run DIR -x ENTRY``: the program's exit status, signals, bad entries."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import actors
import helpers

Write = Callable[..., Path]

PROGRAMS = '''
import actors
import trio

log = actors.get_logger("app.test")


async def returns(proc, value=None):
    return value


async def none(proc):
    print("hello from", proc.pid)


async def seven(proc):
    return 7


async def big(proc):
    return 300


async def flag(proc):
    return True


async def summary(proc):
    return {"ok": True}


async def crash(proc):
    raise RuntimeError("boom")


async def waits(proc):
    """Wait for a Cancel on events (works under both trap_cancel defaults)."""
    while not isinstance(await proc.events.receive(), actors.Cancel):
        pass
    log.info("Program cancelled")
    return 0


async def sleeps(proc):
    """Let actors.Cancelled end it (trap_cancel False), or see the Cancel (True)."""
    proc.trap_cancel = False
    await proc.sleep(3600)


async def stubborn(proc):
    while True:
        try:
            await trio.sleep(3600)
        except actors.Cancelled:
            pass


async def short(proc):
    await proc.sleep(1.0)
    return 0


async def slow_stop(proc):
    while not isinstance(await proc.events.receive(), actors.Cancel):
        pass
    await proc.sleep(2.0)
    log.info("Slow service stopped")


async def service(proc, name):
    log.info("Service up", name=name)
    while not isinstance(await proc.events.receive(), actors.Cancel):
        pass
    log.info("Service down", name=name)
'''


def index(*entries: str) -> str:
    lines = ['version: "1.0"', "namespace: app", "entries:"]
    lines.extend(f"  - {entry}" for entry in entries)
    return "\n".join(lines) + "\n"


def program(name: str) -> str:
    return f"{{name: {name}, kind: process, source: file://programs.py, method: {name}}}"


@pytest.fixture
def app(write: Write) -> Path:
    write("app/programs.py", PROGRAMS)
    names = ["none", "seven", "big", "flag", "summary", "crash", "waits", "sleeps", "stubborn"]
    names.append("short")
    entries = [program(name) for name in names]
    entries.append(
        "{name: svc_process, kind: process, source: file://programs.py, method: service}"
    )
    entries.append(
        "{name: svc, kind: service, process: svc_process, input: [svc],"
        " lifecycle: {auto_start: true}}"
    )
    entries.append("{name: data, kind: registry.entry, meta: {x: 1}}")
    entries.append(program("slow_stop"))
    entries.append("{name: slow, kind: service, process: slow_stop, lifecycle: {auto_start: true}}")
    return write("app/_index.yaml", index(*entries)).parent


def run_exec(
    monkeypatch: pytest.MonkeyPatch,
    folder: Path,
    entry: str,
    *,
    signals_at: tuple[float, ...] = (),
    grace: float | None = None,
    **options: Any,
) -> tuple[int, str]:
    """Run ``actors run FOLDER -x ENTRY`` in process on virtual time, SIGINT at the given times."""
    args = argparse.Namespace(dir=str(folder), grace=grace, log_level="INFO", exec=entry, **options)
    return helpers.run_app_cli_virtual(monkeypatch, args, signals_at=signals_at)


class TestStatus:
    """The program's return value (or error) is the exit status; the app stops after it."""

    @pytest.mark.parametrize(
        ("entry", "status"),
        [
            ("app:none", 0),
            ("app:seven", 7),
            ("app:summary", 0),
            ("app:big", 1),
            ("app:flag", 1),
            ("app:crash", 1),
        ],
    )
    def test_status(
        self, monkeypatch: pytest.MonkeyPatch, app: Path, entry: str, status: int
    ) -> None:
        """None/non-int -> 0, an int in 0..255 -> itself, out of range/bool/raise -> 1."""
        code, out = run_exec(monkeypatch, app, entry)
        assert code == status, out
        assert f"Program exited     entry={entry} status={status}" in out
        assert out.splitlines()[-1] == f"INFO  App stopped        clean=true status={status}"
        assert "Service down       name=svc" in out  # services are stopped after the program
        assert "Service up         name=svc" in out.split("Program started")[0]  # and up before
        if entry in ("app:big", "app:flag"):
            assert "Exit status out of range" in out

    def test_output_goes_to_stdout(
        self, monkeypatch: pytest.MonkeyPatch, app: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """What the program prints is on stdout; the command's log lines on stderr."""
        code, out = run_exec(monkeypatch, app, "app:none")
        assert code == 0
        assert capsys.readouterr().out == "hello from {main|0x00004}\n"
        assert "Program started    entry=app:none pid={main|0x00004}" in out

    def test_crash_is_logged_with_its_error(
        self, monkeypatch: pytest.MonkeyPatch, app: Path
    ) -> None:
        """A program that raises: the kernel logs the crash; exit 1."""
        code, out = run_exec(monkeypatch, app, "app:crash")
        assert code == 1
        assert "RuntimeError: boom" in out


class TestSignals:
    """Ctrl+C cancels the program; a well-behaved one stops with its own status."""

    def test_ctrl_c_cancels_a_program_on_events(
        self, monkeypatch: pytest.MonkeyPatch, app: Path
    ) -> None:
        code, out = run_exec(monkeypatch, app, "app:waits", signals_at=(5.0,))
        assert code == 0, out
        assert "Interrupted        signal=SIGINT pid={main|0x00004}" in out
        assert "Program cancelled" in out
        assert out.splitlines()[-1] == "INFO  App stopped        clean=true status=0"

    def test_ctrl_c_ends_a_program_by_cancelled(
        self, monkeypatch: pytest.MonkeyPatch, app: Path
    ) -> None:
        """actors.Cancelled that the program lets through ends it like a return: exit 0."""
        code, out = run_exec(monkeypatch, app, "app:sleeps", signals_at=(5.0,))
        assert code == 0, out
        assert "Program exited     entry=app:sleeps status=0" in out

    def test_a_program_that_ignores_cancel_is_terminated_at_shutdown(
        self, monkeypatch: pytest.MonkeyPatch, app: Path
    ) -> None:
        """A second signal stops everything at once: exit 1, forced."""
        code, out = run_exec(monkeypatch, app, "app:stubborn", signals_at=(1.0, 2.0))
        assert code == 1
        assert "Forcing stop       signal=SIGINT" in out
        assert out.splitlines()[-1] == "WARNING App stopped        clean=false forced=true"

    def test_a_signal_after_the_program_ended_does_not_force(
        self, monkeypatch: pytest.MonkeyPatch, app: Path
    ) -> None:
        """The program ends at 1 s; SIGINT at 1.5 s, while a service takes 2 s to stop: clean."""
        code, out = run_exec(monkeypatch, app, "app:short", signals_at=(1.5,))
        assert code == 0, out
        assert "Interrupted        signal=SIGINT pid={main|0x00004}" in out
        assert "Slow service stopped" in out
        assert "Forcing stop" not in out
        assert out.splitlines()[-1] == "INFO  App stopped        clean=true status=0"


class TestBadEntry:
    """-x must name a process entry; it is checked before anything runs (exit 2)."""

    def test_unknown_entry(self, monkeypatch: pytest.MonkeyPatch, app: Path) -> None:
        code, out = run_exec(monkeypatch, app, "app:nope")
        assert code == 2
        assert out.startswith(f"actors run: cannot run the app in {app}:\n")
        assert "-x app:nope: no entry with this id in the app (process entries: app:big," in out
        assert "Traceback" not in out and "App loaded" not in out

    def test_not_a_process(self, monkeypatch: pytest.MonkeyPatch, app: Path) -> None:
        code, out = run_exec(monkeypatch, app, "app:svc")
        assert code == 2
        assert "-x app:svc: the entry is a service, not a process" in out
        code, out = run_exec(monkeypatch, app, "app:data")
        assert "-x app:data: the entry is a registry.entry, not a process" in out

    def test_not_with_workers(self, monkeypatch: pytest.MonkeyPatch, app: Path) -> None:
        code, out = run_exec(monkeypatch, app, "app:none", workers=2)
        assert code == 2
        assert "actors run: -x runs one program on one node; drop --workers/--cluster" in out


def test_exit_status_rules() -> None:
    """exit_status in isolation (what the command returns for each Exit)."""
    from registry._exec import exit_status

    pid = actors.PID("main", 1)
    normal = actors.ExitReason.NORMAL
    assert exit_status(actors.Exit(pid, normal, None)) == 0
    assert exit_status(actors.Exit(pid, normal, 0)) == 0
    assert exit_status(actors.Exit(pid, normal, 255)) == 255
    assert exit_status(actors.Exit(pid, normal, -1)) == 1
    assert exit_status(actors.Exit(pid, normal, "done")) == 0
    assert exit_status(actors.Exit(pid, actors.ExitReason.ERROR, None, ValueError())) == 1
