"""``actors ps``, ``top``, ``info`` and the metrics port against a real ``actors run`` of the
crontab example, and ``ps --all`` against a ``--workers 2`` group of mass_spawn (subprocesses
with their own runtime folder, ``ACTORS_RUNTIME_DIR``; one of each per module)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
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


def _start(runtime: Path, *extra: str, app: Path = APP, sockets: int = 1) -> App:
    log = runtime.parent / f"{runtime.name}.log"
    env = {**os.environ, "ACTORS_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(ROOT)}
    env["NUM_WORKERS"] = "30"  # mass_spawn: 30 linked workers (info truncates at 20)
    command = [sys.executable, "-m", "registry._cli", "run", str(app), "--grace", "2", *extra]
    with log.open("w") as err:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=err, stderr=err)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = sorted(runtime.glob("*.sock")) if runtime.is_dir() else []
        if len(found) >= sockets and log.read_text().count("Control socket") >= sockets:
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
def base() -> Iterator[Path]:
    """A short folder (socket paths are limited to about 100 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="actors-c"))
    yield folder
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if not path.is_dir() else path.rmdir()
    folder.rmdir()


@pytest.fixture(scope="module")
def app(base: Path) -> Iterator[App]:
    extra = ("--metrics-port", "0") if HAS_PROMETHEUS else ()
    running = _start(base / "rt", *extra)
    yield running
    _stop(running)
    assert not running.socket.exists(), "the socket is removed when the app stops"
    assert not list(running.runtime.glob("*.json")), "and so is its registration"


@pytest.fixture(scope="module")
def group(base: Path) -> Iterator[App]:
    """``actors run examples/mass_spawn --workers 2`` in its own runtime folder."""
    running = _start(
        base / "group", "--workers", "2", app=ROOT / "examples" / "mass_spawn", sockets=2
    )
    yield running
    _stop(running)


SHOP_INDEX = """\
version: "1.0"
namespace: shop
entries:
  - {name: counter_process, kind: process, source: file://shop.py, method: counter}
  - {name: counter, kind: service, process: counter_process, lifecycle: {auto_start: true}}
"""
SHOP = """\
import actors


class Counter(actors.Server):
    def __init__(self):
        self.count = 0
        self.history = list(range(500))
        self._secret = "kept"

    async def handle_call(self, msg):
        if msg.topic == "add":
            self.count += msg.payload["n"]
            return {"count": self.count}
        if msg.topic == "slow":
            import trio
            await trio.sleep(1)
            return "late"
        raise ValueError(f"unknown topic {msg.topic}")

    async def handle_cast(self, msg):
        if msg.topic == "set":
            self.count = msg.payload

    def format_state(self):
        state = super().format_state()
        del state["_secret"]
        return state


async def counter(proc):
    await actors.serve(proc, Counter)
"""


@pytest.fixture(scope="module")
def shop(base: Path) -> Iterator[App]:
    """A small app with a Server (``shop:counter``): send, call, state, trace."""
    folder = base / "shop"
    folder.mkdir()
    (folder / "_index.yaml").write_text(SHOP_INDEX)
    (folder / "shop.py").write_text(SHOP)
    running = _start(base / "shop-rt", app=folder)
    yield running
    _stop(running)


@pytest.fixture(autouse=True)
def runtime(app: App, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI looks in the shared app's runtime folder."""
    monkeypatch.setenv("ACTORS_RUNTIME_DIR", str(app.runtime))
    return app.runtime


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
        "PARENT",
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
    rows = [line.split() for line in lines[1:]]
    # Named as declared: the service's entry id and its process entry, never a private name.
    assert rows[0][:2] == ["{main|0x00001}", "-"] and "service manager" in lines[1]
    for job, row in zip(("backup", "cleanup", "heartbeat", "report"), rows[1:], strict=True):
        assert row[1:5] == ["{main|0x00001}", f"app:{job}", "app:processes", f"app:{job}_process"]
        assert row[5:7] == ["waiting", "events"]
    assert "actors._" not in out
    code, out, _ = _cli(capsys, "ps", "--socket", str(app.socket), "--sort", "mq", "--limit", "2")
    assert code == 0 and "(2 of 5 processes shown" in out


def test_ps_finds_the_app_by_folder(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "ps", "--app", str(APP))
    assert code == 0 and "heartbeat" in out
    code, out, _ = _cli(capsys, "ps")  # the only node running
    assert code == 0 and "heartbeat" in out and not out.startswith("NODE")
    code, out, _ = _cli(capsys, "ps", "--all")
    assert code == 0 and out.split()[:2] == ["NODE", "PID"] and "crontab" in out


def test_ps_of_a_worker_group(
    group: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every node of --workers 2 has its endpoint; ps lists both, --node picks one."""
    monkeypatch.setenv("ACTORS_RUNTIME_DIR", str(group.runtime))
    code, out, err = _cli(capsys, "ps", "--all", "--limit", "3")
    assert code == 0, err
    nodes = {line.split()[0] for line in out.splitlines()[1:] if not line.startswith("(")}
    assert nodes == {"w1", "w2"}
    code, out, err = _cli(capsys, "ps")  # two nodes and no choice: all, and how to pick
    assert code == 0 and "2 nodes are running (pick one with --node NAME" in err
    code, out, _ = _cli(capsys, "ps", "--node", "w2", "--limit", "3")
    assert code == 0 and out.startswith("PID") and "(3 of " in out
    code, out, _ = _cli(capsys, "ps", "--all", "--node", "w2", "--limit", "3")
    assert {line.split()[0] for line in out.splitlines()[1:4]} == {"w2"}
    code, _, err = _cli(capsys, "info", "1")
    assert code == 1 and "2 nodes are running; pick one with --node NAME" in err
    code, out, _ = _cli(capsys, "ps", "--node", "w1", "--limit", "5")
    rows = [line.split() for line in out.splitlines()[1:4]]
    assert rows[2][1] == "{w1@app:processes|0x00002}"  # a worker's parent: the spawner
    assert rows[2][4:7] == ["app:worker", "waiting", "ticker"]  # not "waiting worker"
    code, out, _ = _cli(capsys, "tree", "--node", "w2")
    assert code == 0 and out.splitlines()[0] == "node w2  processes 17"
    assert out.splitlines()[2].startswith("  app:spawner  [service]  {w2@app:processes|0x00002}")


def test_info_truncates_long_lists(
    group: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spawner links to its 15 workers and the manager: the first 5 and the count."""
    monkeypatch.setenv("ACTORS_RUNTIME_DIR", str(group.runtime))
    code, out, _ = _cli(capsys, "info", "--node", "w1", "app:spawner", "--limit", "5")
    links = next(line for line in out.splitlines() if line.startswith("links"))
    assert code == 0 and links.startswith("links      16 (first 5: {") and links.endswith(", ...)")


def test_top_refreshes_with_cpu(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(
        capsys, "top", "--socket", str(app.socket), "--iterations", "2", "--interval", "0.2"
    )
    assert code == 0
    assert out.count("cpu sampling on") == 2
    assert "ms" in out.split("CPU", 1)[1]


def test_tree(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "tree")
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "service manager  [services]  {main|0x00001}  running"
    assert lines[2] == "  app:backup  [service]  {app:processes|0x00002}  running  restarts 0"
    assert len(lines) == 6
    code, out, _ = _cli(capsys, "tree", "--limit", "1")
    assert out.splitlines()[-1] == "(3 more children not shown; --limit N for more)"
    code, out, _ = _cli(capsys, "tree", "--json")
    tree = json.loads(out)
    assert tree["roots"][0]["kind"] == "services"
    assert [c["name"] for c in tree["roots"][0]["children"]] == [
        "app:backup", "app:cleanup", "app:heartbeat", "app:report"
    ]  # fmt: skip


def test_json(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "ps", "--json")
    reply = json.loads(out)
    assert code == 0 and reply["total"] == 5 and reply["rows"][1]["name"] == "app:backup"
    code, out, _ = _cli(capsys, "info", "--json", "app:report")
    assert json.loads(out)["row"]["function"] == "app:report_process"


def test_info(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "info", "--socket", str(app.socket), "0x2")
    assert code == 0
    assert "links      {main|0x00001}" in out
    assert "queues" in out and "stack (outermost first)" in out
    assert "examples/crontab/src/jobs.py" in out
    code, _, err = _cli(capsys, "info", "--socket", str(app.socket), "nobody")
    assert code == 1 and "no live process 'nobody'" in err


def test_names_groups_pools(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    """The services' names, held by the processes ``ps`` shows; no groups, no pools."""
    code, out, _ = _cli(capsys, "names")
    rows = [line.split() for line in out.splitlines()]
    assert code == 0 and rows[0] == ["NAME", "SCOPE", "NODE", "PID", "FUNCTION"]
    assert rows[1][:3] == ["app:backup", "local", "-"] and rows[1][4] == "app:backup_process"
    assert len(rows) == 5
    code, out, _ = _cli(capsys, "groups")
    assert (code, out) == (0, "(no process groups)\n")
    code, out, _ = _cli(capsys, "pools", "--json")
    assert code == 0 and json.loads(out) == {"type": "pools", "node": "", "rows": [], "total": 0}


def test_the_console_command(app: App) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "registry._cli", "ps", "--app", str(APP), "--limit", "1"],
        cwd=ROOT,
        env={**os.environ, "ACTORS_RUNTIME_DIR": str(app.runtime), "PYTHONPATH": str(ROOT)},
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


def test_no_node_and_stale_socket(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "ps", "--app", str(base))
    assert code == 1 and "no node running for the app in" in err
    app = _start(base / "stale")
    app.proc.kill()  # SIGKILL: the socket file stays behind
    app.proc.wait(timeout=30)
    code, _, err = _cli(capsys, "ps", "--socket", str(app.socket))
    assert code == 1 and "stale control socket" in err
    again = _start(base / "stale")  # replaces the stale socket
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
    assert manager.function == "service manager" and manager.restarts is None
    assert [s.restarts for s in services] == [0, 0, 0, 0]
    assert all(s.host == "app:processes" and s.state.startswith("waiting") for s in services)


def test_send_call_state(
    shop: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACTORS_RUNTIME_DIR", str(shop.runtime))
    code, out, err = _cli(capsys, "call", "shop:counter", "add", '{"n": 2}')
    assert (code, out) == (0, '{"count":2}\n'), err
    code, out, _ = _cli(capsys, "send", "shop:counter", "set", "40")
    assert (code, out) == (0, "sent 'set' to {main|0x00002}\n")
    code, out, _ = _cli(capsys, "call", "shop:counter", "add", '{"n": 2}')
    assert out == '{"count":42}\n'
    code, out, _ = _cli(capsys, "state", "shop:counter", "--size", "200")
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("server shop.Counter")
    assert lines[1] == "  count = 42" and lines[2].startswith("  history = [0, 1, 2,")
    assert "_secret" not in out and lines[-1].endswith("more characters; --size N for more)")
    code, out, _ = _cli(capsys, "state", "--json", "shop:counter")
    assert json.loads(out)["state"][0] == ["count", "42"]


def test_poke_errors(
    shop: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each mistake is one line and exit 1: bad JSON, no process, a failed or slow call."""
    monkeypatch.setenv("ACTORS_RUNTIME_DIR", str(shop.runtime))
    for argv, needle in (
        (("send", "shop:counter", "set", "{nope"), "the payload is not valid JSON"),
        (("send", "nobody", "set"), "no live process 'nobody'"),
        (("state", "1"), "is not a Server"),
        (("call", "shop:counter", "slow", "--timeout", "0.2"), "no reply from shop:counter"),
        (("call", "shop:counter", "what"), "ValueError('unknown topic what')"),  # it crashes
    ):
        code, out, err = _cli(capsys, *argv)
        assert (code, out) == (1, ""), argv
        assert needle in err and len(err.splitlines()) == 1, err


def test_trace(
    shop: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live trace of the counter sees the calls made while it runs, then ends by count."""
    monkeypatch.setenv("ACTORS_RUNTIME_DIR", str(shop.runtime))
    deadline = time.monotonic() + 30
    while _cli(capsys, "call", "shop:counter", "add", '{"n": 0}')[0] != 0:
        assert time.monotonic() < deadline, "the counter did not come back"
        time.sleep(0.1)  # restarted by its service after test_poke_errors crashed it
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = ["trace", "shop:counter", "--topic", "add", "--count", "2", "--seconds", "30"]
    tracing = subprocess.Popen(
        [sys.executable, "-m", "registry._cli", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        lines: list[str] = []
        while time.monotonic() < deadline and tracing.poll() is None:
            _cli(capsys, "send", "shop:counter", "set", "0")  # not shown: --topic add
            _cli(capsys, "call", "shop:counter", "add", '{"n": 1}')
            time.sleep(0.2)
        out, err = tracing.communicate(timeout=30)
        lines = out.splitlines()
    finally:
        tracing.kill()
    assert tracing.returncode == 0, err
    assert "<- add" in lines[0] and "{'n': 1}" in lines[0]
    assert "-> reply add" in lines[1]
    assert lines[-1] == "-- trace ended (count): 2 events"
    code, out, _ = _cli(capsys, "ps", "--limit", "5")
    assert code == 0 and "shop:counter" in out  # the node is fine afterwards
