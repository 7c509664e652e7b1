"""``actors ps``, ``top``, ``info`` and the metrics port against a real ``actors run`` of the
crontab example (a subprocess with its own ``XDG_RUNTIME_DIR``)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from registry._cli import main

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "crontab"
HAS_PROMETHEUS = importlib.util.find_spec("prometheus_client") is not None

pytestmark = pytest.mark.slow


@attrs.define
class App:
    proc: subprocess.Popen[bytes]
    runtime: Path
    socket: Path
    log: Path

    def stderr(self) -> str:
        return self.log.read_text()


def _start(runtime: Path, *extra: str) -> App:
    runtime.mkdir(mode=0o700, exist_ok=True)
    log = runtime / "app.log"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "registry._cli", "run", str(APP), "--grace", "2", *extra]
    with log.open("w") as err:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=err, stderr=err)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = sorted((runtime / "actors").glob("*.sock"))
        if found and "Control socket" in log.read_text():
            return App(proc, runtime, found[0], log)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the app did not open its control socket:\n{log.read_text()}")


def _stop(app: App) -> None:
    if app.proc.poll() is None:
        app.proc.send_signal(signal.SIGINT)
        app.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    extra = ("--metrics-port", "0") if HAS_PROMETHEUS else ()
    running = _start(tmp_path_factory.mktemp("xdg") / "run", *extra)
    yield running
    _stop(running)
    assert not running.socket.exists(), "the socket is removed when the app stops"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_socket_is_private(app: App) -> None:
    assert oct(app.socket.stat().st_mode & 0o777) == "0o600"
    assert oct(app.socket.parent.stat().st_mode & 0o777) == "0o700"


def test_ps(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "ps", "--socket", str(app.socket))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "PID",
        "NAME",
        "HOST",
        "FUNCTION",
        "STATE",
        "MQ",
        "EV",
        "IN",
        "RS",
        "AGE",
        "CPU",
    ]
    body = "\n".join(lines[1:])
    for job in ("heartbeat", "cleanup", "report", "backup"):
        assert f"app:{job}_process" in body  # the function column: the process entry's label
    assert "manage" in body and "waiting" in body
    code, out, _ = _cli(capsys, "ps", "--socket", str(app.socket), "--sort", "mq", "--limit", "2")
    assert code == 0 and "(2 of 5 processes shown" in out


def test_ps_finds_the_app_by_folder(
    app: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(app.runtime))
    code, out, _ = _cli(capsys, "ps", "--app", str(APP))
    assert code == 0 and "heartbeat" in out
    code, out, _ = _cli(capsys, "ps")  # the only node running
    assert code == 0 and "heartbeat" in out


def test_top_refreshes_with_cpu(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(
        capsys, "top", "--socket", str(app.socket), "--iterations", "2", "--interval", "0.2"
    )
    assert code == 0
    assert out.count("cpu sampling on") == 2
    assert "ms" in out.split("CPU", 1)[1]


def test_info(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "info", "--socket", str(app.socket), "0x2")
    assert code == 0
    assert "links      {main|0x00001}" in out
    assert "queues" in out and "stack (outermost first)" in out
    assert "examples/crontab/src/jobs.py" in out
    code, _, err = _cli(capsys, "info", "--socket", str(app.socket), "nobody")
    assert code == 1 and "no live process 'nobody'" in err


def test_the_console_command(app: App) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "registry._cli", "ps", "--app", str(APP), "--limit", "1"],
        cwd=ROOT,
        env={**os.environ, "XDG_RUNTIME_DIR": str(app.runtime), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "(1 of 5 processes shown" in done.stdout


@pytest.mark.skipif(not HAS_PROMETHEUS, reason="the metrics extra is not installed")
def test_metrics(app: App) -> None:
    url = next(
        line.split("url=")[1].strip() for line in app.stderr().splitlines() if "url=" in line
    )
    assert url.startswith("http://127.0.0.1:")
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    assert 'actors_processes{host="app:processes"} 4.0' in text
    for name in (
        "actors_mailbox_messages",
        "actors_tick_lateness_seconds_count",
        "actors_gc_pause_seconds_count",
        "actors_process_crashes_total",
    ):
        assert name in text


def test_no_node_and_stale_socket(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "ps", "--app", str(tmp_path))
    assert code == 1 and "no node running for the app in" in err
    app = _start(tmp_path / "xdg")
    app.proc.kill()  # SIGKILL: the socket file stays behind
    app.proc.wait(timeout=30)
    code, _, err = _cli(capsys, "ps", "--socket", str(app.socket))
    assert code == 1 and "stale control socket" in err
    again = _start(tmp_path / "xdg")  # replaces the stale socket
    try:
        code, out, _ = _cli(capsys, "ps", "--socket", str(again.socket))
        assert code == 0 and "heartbeat" in out
    finally:
        _stop(again)


def test_rows_of_the_services(app: App) -> None:
    from actors._control._client import Connection
    from actors._control._protocol import PsReply, PsRequest

    with Connection(app.socket) as conn:
        reply = conn.ask(PsRequest(limit=10))
    assert isinstance(reply, PsReply) and reply.total == 5
    manager, *services = reply.rows
    assert manager.function.endswith("manage") and manager.restarts is None
    assert [s.restarts for s in services] == [0, 0, 0, 0]
    assert all(s.host == "app:processes" and s.state.startswith("waiting") for s in services)
