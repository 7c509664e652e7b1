"""The echo_service example: a relay spawns a monitored worker per message; stats; Ctrl+C."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import pytest
import trio

import actors
import programs
import registry

APP = programs.EXAMPLES / "echo_service"


def relay_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.relay"]


async def test_one_worker_per_message_and_stats(caplog: pytest.LogCaptureFixture) -> None:
    """Each echo gets its own worker, which answers the sender; a bad payload is a failed
    worker; the relay logs its counts every 5 s and on stop."""
    caplog.set_level(logging.INFO)
    answers: list[actors.Message] = []

    async def client(proc: actors.Process) -> None:
        for text in ("hello world", "again"):
            proc.send("relay", "echo", text)
            answers.append(await proc.inbox.receive())
        proc.send("relay", "echo", {"not": "text"})  # the worker crashes on it

    async with actors.open_node() as node:
        await registry.boot_app(node, APP)
        await node.exec(client)
        await trio.sleep(5.5)
        stats = [x for x in relay_lines(caplog) if x.startswith("Relay stats")]
        assert stats == [
            "Relay stats        messages=3 completed=2 failed=1 active=0",
        ]
        assert node.processes(host="app:processes") == [node.lookup("relay")]
    assert [a.payload["text"] for a in answers] == ["HELLO WORLD", "AGAIN"]
    workers = [a.payload["worker"] for a in answers]
    assert len(set(workers)) == 2 and all(w.startswith("{app:processes|") for w in workers)
    assert [str(a.sender) for a in answers] == workers  # straight from the worker
    assert relay_lines(caplog)[-1] == (
        "Relay stopping     messages=3 completed=2 failed=1 active=0"
    )


@pytest.mark.slow
def test_actors_run_x_with_piped_input() -> None:
    """Two lines on stdin: two answers from two workers, then Goodbye at end of input; exit 0."""
    done = programs.run_program(APP, stdin="hello world\n\nactors is great\n")
    assert programs.clean_exit(done), done.stderr
    assert done.stdout.splitlines()[3:] == [
        "  HELLO WORLD",
        "  from worker: {app:processes|0x00004}",
        "",
        "  ACTORS IS GREAT",
        "  from worker: {app:processes|0x00005}",
        "",
        "Goodbye!",
    ]
    assert "Relay stopping     messages=2 completed=2 failed=0 active=0" in done.stderr


@pytest.mark.slow
def test_ctrl_c_while_waiting_for_input() -> None:
    """SIGINT while the client waits on stdin: Cancelled ends it after Goodbye; exit 0."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(programs.ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry._cli", "run", str(APP), "-x", "app:cli"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=programs.ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == "Echo Client\n"
        while "Program started" not in (line := proc.stderr.readline()):
            assert line, "the program did not start"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.rstrip().endswith("Goodbye!")
    assert "Interrupted        signal=SIGINT" in err and "Traceback" not in err
    assert err.rstrip().endswith("App stopped        clean=true status=0")
