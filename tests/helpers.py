"""Small shared test helpers (process functions and collectors)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import trio

import actors


async def idle(proc: actors.Process) -> None:
    """Wait for a Cancel, then return (a well-behaved process)."""
    while True:
        event = await proc.events.receive()
        if isinstance(event, actors.Cancel):
            return


async def forever(proc: actors.Process) -> None:
    """Ignore everything; only terminate stops it (it traps cancels and never reads them)."""
    proc.trap_cancel = True
    await trio.sleep_forever()


async def crash(proc: actors.Process, message: str = "boom") -> None:
    """Fail at once."""
    raise RuntimeError(message)


async def returns(proc: actors.Process, value: Any) -> Any:
    """Return ``value`` at once."""
    return value


async def echo(proc: actors.Process) -> None:
    """Reply to every call with its payload; return on topic 'stop'."""
    async for msg in proc.inbox:
        if msg.topic == "stop":
            return
        if msg.reply_to is not None:
            proc.reply(msg, msg.payload)


async def collect(proc: actors.Process, sink: list[Any], count: int) -> None:
    """Append ``count`` inbox messages to ``sink`` and return."""
    for _ in range(count):
        sink.append(await proc.inbox.receive())


def run_app_until(
    app: object,
    until: Callable[[list[str]], bool],
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, list[str]]:
    """Run ``actors run APP`` in a subprocess until ``until(lines)``, then SIGINT it.

    Returns:
        tuple[int, list[str]]: The exit code and every output line (stdout and stderr).
    """
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry._cli", "run", str(app), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=root,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(root)},
    )
    lines: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(
        target=lambda: lines.extend(line.rstrip("\n") for line in stdout), daemon=True
    )
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not until(list(lines)):
            assert time.monotonic() < deadline, lines
            assert proc.poll() is None, lines
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        stdout.close()
    return code, lines


def walk_tasks(task: trio.lowlevel.Task | None = None) -> Iterator[trio.lowlevel.Task]:
    """Yield ``task`` (default: the root task) and every task below it."""
    if task is None:
        task = trio.lowlevel.current_root_task()
        assert task is not None
    yield task
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            yield from walk_tasks(child)


def count_tasks(task: trio.lowlevel.Task | None = None) -> int:
    """Count ``task`` (default: the root task) and every task below it."""
    return sum(1 for _ in walk_tasks(task))


def run_app_cli_virtual(
    monkeypatch: Any, args: Any, *, signals_at: tuple[float, ...] = ()
) -> tuple[int, str]:
    """Run ``actors run`` (``registry._app.run_app_cli``) in process on virtual time, raising
    SIGINT at the given times; return the exit code and what it logged."""
    import io

    import trio.testing

    from registry import _app

    name = "exec_main" if getattr(args, "exec", None) is not None else "_main"
    real_main = getattr(_app, name)

    async def main(*main_args: Any) -> int:
        async def later() -> None:
            for at in signals_at:
                await trio.sleep_until(at)
                signal.raise_signal(signal.SIGINT)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(later)
            code: int = await real_main(*main_args)
            nursery.cancel_scope.cancel()
        return code

    monkeypatch.setattr(_app, name, main)
    out = io.StringIO()
    code = _app.run_app_cli(args, stderr=out, clock=trio.testing.MockClock(autojump_threshold=0))
    return code, out.getvalue()
