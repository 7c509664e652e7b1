"""Stopping a ``--workers N`` group: Ctrl+C from a terminal, a second Ctrl+C, a killed parent.

Real processes. The parent runs in its own session, as a terminal's foreground job would, and
gets SIGINT the way a terminal sends it: to its whole process group (``os.killpg``). The
parent starts with SIGINT at its default disposition whatever this test process inherited.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from conftest import until

pytestmark = [pytest.mark.real_time, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EMPTY_APP = 'version: "1.0"\nnamespace: app\nentries: []\n'
SLOW_APP = """\
version: "1.0"
namespace: app
entries:
  - {name: slow, kind: process, source: file://procs.py, method: slow}
  - name: svc
    kind: service
    process: slow
    lifecycle: {auto_start: true, stop_timeout: 60s}
"""
SLOW_PROCS = '''\
import actors, trio

async def slow(proc):
    """Takes a minute to stop: only a forced stop ends it sooner."""
    proc.trap_cancel = True
    while not isinstance(await proc.events.receive(), actors.Cancel):
        pass
    await trio.sleep(60)
'''
# Reset SIGINT to its default before exec: the test must not depend on what it inherited.
DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
    " os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


class Group:
    """``actors run APP --workers 2`` in its own session; its log goes to a file."""

    def __init__(self, tmp_path: Path, app: str, procs: str | None, grace: float) -> None:
        directory = tmp_path / "app"
        directory.mkdir()
        (directory / "_index.yaml").write_text(app)
        if procs is not None:
            (directory / "procs.py").write_text(procs)
        self.log_path = tmp_path / "log.txt"
        argv = [sys.executable, "-c", DEFAULT_SIGINT, "-m", "registry._cli", "run"]
        argv += [str(directory), "--workers", "2", "--grace", str(grace), "--log-level", "INFO"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stderr=log, start_new_session=True
            )

    def log(self) -> str:
        return self.log_path.read_text()

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log()))

    async def until_logged(self, pattern: str, times: int, timeout: float = 30) -> None:
        await until(
            lambda: self.count(pattern) >= times or self.process.poll() is not None, timeout
        )
        assert self.count(pattern) >= times, self.log()

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)

    def worker_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"worker started name=w\d pid=(\d+)", self.log())]

    async def wait(self, timeout: float = 30) -> int:
        await until(lambda: self.process.poll() is not None, timeout)
        code = self.process.returncode
        assert code is not None
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in self.worker_pids():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its new parent to reap it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # not Linux: no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    state = re.search(r"^State:\s+(\S)", status, re.MULTILINE)
    return state is not None and state.group(1) not in "ZX"


async def test_ctrl_c_stops_every_node_once_and_cleanly(tmp_path: Path) -> None:
    group = Group(tmp_path, EMPTY_APP, None, grace=2)
    try:
        await group.until_logged(r"App started", 2)
        group.ctrl_c()
        code = await group.wait()
    finally:
        group.close()
    log = group.log()
    assert code == 0, log
    assert group.count(r"Shutting down +signal=SIGINT") == 1, log  # the parent
    assert group.count(r"Shutting down +signal=SIGTERM") == 2, log  # one per worker
    assert group.count(r"App stopped +clean=true") == 2, log
    assert "Forcing stop" not in log and "forced" not in log, log
    assert re.search(r"Workers stopped +clean=true", log), log


async def test_a_second_ctrl_c_forces_the_stop(tmp_path: Path) -> None:
    group = Group(tmp_path, SLOW_APP, SLOW_PROCS, grace=60)
    try:
        await group.until_logged(r"App started", 2)
        group.ctrl_c()
        await group.until_logged(r"Shutting down +signal=SIGTERM", 2)
        group.ctrl_c()
        code = await group.wait()
    finally:
        group.close()
    log = group.log()
    assert code != 0, log
    assert group.count(r"Forcing stop +signal=SIGINT") == 1, log  # the parent
    assert group.count(r"Forcing stop +signal=SIGTERM") == 2, log  # each worker, once
    assert group.count(r"App stopped +clean=false +forced=true") == 2, log
    assert re.search(r"Workers stopped +clean=false", log), log


async def test_no_worker_outlives_a_killed_parent(tmp_path: Path) -> None:
    group = Group(tmp_path, EMPTY_APP, None, grace=1)
    try:
        await group.until_logged(r"App started", 2)
        workers = group.worker_pids()
        assert len(workers) == 2 and all(_alive(pid) for pid in workers), group.log()
        group.process.kill()
        group.process.wait()
        with trio.fail_after(5):
            await until(lambda: not any(_alive(pid) for pid in workers), timeout=5)
    finally:
        group.close()
    log = group.log()
    assert group.count(r"Shutting down +reason=parent-gone") == 2, log
    assert group.count(r"App stopped +clean=true") == 2, log
