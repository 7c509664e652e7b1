"""``actors.run``: Ctrl+C and SIGTERM stop the node like ``actors run`` (no traceback, exit 0/1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio
import trio.testing

import actors

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import trio
import actors

async def polite(proc):
    while not isinstance(await proc.events.receive(), actors.Cancel):
        pass

async def echo_loop(proc):  # the README's echo: it never reads its events
    async for msg in proc.inbox:
        proc.reply(msg, msg.payload)

async def stubborn(proc):
    proc.trap_cancel = True  # a Cancel only queues an event it never reads
    await trio.sleep_forever()

async def main(proc, child_kind):
    proc.spawn({child})
    print("ready", flush=True)
    await polite(proc)
    return "main returned"

actors.configure_logging()
result = actors.run(main, "x", shutdown_grace={grace})
print("after run:", result)
"""


def start(tmp_path: Path, *, child: str = "polite", grace: float = 10.0) -> subprocess.Popen[str]:
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(SCRIPT).format(child=child, grace=grace))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


@pytest.mark.slow
@pytest.mark.real_time
class TestSubprocess:
    def test_ctrl_c_stops_cleanly_with_exit_0(self, tmp_path: Path) -> None:
        """SIGINT: 'Shutting down', every process returns after its Cancel, exit 0, no traceback."""
        proc = start(tmp_path)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err
        assert "Shutting down      signal=SIGINT grace=10s" in err
        assert err.rstrip().endswith("Stopped            clean=true")
        assert "after run" not in out  # run raised SystemExit: the program ends there

    def test_an_inbox_loop_stops_at_once_exit_0(self, tmp_path: Path) -> None:
        """The README's ``async for msg in proc.inbox`` process ends on its Cancel: no grace."""
        proc = start(tmp_path, child="echo_loop", grace=60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)  # the grace is 60 s: a wait for it would time out
        assert proc.returncode == 0, err
        assert err.rstrip().endswith("Stopped            clean=true")

    def test_sigterm_is_the_same(self, tmp_path: Path) -> None:
        """SIGTERM stops the node the same way."""
        proc = start(tmp_path)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "signal=SIGTERM" in err and "Traceback" not in err

    def test_a_process_ignoring_cancel_is_terminated_exit_1(self, tmp_path: Path) -> None:
        """After the grace period the rest is terminated and named; exit 1."""
        proc = start(tmp_path, child="stubborn", grace=0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 1, err
        assert "Stopped            clean=false terminated=1 pids={main|0x00002}" in err
        assert "Traceback" not in err

    def test_second_signal_forces_the_stop(self, tmp_path: Path) -> None:
        """A second Ctrl+C during the grace period stops everything at once; exit 1."""
        proc = start(tmp_path, child="stubborn", grace=60)
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        while "Shutting down" not in proc.stderr.readline():
            pass
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 1
        assert "Forcing stop       signal=SIGINT" in err and "forced=true" in err
        assert "Traceback" not in err


class TestInProcess:
    def test_a_signal_raises_system_exit_after_a_graceful_stop(self) -> None:
        """Under virtual time: the signal Cancels every process; run raises SystemExit(0)."""
        stopped: list[str] = []

        async def child(proc: actors.Process) -> None:
            while not isinstance(await proc.events.receive(), actors.Cancel):
                pass
            stopped.append("child")

        async def main(proc: actors.Process) -> None:
            proc.spawn(child)
            await trio.sleep(1)
            signal.raise_signal(signal.SIGINT)
            while not isinstance(await proc.events.receive(), actors.Cancel):
                pass
            stopped.append("main")

        clock = trio.testing.MockClock(autojump_threshold=0)
        with pytest.raises(SystemExit) as caught:
            actors.run(main, clock=clock)
        assert caught.value.code == 0
        assert sorted(stopped) == ["child", "main"]

    def test_without_a_signal_run_returns_as_before(self) -> None:
        """No signal: main's result (or error) as before."""

        async def main(proc: actors.Process, x: int) -> int:
            return x * 2

        assert actors.run(main, 21) == 42

        async def boom(proc: actors.Process) -> None:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            actors.run(boom)

    def test_handle_signals_false_leaves_ctrl_c_to_trio(self) -> None:
        """``handle_signals=False``: SIGINT is trio's KeyboardInterrupt."""

        async def main(proc: actors.Process) -> None:
            signal.raise_signal(signal.SIGINT)
            await trio.sleep(1)

        clock = trio.testing.MockClock(autojump_threshold=0)
        with pytest.raises(BaseException) as caught:
            actors.run(main, handle_signals=False, clock=clock)
        error = caught.value
        if isinstance(error, BaseExceptionGroup):
            assert error.subgroup(KeyboardInterrupt) is not None
        else:
            assert isinstance(error, KeyboardInterrupt)
