"""``actors run DIR --workers N``: real worker processes on real Unix sockets.

The test process joins the workers' node group as node ``t0`` (through
``--socket-dir``), talks to processes on the workers, kills one worker with
SIGKILL (its monitors fire ``noconnection``, the parent restarts it) and stops
the parent with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import popen, until

import actors
from actors.cluster import NodeGroup, UnixTransport, open_node_group

pytestmark = [pytest.mark.real_time, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
APP = """\
version: "1.0"
namespace: app
entries:
  - {name: echo, kind: process, source: "distapp:echo"}
  - {name: os_pid, kind: process, source: "distapp:os_pid"}
"""


async def _wait_for(group: NodeGroup, *peers: str, timeout: float = 15) -> None:
    await until(lambda: set(peers) <= set(group.nodes()), timeout=timeout)


async def test_workers_talk_fail_and_are_restarted(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "_index.yaml").write_text(APP)
    sockets = tmp_path / "s"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), str(ROOT)]))
    argv = [sys.executable, "-m", "registry._cli", "run", str(app), "--workers", "2"]
    argv += ["--socket-dir", str(sockets), "--grace", "1", "--log-level", "WARNING"]
    parent = popen(argv, env)
    try:
        transport = UnixTransport(sockets, "t0", heartbeat=0.2)  # the workers' timeout
        async with (
            actors.open_node(name="t0", shutdown_grace=0.1) as node,
            open_node_group(node, transport) as group,
        ):
            await _wait_for(group, "w1", "w2")
            # send / call / spawn across OS processes, and worker to worker
            # peers spawn the app's process entries by id, nothing else
            echo1 = await group.spawn("w1", "app:echo")
            echo2 = await group.spawn("w2", "app:echo", name="echo")
            with pytest.raises(actors.cluster.RemoteError, match="does not export 'distapp:echo'"):
                await group.spawn("w1", "distapp:echo")
            assert await node.call(echo1, "q", [1, echo2]) == [1, echo2]
            assert await node.call("echo@w2", "q", "by name") == "by name"

            async def relay(proc: actors.Process) -> Any:
                proc.send(echo1, "to", (proc.pid, "from w1"))
                return (await proc.inbox.receive()).payload

            assert await node.exec(relay) == "from w1"
            pids = await group.spawn("w1", "app:os_pid")
            victim = await node.call(pids, "q")
            assert victim != parent.pid

            # kill -9 the worker: monitor and link fire noconnection, then it is back
            seen: list[Any] = []

            async def watcher(proc: actors.Process) -> None:
                proc.trap_links = True
                group.monitor_nodes(proc)
                proc.monitor(echo1)
                proc.link(pids)
                while len(seen) < 4:
                    seen.append(await proc.events.receive())

            node.spawn(watcher)
            await trio.sleep(0.2)
            killed = trio.current_time()
            os.kill(victim, signal.SIGKILL)
            await until(lambda: len(seen) >= 4)
            by_type = {type(e).__name__: e for e in seen}
            assert by_type["Exit"].reason is actors.ExitReason.NOCONNECTION
            assert by_type["LinkDown"].reason is actors.ExitReason.NOCONNECTION
            assert by_type["NodeDown"].node == "w1"
            assert by_type["NodeUp"].node == "w1"
            assert by_type["Exit"].at - killed < 1.0
            fresh = await group.spawn("w1", "app:echo")
            assert fresh.seq > 1 << 24  # a new incarnation: old PIDs never name it
            assert await node.call(fresh, "q", "again") == "again"
            with pytest.raises(actors.ProcessNotFound):
                await node.call(echo1, "q")
    finally:
        parent.send_signal(signal.SIGTERM)
        try:
            code = parent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            parent.kill()
            raise
        assert parent.stderr is not None
        log = parent.stderr.read()
        parent.stderr.close()
    assert code == 0, log
    assert "Worker exited" in log and "node=w1" in log
    assert not sockets.joinpath("w1.sock").exists()


def test_bad_worker_options_are_named(tmp_path: Path) -> None:
    from registry._cli import main

    (tmp_path / "_index.yaml").write_text(APP)
    for argv, text in [
        (["--workers", "-1"], "--workers"),
        (["--socket-dir", str(tmp_path)], "--socket-dir goes with --workers"),
        (["--node", "w1"], "--node needs --cluster"),
        (["--cluster", "redis://127.0.0.1:1"], "--cluster needs --node"),
        (["--cluster", "http://x", "--node", "a"], "not a Redis URL"),
        (["--cluster", "redis://x", "--node", "a", "--workers", "2"], "drop --workers"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "registry._cli", "run", str(tmp_path), *argv],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
        assert result.returncode == 2
        assert text in result.stderr
    del main
