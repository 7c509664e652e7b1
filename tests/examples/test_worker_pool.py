"""The worker_pool example: scaling 1..5 by queue length, a manual trigger, merged state."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import trio
import trio.lowlevel

import actors

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "worker_pool" / "main.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("worker_pool_example", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestWorkerPoolVirtual:
    async def test_pool_scales_and_drains_the_queue(self) -> None:
        """In virtual time: every job is processed, spawns reach the max and come back down."""
        example = _load()
        async with actors.open_node() as node:
            summary = await node.exec(example.pool, 6.0)
            assert node.processes() == []
        assert summary["processed"] == summary["produced"] > 100
        assert summary["left"] == 0
        assert summary["peak_spawns"] == 5
        assert summary["triggered"] == 1 and summary["errored"] == 0
        assert summary["ticks"] == summary["submitted"] + 1  # the trigger's tick is merged too


@pytest.mark.slow
@pytest.mark.real_time
class TestWorkerPoolProcess:
    def test_runs_end_to_end(self) -> None:
        """As a program: key=value log lines for scaling and the trigger, a clean summary."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--seconds", "4"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
        )  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "scale up" in output and "scale down" in output
        assert "manual trigger" in output
        summary = next(line for line in output.splitlines() if "pool done" in line)
        fields = dict(part.split("=", 1) for part in summary.split()[3:])
        assert fields["processed"] == fields["produced"] and fields["left"] == "0"

    def test_ctrl_c_stops_it_cleanly(self) -> None:
        """SIGINT mid-run: the pool, producer, runner and workers return on Cancel; exit 0."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--seconds", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        assert proc.stderr is not None
        lines = []
        while "scale up" not in (line := proc.stderr.readline()):
            assert line, "".join(lines)
            lines.append(line)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "process crashed" not in err
        assert "pool interrupted" in err and err.rstrip().endswith("Stopped            clean=true")


class TestWorkerPoolCancel:
    async def test_cancel_stops_the_pool_without_errors(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Node shutdown mid-run (what Ctrl+C does): nobody crashes, nobody is terminated."""
        example = _load()
        exits: list[actors.Exit] = []

        async def watch(proc: actors.Process, pid: actors.PID) -> None:
            proc.monitor(pid)
            while not isinstance(event := await proc.events.receive(), actors.Exit):
                pass
            exits.append(event)

        async with actors.open_node() as node:
            pid = node.spawn(example.pool, 60.0)
            await trio.sleep(2.0)
            node.spawn(watch, pid)
            await trio.lowlevel.checkpoint()
        assert [(e.error, e.result) for e in exits] == [(None, {"interrupted": True})]
        bad = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert bad == []
