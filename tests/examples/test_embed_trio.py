"""End to end: the embed_trio example as a subprocess, stopped with SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "embed_trio" / "main.py"


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _read_until(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen within {timeout}s; got {lines}")


@pytest.mark.slow
class TestEmbedTrio:
    def test_ctrl_c_shuts_down_cleanly(self) -> None:
        """SIGINT stops the program's tasks, then the node, and the exit code is 0."""
        proc = _start()
        try:
            lines = _read_until(proc, "heartbeat n=1", timeout=20)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=20)
        finally:
            proc.kill()
        lines += out.splitlines()
        assert proc.returncode == 0, lines
        assert lines[0] == "program starting"
        assert any(line.startswith("request i=0 worker={main|0x0000") for line in lines)
        assert "signal SIGINT: shutting down" in lines
        stopping = [line for line in lines if line.startswith("counter stopping total=")]
        assert len(stopping) == 1 and int(stopping[0].split("=")[1]) > 0
        assert lines[-2:] == ["node stopped processes=0", "program exited cleanly"]

    def test_seconds_option_and_bad_argument(self) -> None:
        """--seconds stops it by itself; a bad value is a usage error (exit 2)."""
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--seconds", "1"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines()[-1] == "program exited cleanly"
        bad = subprocess.run(
            [sys.executable, str(SCRIPT), "--seconds", "-1"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            check=False,
        )
        assert bad.returncode == 2
        assert "--seconds must be > 0, got -1.0" in bad.stderr
