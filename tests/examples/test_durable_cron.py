"""End to end: the durable_cron example as a subprocess, with an external trigger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "durable_cron" / "main.py"


class Lines:
    """Collect a subprocess's output lines in a thread, and wait for one."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._proc = proc
        assert proc.stdout is not None
        stdout = proc.stdout
        self._thread = threading.Thread(
            target=lambda: self.lines.extend(line.rstrip("\n") for line in stdout), daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Wait for the output to end and close the pipe."""
        self._thread.join(timeout=10)
        assert self._proc.stdout is not None
        self._proc.stdout.close()

    def wait_for(self, needle: str, timeout: float, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(needle in line for line in list(self.lines)) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} x{count} not seen within {timeout}s; got {self.lines}")


def _start(data: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), "--dir", str(data), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.slow
class TestDurableCron:
    def test_heartbeat_oneshot_and_external_trigger(self, tmp_path: Path) -> None:
        """The agent logs heartbeats, the oneshot once, and a trigger dropped from the shell."""
        data = tmp_path / "data"
        proc = _start(data, "--heartbeat-cron", "* * * * * *", "--oneshot-cron", "* * * * * *")
        out = Lines(proc)
        try:
            out.wait_for("running", timeout=20)
            out.wait_for("waiting for cron events (next fires, UTC: heartbeat at ", timeout=10)
            out.wait_for("cron event job=heartbeat", timeout=10, count=2)
            out.wait_for("cron event job=hello-once", timeout=10)
            subprocess.run(  # what the printed instructions say, through a real shell
                f"""printf '{{"target":"agent","prompt":"hi"}}' > {data}/triggers/x.json""",
                shell=True,
                check=True,
            )
            out.wait_for("cron event job=external attempt=1 prompt=hi", timeout=10)
            (data / "HEARTBEAT.md").write_text("")  # heartbeats stop while it is empty
            time.sleep(0.5)
            quiet_from = len(out.lines)
            time.sleep(2)
            assert not any("job=heartbeat" in line for line in out.lines[quiet_from:])
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=15) == 0
            out.wait_for("stopped", timeout=5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
        lines = out.lines
        assert 'printf \'{"target":"agent","prompt":"hi"}\' > ' in "\n".join(lines)
        beats = [line for line in lines if "job=heartbeat" in line]
        assert (
            beats[0] == "cron event job=heartbeat attempt=1 prompt=heartbeat --- - check the inbox"
        )
        assert sum("job=hello-once" in line for line in lines) == 1
        jobs = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "registry._cli",
                    "cron",
                    "list",
                    "--dir",
                    str(data),
                    "--json",
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout
        )
        assert [job["id"] for job in jobs] == ["heartbeat"]  # the oneshot job was deleted

    def test_seconds_stops_by_itself_and_keeps_the_jobs(self, tmp_path: Path) -> None:
        """--seconds stops the program with exit code 0; a second run reuses the jobs."""
        data = tmp_path / "data"
        # The oneshot job must not fire during the test: the default "* * * * *" fires
        # whenever a run straddles a minute boundary on the wall clock. Pin it to a
        # minute two hours away instead.
        later = datetime.now(UTC) + timedelta(hours=2)  # the service reads cron in UTC
        for _ in range(2):
            proc = _start(
                data, "--seconds", "0.5", "--oneshot-cron", f"{later.minute} {later.hour} * * *"
            )
            out = Lines(proc)
            assert proc.wait(timeout=20) == 0
            out.close()
            assert out.lines[-1] == "stopped"
        assert sorted(p.name for p in (data / "jobs").glob("*.json")) == [
            "heartbeat.json",
            "hello-once.json",
        ]
