"""The hello_world example: one process prints and returns 0, the exit status of ``-x``."""

from __future__ import annotations

import re

import pytest

import programs

APP = programs.EXAMPLES / "hello_world"

TEXT = """\
Hello from actors!
My PID: {pid}

This is a process: the basic unit of computation.
Every piece of code in an actors app runs inside a process.
Each process has its own mailbox and is reached only by messages.
"""


async def test_prints_and_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    """In process: the greeting with its own PID; it returns 0."""
    assert await programs.exec_program(APP, "app:hello") == 0
    out = capsys.readouterr().out
    pid = re.search(r"My PID: (\S+)", out)
    assert pid is not None and re.fullmatch(r"\{main\|0x0000\d\}", pid.group(1))
    assert out == TEXT.format(pid=pid.group(1))


@pytest.mark.slow
def test_actors_run_x() -> None:
    """``actors run examples/hello_world -x app:hello``: the text on stdout, exit 0."""
    done = programs.run_program(APP, "app:hello")
    assert programs.clean_exit(done), done.stderr
    assert done.stdout == TEXT.format(pid="{main|0x00002}")
    assert "Program started    entry=app:hello pid={main|0x00002}" in done.stderr
